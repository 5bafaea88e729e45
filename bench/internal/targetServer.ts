/**
 * The benchmark's target: a plain `node:http` server with keep-alive, in its own process so
 * it never shares an event loop with a contender. `GET /small` answers a 128-byte body at
 * once; `GET /delay?ms=N` answers the same body after N ms; `GET /bytes/N` answers N bytes
 * (at most 1 MiB) at once. Sends `{ port }` to its parent
 * once listening; exits when the parent disconnects.
 */
import * as http from "node:http"

const body = Buffer.alloc(128, "v")

const sized = new Map<number, Buffer>()

const server = http.createServer((req, res) => {
  const url = req.url ?? "/"
  if (url.startsWith("/bytes/")) {
    const n = Math.min(1 << 20, Math.max(0, Number.parseInt(url.slice(7), 10) || 0))
    let buffer = sized.get(n)
    if (buffer === undefined) sized.set(n, buffer = Buffer.alloc(n, "v"))
    res.writeHead(200, { "content-type": "text/plain", "content-length": buffer.length })
    res.end(buffer)
    return
  }
  const respond = () => {
    res.writeHead(200, { "content-type": "text/plain", "content-length": body.length })
    res.end(body)
  }
  if (url.startsWith("/delay")) {
    const ms = Number(new URL(url, "http://x").searchParams.get("ms") ?? "50")
    setTimeout(respond, ms)
    return
  }
  respond()
})
server.keepAliveTimeout = 60_000
server.headersTimeout = 65_000
server.maxRequestsPerSocket = 0

server.listen(0, "127.0.0.1", () => {
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("no TCP address")
  process.send?.({ port: address.port })
})

process.on("disconnect", () => {
  server.closeAllConnections()
  server.close()
  process.exit(0)
})
