/**
 * HTTP/2, opt-in (`http2: true`), against a local Node `http2.createSecureServer` with the
 * test CA: negotiated by ALPN, bodies decoded and scoped, and a deadline or an interruption
 * mid-body resets the stream (the server sees it closed before it finished).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as http2 from "node:http2"
import type { AddressInfo } from "node:net"
import * as zlib from "node:zlib"
import * as Client from "../src/Client.js"
import { testCertificate } from "./support/FaultServer.js"

interface H2Server {
  readonly url: string
  /** HTTP version of each request, by path. */
  readonly versions: Map<string, string>
  /** Paths whose stream the client reset (RST_STREAM CANCEL) before the response ended. */
  readonly resetBeforeEnd: Array<string>
  waitReset(path: string): Promise<void>
}

const h2Server = Effect.acquireRelease(
  Effect.async<{ server: http2.Http2SecureServer; h2: H2Server; sessions: Set<http2.ServerHttp2Session> }>((resume) => {
    const versions = new Map<string, string>()
    const resetBeforeEnd: Array<string> = []
    const waiters: Array<() => void> = []
    const sessions = new Set<http2.ServerHttp2Session>()
    const server = http2.createSecureServer({ cert: testCertificate.cert, key: testCertificate.key, allowHTTP1: true }, (req, res) => {
      const path = req.url
      versions.set(path, req.httpVersion)
      if (path === "/json") {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({ over: req.httpVersion }))
      } else if (path === "/gzip") {
        res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" })
        res.end(zlib.gzipSync(JSON.stringify({ decoded: true })))
      } else if (path.startsWith("/stall")) {
        // Half a body, then nothing: only the client's deadline or interruption ends it.
        res.writeHead(200, { "content-type": "text/plain", "content-length": "100000" })
        res.write("x".repeat(50_000))
        res.stream.on("close", () => {
          // Closed by the client's RST_STREAM (CANCEL): the response was never ended here.
          if (res.stream.rstCode === http2.constants.NGHTTP2_CANCEL) {
            resetBeforeEnd.push(path)
            for (const wake of waiters.splice(0)) wake()
          }
        })
      } else {
        res.writeHead(404).end()
      }
    })
    server.on("session", (session) => {
      sessions.add(session)
      session.on("close", () => sessions.delete(session))
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      const h2: H2Server = {
        url: `https://127.0.0.1:${port}`,
        versions,
        resetBeforeEnd,
        waitReset: (path) =>
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`stream ${path} was never reset`)), 5_000)
            const check = () => {
              if (resetBeforeEnd.includes(path)) {
                clearTimeout(timer)
                resolve()
              } else waiters.push(check)
            }
            check()
          })
      }
      resume(Effect.succeed({ server, h2, sessions }))
    })
  }),
  ({ server, sessions }) => Effect.promise(() => new Promise<void>((resolve) => {
    for (const session of sessions) session.destroy()
    server.close(() => resolve())
  }))
).pipe(Effect.map(({ h2 }) => h2))

const h2Layer = (options: Client.ClientOptions = {}) => Client.layer({ http2: true, ca: testCertificate.cert, retry: { maxAttempts: 1 }, ...options })

describe("Client: HTTP/2 (opt-in, ALPN)", () => {
  it.scoped("http2: true negotiates h2; without it the same server is spoken to over HTTP/1.1", () =>
    Effect.gen(function*() {
      const server = yield* h2Server
      expect(yield* Effect.provide(Client.json(`${server.url}/json`), h2Layer())).toEqual({ over: "2.0" })
      expect(yield* Effect.provide(Client.json(`${server.url}/json`), h2Layer({ http2: false }))).toEqual({ over: "1.1" })
      // Content decoding holds over h2 too.
      expect(yield* Effect.provide(Client.json(`${server.url}/gzip`), h2Layer())).toEqual({ decoded: true })
      expect(server.versions.get("/gzip")).toBe("2.0")
    }))

  // Live clock: the deadline fires in real time while the server holds the body back.
  it.scopedLive("a deadline hit mid-body is a typed timeout and resets the stream (the server saw it closed)", () =>
    Effect.gen(function*() {
      const server = yield* h2Server
      const error = yield* Effect.flip(Effect.provide(Client.text(`${server.url}/stall-deadline`, { deadline: "300 millis" }), h2Layer()))
      expect(error._tag).toBe("NetworkError")
      if (error._tag === "NetworkError") {
        expect(error.reason).toBe("Timeout")
        expect(error.phase).toBe("deadline")
      }
      expect(server.versions.get("/stall-deadline")).toBe("2.0")
      yield* Effect.promise(() => server.waitReset("/stall-deadline"))
      // The connection survives the reset stream: the next request on it succeeds.
      expect(yield* Effect.provide(Client.json(`${server.url}/json`), h2Layer())).toEqual({ over: "2.0" })
    }))

  it.scoped("interrupting a fiber mid-body resets its stream; the scoped body is released", () =>
    Effect.gen(function*() {
      const server = yield* h2Server
      const program = Effect.scoped(Effect.gen(function*() {
        const response = yield* Client.open(`${server.url}/stall-interrupt`)
        yield* response.text
      }))
      const fiber = yield* Effect.fork(Effect.provide(program, h2Layer()))
      while (!server.versions.has("/stall-interrupt")) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
      yield* Fiber.interrupt(fiber)
      yield* Effect.promise(() => server.waitReset("/stall-interrupt"))
      expect(server.resetBeforeEnd).toContain("/stall-interrupt")
    }))
})
