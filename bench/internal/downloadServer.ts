/**
 * The download benchmark's target: a plain node:http server in its own process, serving
 * `/file?size=N` from one repeated 1 MiB buffer (no hashing, no disk on the server side),
 * with Content-Length, a strong ETag and Range support. Prints its port as JSON on stdout.
 */
import * as http from "node:http"

const block = Buffer.alloc(1024 * 1024)
for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://x")
  const size = Number(url.searchParams.get("size") ?? "0")
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "")
  const start = range !== null ? Math.min(Number(range[1]), size) : 0
  const headers: http.OutgoingHttpHeaders = { "content-type": "application/octet-stream", etag: `"bench-${size}"`, "accept-ranges": "bytes", "content-length": size - start }
  if (range !== null) headers["content-range"] = `bytes ${start}-${size - 1}/${size}`
  res.writeHead(range !== null ? 206 : 200, headers)
  let offset = start
  const pump = (): void => {
    while (offset < size) {
      const from = offset % block.length
      const n = Math.min(block.length - from, size - offset)
      offset += n
      if (!res.write(from === 0 && n === block.length ? block : block.subarray(from, from + n))) return void res.once("drain", pump)
    }
    res.end()
  }
  pump()
})
server.keepAliveTimeout = 10_000
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`)
})
process.on("disconnect", () => process.exit(0))
process.on("SIGTERM", () => process.exit(0))
