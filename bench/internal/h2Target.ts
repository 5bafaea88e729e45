/**
 * The HTTP/2 benchmark's target: a `node:http2` secure server (the test CA's certificate)
 * that also speaks HTTP/1.1, so one origin serves both sides of the comparison. `GET /small`
 * answers 128 bytes at once. Sends `{ port }` to its parent; exits when the parent disconnects.
 */
import * as fs from "node:fs"
import * as http2 from "node:http2"

const certs = new URL("../../../test/support/certs/", import.meta.url)
const body = Buffer.alloc(128, "v")
const sessions = new Set<http2.ServerHttp2Session>()

const server = http2.createSecureServer({
  cert: fs.readFileSync(new URL("cert.pem", certs)),
  key: fs.readFileSync(new URL("key.pem", certs)),
  allowHTTP1: true,
  // A stream limit like common servers' (nginx: 128), so multiplexing is what is measured.
  settings: { maxConcurrentStreams: 128 }
}, (_req, res) => {
  res.writeHead(200, { "content-type": "text/plain", "content-length": body.length })
  res.end(body)
})
server.on("session", (session) => {
  sessions.add(session)
  session.on("close", () => sessions.delete(session))
})

server.listen(0, "127.0.0.1", () => {
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("no TCP address")
  process.send?.({ port: address.port })
})

process.on("disconnect", () => {
  for (const session of sessions) session.destroy()
  server.close()
  process.exit(0)
})
