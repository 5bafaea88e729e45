/**
 * The client against real loopback sockets: what a call returns, the typed error of each
 * failure, scoped responses and the caller's invalid requests. Deadlines, retries, redirects
 * and configuration have their own files (test/client*.test.ts); the network is real.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Duration, Effect, Exit, Option, ParseResult, Schema } from "effect"
import * as net from "node:net"
import { Agent } from "undici"
import * as UndiciTransport from "../src/internal/transport/undici.js"
import * as Client from "../src/Client.js"
import { isTransient } from "../src/Errors.js"
import { clientLayer, faultServer } from "./support/effect.js"
import { controlledDns, failure } from "./support/client.js"

describe("Client: success paths", () => {
  it.scoped("reads JSON, text and bytes", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const program = Effect.gen(function*() {
        expect(yield* Client.json(`${server.url}/json`)).toEqual({ hello: "world", n: 1 })
        expect(yield* Client.text(`${server.url}/ok`)).toBe("ok")
        expect((yield* Client.bytes(`${server.url}/ok?size=100000`)).length).toBe(100_000)
        const head = yield* Client.discard(`${server.url}/ok?size=10`)
        expect(head.status).toBe(200)
      })
      yield* Effect.provide(program, clientLayer())
    }))

  it.scoped("response headers: names in lower case, a repeated name's values joined with \", \", any name kept as data", () =>
    Effect.gen(function*() {
      // Raw bytes on a socket: a framework would normalise the very names this checks.
      const server = net.createServer((socket) => {
        socket.once("data", () =>
          socket.end(
            "HTTP/1.1 200 OK\r\nX-Dup: a\r\nx-dup: b\r\nX-DUP: c\r\nConstructor: k\r\n__proto__: p\r\n" +
              "Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
          ))
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => server.close())
      )
      const { port } = server.address() as net.AddressInfo
      const head = yield* Effect.provide(Client.discard(`http://127.0.0.1:${port}/`), clientLayer())
      expect(head.headers["x-dup"]).toBe("a, b, c")
      expect(head.headers["content-type"]).toBe("text/plain")
      expect(Object.hasOwn(head.headers, "constructor") && head.headers["constructor"]).toBe("k")
      expect(Object.hasOwn(head.headers, "__proto__") && head.headers["__proto__"]).toBe("p")
      expect(Object.getPrototypeOf(head.headers)).toBe(Object.prototype)
    }))

  it.scoped("decodes with a Schema and names the field that did not match", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const Hello = Schema.Struct({ hello: Schema.String, n: Schema.Number })
      const ok = yield* Effect.provide(Client.jsonSchema(Hello, `${server.url}/json`), clientLayer())
      expect(ok).toEqual({ hello: "world", n: 1 })
      const Wrong = Schema.Struct({ hello: Schema.Number })
      const error = yield* failure(Client.jsonSchema(Wrong, `${server.url}/json`))
      expect(error._tag).toBe("DecodeError")
      expect(error.message).toContain("hello")
      // As Schema.decodeUnknown reports it: the same ParseError and message.
      const expected = Effect.runSync(Effect.flip(Schema.decodeUnknown(Wrong, { errors: "all" })({ hello: "world", n: 1 })))
      if (error._tag !== "DecodeError") throw new Error(error._tag)
      expect(error.cause).toBeInstanceOf(ParseResult.ParseError)
      expect(error.detail).toBe(expected.message)
      const bad = yield* failure(Client.json(`${server.url}/bad-json`))
      expect(bad._tag).toBe("DecodeError")
    }))

  it.scoped("sends method, headers and body from an HttpClientRequest", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const request = HttpClientRequest.post(`${server.url}/echo`).pipe(
        HttpClientRequest.setHeader("x-trace", "t1"),
        HttpClientRequest.bodyUnsafeJson({ a: 1 })
      )
      const echoed = (yield* Effect.provide(Client.json(request), clientLayer())) as {
        method: string
        headers: Record<string, string>
        body: string
      }
      expect(echoed.method).toBe("POST")
      expect(echoed.headers["x-trace"]).toBe("t1")
      expect(echoed.headers["content-type"]).toContain("application/json")
      expect(echoed.headers["user-agent"]).toMatch(/^volley\//)
      expect(JSON.parse(echoed.body)).toEqual({ a: 1 })
    }))

  it.scoped("accept widens what counts as success", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const text = yield* Effect.provide(
        Client.text(`${server.url}/status/404?body=missing`, { accept: (s) => s === 404 }),
        clientLayer()
      )
      expect(text).toBe("missing")
    }))
})

describe("Client: typed failures", () => {
  it.scoped("a bad status is a StatusError with status, redacted URL, Retry-After and a 1 KiB snippet", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const error = yield* failure(Client.text(`${server.url}/status/503?retryAfter=7&bodySize=5000&token=s3cret`))
      expect(error._tag).toBe("StatusError")
      if (error._tag !== "StatusError") return
      expect(error.status).toBe(503)
      expect(error.retryAfter).toEqual(Option.some(Duration.seconds(7)))
      expect(error.bodySnippet.length).toBe(1024)
      expect(error.url).not.toContain("s3cret")
      expect(error.message).not.toContain("\n")
    }))

  it.scoped("a closed port is ConnectionRefused", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() =>
        new Promise<number>((resolve) => {
          const probe = net.createServer().listen(0, "127.0.0.1", () => {
            const { port } = probe.address() as net.AddressInfo
            probe.close(() => resolve(port))
          })
        })
      )
      const error = yield* failure(Client.text(`http://127.0.0.1:${port}/`))
      expect(error._tag === "NetworkError" && error.reason).toBe("ConnectionRefused")
    }))

  it.scoped("an unresolvable host is a DnsLookup error (a resolver the test controls: no real DNS, loopback only)", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const port = new URL(server.url).port
      const asked = yield* controlledDns({ "api.volley.test": "127.0.0.1" })
      const error = yield* failure(Client.text("http://volley-test.invalid/"))
      expect(error._tag === "NetworkError" && error.reason).toBe("DnsLookup")
      expect(error._tag === "NetworkError" && error.code).toBe("ENOTFOUND")
      // The same resolver answers a known name: the request goes where it says (so it was used).
      expect(yield* Effect.provide(Client.text(`http://api.volley.test:${port}/ok`), clientLayer())).toBe("ok")
      expect(asked).toEqual(["volley-test.invalid", "api.volley.test"])
    }))

  it.effect("an invalid URL fails before anything is sent", () =>
    Effect.gen(function*() {
      for (const input of ["not a url", "ftp://example.test/x", ""]) {
        const error = yield* failure(Client.text(input))
        expect(error._tag).toBe("InvalidUrlError")
      }
    }))

  it.scoped("a reset mid-body is ConnectionReset", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const error = yield* failure(Client.bytes(`${server.url}/reset?size=100000&after=1000`))
      expect(error._tag === "NetworkError" && error.reason).toBe("ConnectionReset")
    }))

  it.scoped("a body over maxBodyBytes fails without buffering it whole", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const size = 256 * 1024 * 1024
      const error = yield* failure(Client.bytes(`${server.url}/huge?size=${size}`), { maxBodyBytes: 1024 * 1024 })
      expect(error._tag).toBe("BodyTooLargeError")
      yield* Effect.promise(() => server.waitForClientAbort("/huge"))
      // The transfer stopped near the limit: a few socket buffers past 1 MiB, nowhere near 256 MiB.
      expect(server.stats.bytesSent).toBeLessThan(16 * 1024 * 1024)
      // An announced Content-Length over the limit fails before reading anything.
      const announced = yield* failure(Client.bytes(`${server.url}/huge-cl?size=${size}`), { maxBodyBytes: 1024 * 1024 })
      expect(announced._tag === "BodyTooLargeError" && announced.contentLength).toBe(size)
    }))
})

describe("Client: scoped responses", () => {
  it.scoped("open hands out a response whose unread body is released with its scope: drained if small, aborted if large", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const openAndDrop = (size: number) =>
        Effect.gen(function*() {
          for (let i = 0; i < 20; i++) {
            const status = yield* Effect.scoped(Effect.map(Client.open(`${server.url}/ok?size=${size}`), (r) => r.status))
            expect(status).toBe(200)
          }
        })
      yield* Effect.provide(openAndDrop(60_000), clientLayer())
      // <= 64 KiB unread: drained, so the connection went back to the pool and was reused.
      expect(server.stats.opened).toBeLessThanOrEqual(2)
      server.reset()
      const before = server.stats.opened
      yield* Effect.provide(openAndDrop(1_000_000), clientLayer())
      // > 64 KiB unread: aborted rather than downloaded, so no connection could be reused.
      expect(server.stats.opened - before).toBeGreaterThanOrEqual(20)
    }))

  it.scoped("a large body released unread is aborted, not drained: the server wrote far less than its size (with and without Content-Length)", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      // 48 MiB: under any drain threshold up to 1000 times the real one (64 KiB), so a raised
      // threshold would drain it (the drain budget, the idle timeout, is far longer than that takes).
      const size = 48 * 1024 * 1024
      const releaseUnread = (route: string) =>
        Effect.gen(function*() {
          const status = yield* Effect.scoped(Effect.map(Client.open(`${server.url}${route}?size=${size}`), (r) => r.status))
          expect(status).toBe(200)
          const closed = yield* Effect.promise(() => server.waitForResponseClosed(`${route}?`))
          expect(closed.finished).toBe(false)
          // What the socket buffers held when the client let go (about 4 MiB here), not the body.
          expect(closed.bytesWritten).toBeLessThan(size / 4)
        })
      // One layer around the waits: tearing the pool down would close the socket whatever release did.
      yield* Effect.provide(Effect.forEach(["/huge-cl", "/huge"], releaseUnread), clientLayer())
    }))

  it.scoped("a body can be read once", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const exit = yield* Effect.exit(
        Effect.provide(Client.withResponse(`${server.url}/ok`, (r) => Effect.zip(r.text, r.text)), clientLayer())
      )
      expect(Exit.isFailure(exit) && Exit.causeOption(exit).pipe(Option.map(String), Option.getOrElse(() => ""))).toContain("only once")
    }))
})

describe("Client: invalid requests are the caller's errors", () => {
  /** A client over the real undici transport that counts what reaches `send`, retrying fast. */
  const countingClient = Effect.acquireRelease(
    Effect.sync(() => new Agent()),
    (agent) => Effect.promise(() => agent.destroy())
  ).pipe(Effect.map((agent) => {
    const real = UndiciTransport.make(agent, 30_000)
    const counted = { sends: 0 }
    const transport: Client.Transport = { ...real, send: (...args) => (counted.sends++, real.send(...args)) }
    const client = Client.makeWithTransport(transport, { retry: { maxAttempts: 3, baseDelay: "1 millis", jitter: false } })
    return { client, counted }
  }))

  it.scopedLive("a header value with CR, LF or NUL fails as InvalidRequestError naming the header; nothing is sent or retried", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const { client, counted } = yield* countingClient
      for (const value of ["a\r\nInjected: 1", "a\nb", "a\u0000b"]) {
        const request = HttpClientRequest.get(`${server.url}/ok`).pipe(HttpClientRequest.setHeader("x-trace", value))
        const error = yield* Effect.flip(Effect.provideService(Client.text(request), Client.Client, client))
        expect(error._tag).toBe("InvalidRequestError")
        expect(error._tag === "InvalidRequestError" && error.header).toBe("x-trace")
        expect(error.message).toContain("x-trace")
        expect(error.message).not.toContain("Injected")
        expect(isTransient(error)).toBe(false)
      }
      const badName = HttpClientRequest.get(`${server.url}/ok`).pipe(HttpClientRequest.setHeader("bad name", "v"))
      const nameError = yield* Effect.flip(Effect.provideService(Client.text(badName), Client.Client, client))
      expect(nameError._tag === "InvalidRequestError" && nameError.header).toBe("bad name")
      expect(counted.sends).toBe(0)
      expect(server.requests.length).toBe(0)
    }))

  it.scopedLive("a request undici refuses (UND_ERR_NOT_SUPPORTED / UND_ERR_INVALID_ARG) is InvalidRequestError after one attempt", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const { client, counted } = yield* countingClient
      for (const [name, value] of [["expect", "100-continue"], ["upgrade", "websocket"]] as const) {
        const request = HttpClientRequest.get(`${server.url}/ok`).pipe(HttpClientRequest.setHeader(name, value))
        const error = yield* Effect.flip(Effect.provideService(Client.text(request), Client.Client, client))
        expect(error._tag, name).toBe("InvalidRequestError")
        expect(isTransient(error)).toBe(false)
      }
      expect(counted.sends).toBe(2) // one attempt each, no retries
      expect(server.requests.length).toBe(0)
    }))
})
