/**
 * volley/HttpClient: @effect/platform's HttpClient over volley's client, against real
 * loopback sockets. Errors keep platform's shapes with volley's cause, bodies are released
 * deterministically, interruption aborts the socket, and one layer gives both interfaces
 * one pool.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClient, HttpClientError, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { Chunk, Context, Effect, Fiber, Layer, Option, Schema, Stream } from "effect"
import * as Client from "../src/Client.js"
import * as VolleyHttpClient from "../src/HttpClient.js"
import { faultServer, realDelay } from "./support/effect.js"

/** The bridge with volley's retries off, so failures surface at once. */
const bridge = (options: VolleyHttpClient.HttpClientOptions = {}) => VolleyHttpClient.layer({ retry: { maxAttempts: 1 }, ...options })

const cause = (error: HttpClientError.HttpClientError) => Option.getOrThrow(VolleyHttpClient.volleyError(error))

describe("HttpClient bridge: requests and errors", () => {
  it.scoped("a GET through HttpClient.HttpClient reads text, JSON and headers; Client shares the layer", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const program = Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const response = yield* client.get(`${server.url}/json`)
        expect(response.status).toBe(200)
        expect(response.headers["content-type"]).toContain("application/json")
        expect(yield* response.json).toEqual({ hello: "world", n: 1 })
        // Read again: the body is kept once read, as @effect/platform's clients do.
        expect(yield* response.text).toBe(`{"hello":"world","n":1}`)
        expect(yield* Client.text(`${server.url}/ok`)).toBe("ok")
        // Non-2xx is a response, not an error, as in @effect/platform.
        const missing = yield* client.get(`${server.url}/status/404`)
        expect(missing.status).toBe(404)
        expect(yield* missing.text).toBe("status 404")
      })
      yield* Effect.provide(program, bridge({ connectionsPerOrigin: 1 }))
      // One pool for both interfaces: with one connection per origin, every request reused it.
      expect(server.stats.opened).toBe(1)
    }))

  it.scoped("a refused connection is RequestError Transport with volley's NetworkError as cause", () =>
    Effect.gen(function*() {
      const error = yield* HttpClient.get("http://127.0.0.1:1/x").pipe(Effect.flip, Effect.provide(bridge()))
      expect(error._tag).toBe("RequestError")
      expect(error.reason).toBe("Transport")
      const volley = cause(error)
      expect(volley._tag).toBe("NetworkError")
      expect(volley._tag === "NetworkError" && volley.reason).toBe("ConnectionRefused")
      expect(error.message).toContain("connection refused")
    }))

  it.scoped("an invalid URL is RequestError InvalidUrl and nothing is sent", () =>
    Effect.gen(function*() {
      const error = yield* HttpClient.get("ftp://example.invalid/x").pipe(Effect.flip, Effect.provide(bridge()))
      expect(error._tag).toBe("RequestError")
      expect(error.reason).toBe("InvalidUrl")
      expect(cause(error)._tag).toBe("InvalidUrlError")
    }))

  it.scoped("a header with CR/LF is RequestError Encode with volley's InvalidRequestError: retryTransient sends it once, the server sees nothing", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      let attempts = 0
      const error = yield* Effect.flip(
        Effect.flatMap(HttpClient.HttpClient, (client) =>
          client.pipe(
            HttpClient.tapRequest(() => Effect.sync(() => attempts++)),
            HttpClient.retryTransient({ times: 4 })
          ).get(`${server.url}/ok`, { headers: { "x-injected": "a\r\nx-evil: 1" } })).pipe(Effect.provide(bridge()))
      )
      expect(error._tag === "RequestError" && error.reason).toBe("Encode")
      const volley = cause(error)
      expect(volley._tag === "InvalidRequestError" && volley.header).toBe("x-injected")
      expect(attempts).toBe(1)
      expect(server.requests.length).toBe(0)
    }))

  it.scopedLive("the deadline is on by default: a hung server is a Transport error with reason Timeout and its phase", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const error = yield* HttpClient.get(`${server.url}/hang`).pipe(Effect.flip, Effect.provide(bridge({ headersTimeout: "150 millis" })))
      expect(error._tag).toBe("RequestError")
      expect(error.reason).toBe("Transport")
      const volley = cause(error)
      expect(volley._tag === "NetworkError" && [volley.reason, volley.phase]).toEqual(["Timeout", "headers"])
      yield* Effect.promise(() => server.waitForClientAbort("/hang"))
    }))

  it.scopedLive("a body that stalls mid-read is ResponseError Decode with the idle timeout as cause, socket aborted", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const error = yield* Effect.flatMap(HttpClient.get(`${server.url}/hang-body`), (r) => r.text).pipe(
        Effect.flip,
        Effect.provide(bridge({ idleTimeout: "150 millis" }))
      )
      expect(error._tag).toBe("ResponseError")
      expect(error.reason).toBe("Decode")
      const volley = cause(error)
      expect(volley._tag === "NetworkError" && volley.phase).toBe("body")
      yield* Effect.promise(() => server.waitForClientAbort("/hang-body"))
    }))

  it.scoped("a body over maxBodyBytes is ResponseError Decode with BodyTooLargeError as cause", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const error = yield* Effect.flatMap(HttpClient.get(`${server.url}/ok?size=5000`), (r) => r.arrayBuffer).pipe(
        Effect.flip,
        Effect.provide(bridge({ maxBodyBytes: 1000 }))
      )
      expect(error.reason).toBe("Decode")
      expect(cause(error)._tag).toBe("BodyTooLargeError")
    }))

  it.scoped("interrupting a caller waiting for headers aborts its socket (the server sees the close)", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const client = Context.get(yield* Layer.build(bridge()), HttpClient.HttpClient)
      const fiber = yield* Effect.fork(client.get(`${server.url}/hang`))
      yield* Effect.promise(() => server.waitForRequest("/hang"))
      yield* Fiber.interrupt(fiber)
      yield* Effect.promise(() => server.waitForClientAbort("/hang", 2000))
      expect(server.stats.abortedByClient).toBe(1)
    }))

  it.scoped("interrupting a caller mid-body aborts its socket", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const client = Context.get(yield* Layer.build(bridge()), HttpClient.HttpClient)
      const fiber = yield* Effect.fork(Effect.flatMap(client.get(`${server.url}/hang-body`), (r) => r.text))
      yield* Effect.promise(() => server.waitForRequest("/hang-body"))
      yield* realDelay(50)
      yield* Fiber.interrupt(fiber)
      yield* Effect.promise(() => server.waitForClientAbort("/hang-body", 2000))
    }))
})

describe("HttpClient bridge: platform combinators", () => {
  it.scoped("mapRequest(prependUrl), filterStatusOk, schemaBodyJson", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const Hello = Schema.Struct({ hello: Schema.String, n: Schema.Number })
      const program = Effect.gen(function*() {
        const client = (yield* HttpClient.HttpClient).pipe(
          HttpClient.mapRequest(HttpClientRequest.prependUrl(server.url)),
          HttpClient.filterStatusOk
        )
        const hello = yield* Effect.flatMap(client.get("/json"), HttpClientResponse.schemaBodyJson(Hello))
        expect(hello).toEqual({ hello: "world", n: 1 })
        const notFound = yield* Effect.flip(client.get("/status/404"))
        expect(notFound._tag === "ResponseError" && [notFound.reason, notFound.response.status]).toEqual(["StatusCode", 404])
        // Platform raised that one: no volley error behind it.
        expect(Option.isNone(VolleyHttpClient.volleyError(notFound))).toBe(true)
        const wrong = yield* Effect.flip(Effect.flatMap(client.get("/json"), HttpClientResponse.schemaBodyJson(Schema.Struct({ hello: Schema.Number }))))
        expect(wrong._tag).toBe("ParseError")
      })
      yield* Effect.provide(program, bridge())
    }))

  it.scopedLive("retryTransient retries 503s and volley's timeouts", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const program = Effect.gen(function*() {
        const client = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk, HttpClient.retryTransient({ times: 3 }))
        const response = yield* client.get(`${server.url}/flaky?key=a&failures=2`)
        expect(yield* response.text).toBe("ok after 2")
        const timedOut = yield* Effect.flip(client.get(`${server.url}/hang`))
        expect(timedOut.reason).toBe("Transport")
        expect(server.requests.filter((r) => r.path.startsWith("/hang")).length).toBe(4)
      })
      yield* Effect.provide(program, bridge({ headersTimeout: "100 millis" }))
      expect(server.requests.filter((r) => r.path.startsWith("/flaky")).length).toBe(3)
    }))

  it.scoped("a streamed body arrives in full, in constant memory", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const program = Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const size = yield* client.get(`${server.url}/huge-cl?size=3000000`).pipe(
          HttpClientResponse.stream,
          Stream.runFold(0, (n, chunk) => n + chunk.length)
        )
        expect(size).toBe(3_000_000)
      })
      yield* Effect.provide(program, bridge({ maxBodyBytes: 10_000_000 }))
    }))

  it.scoped("a partly read stream (Stream.take) releases its connection: large bodies aborted, small ones reused", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const program = Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        for (let i = 0; i < 20; i++) {
          const first = yield* client.get(`${server.url}/huge?size=50000000`).pipe(
            HttpClientResponse.stream,
            Stream.take(1),
            Stream.runCollect
          )
          expect(Chunk.size(first)).toBe(1)
        }
        yield* Effect.promise(() => server.waitForClientAbort("/huge", 2000))
        for (let i = 0; i < 20; i++) {
          yield* client.get(`${server.url}/ok?size=20000`).pipe(HttpClientResponse.stream, Stream.take(1), Stream.runDrain)
        }
      })
      yield* Effect.provide(program, bridge({ connectionsPerOrigin: 2 }))
      // Pool of 2: had a partly read body kept its socket, the third request would have hung.
      expect(server.stats.abortedByClient).toBeGreaterThanOrEqual(18)
      yield* realDelay(50)
      expect(server.stats.open).toBeLessThanOrEqual(2)
    }))
})

describe("HttpClient bridge: redirects keep volley's rules", () => {
  const credentials = { authorization: "Bearer secret", cookie: "session=1", "x-keep": "yes" }

  it.scoped("by default volley follows: credentials dropped across origins, the pipeline's followRedirects sees no 3xx", () =>
    Effect.gen(function*() {
      const home = yield* faultServer()
      const other = yield* faultServer()
      const program = Effect.gen(function*() {
        const client = (yield* HttpClient.HttpClient).pipe(HttpClient.followRedirects(5))
        const response = yield* client.get(`${home.url}/redirect?to=${encodeURIComponent(`${other.url}/echo`)}`, { headers: credentials })
        expect(response.status).toBe(200)
        const echoed = (yield* response.json) as { headers: Record<string, string> }
        expect(echoed.headers["authorization"]).toBeUndefined()
        expect(echoed.headers["cookie"]).toBeUndefined()
        expect(echoed.headers["x-keep"]).toBe("yes")
        const loop = yield* Effect.flip(client.get(`${home.url}/loop`))
        expect(loop.reason).toBe("InvalidUrl")
        const volley = cause(loop)
        expect(volley._tag === "RedirectError" && volley.reason).toBe("Loop")
      })
      yield* Effect.provide(program, bridge())
    }))

  it.scoped("followRedirects: false hands 3xx back; the pipeline's followRedirects hops under volley's rules", () =>
    Effect.gen(function*() {
      const home = yield* faultServer()
      const other = yield* faultServer()
      const program = Effect.gen(function*() {
        const raw = yield* HttpClient.HttpClient
        const redirect = yield* raw.get(`${home.url}/redirect?to=/ok`)
        expect([redirect.status, redirect.headers["location"]]).toEqual([302, "/ok"])
        const client = raw.pipe(HttpClient.followRedirects(5))
        // Cross-origin hop: credentials dropped (platform's combinator alone would keep them).
        const crossed = yield* client.get(`${home.url}/redirect?to=${encodeURIComponent(`${other.url}/echo`)}`, { headers: credentials })
        const echoed = (yield* crossed.json) as { method: string; headers: Record<string, string> }
        expect(echoed.headers["authorization"]).toBeUndefined()
        expect(echoed.headers["cookie"]).toBeUndefined()
        expect(echoed.headers["x-keep"]).toBe("yes")
        // Same origin: kept.
        const same = yield* client.get(`${home.url}/redirect?to=/echo`, { headers: credentials })
        expect(((yield* same.json) as { headers: Record<string, string> }).headers["authorization"]).toBe("Bearer secret")
        // 303 after POST: the next hop is a GET without the body (platform's combinator re-POSTs).
        const seeOther = yield* client.post(`${home.url}/redirect?to=/echo&status=303`, { body: HttpClientRequest.bodyUrlParams(HttpClientRequest.post(""), { a: "1" }).body })
        const afterPost = (yield* seeOther.json) as { method: string; body: string }
        expect([afterPost.method, afterPost.body]).toEqual(["GET", ""])
        // A loop is refused, typed.
        const loop = yield* Effect.flip(client.get(`${home.url}/loop`))
        const volley = cause(loop)
        expect(volley._tag === "RedirectError" && volley.reason).toBe("Loop")
      })
      yield* Effect.provide(program, bridge({ followRedirects: false }))
    }))
})

describe("HttpClient bridge: over any volley client", () => {
  it.scoped("fromClient wraps a Client already built (same pool)", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const program = Effect.gen(function*() {
        const client = VolleyHttpClient.fromClient(yield* Client.Client)
        const response = yield* client.get(`${server.url}/ok`)
        expect(yield* response.text).toBe("ok")
      })
      yield* Effect.provide(program, Layer.fresh(Client.layer({ connectionsPerOrigin: 1 })))
    }))
})
