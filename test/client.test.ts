/**
 * The client against real loopback sockets: typed errors per failure, deadlines that abort
 * the socket, retries that wait what the server said, redirects that keep credentials home.
 * Time rules run on the TestClock; the network is real.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { ConfigProvider, Duration, Effect, Exit, Fiber, Layer, Logger, Option, Schema, TestClock } from "effect"
import dnsModule from "node:dns"
import * as net from "node:net"
import { internalsOf } from "../src/internal/client/client.js"
import * as Client from "../src/Client.js"
import type { HttpError } from "../src/Errors.js"
import { testCertificate } from "./support/FaultServer.js"
import { awaitSleepers, clientLayer, faultServer } from "./support/effect.js"

/** Runs a client program and returns its failure (the test fails if it succeeded). */
/**
 * Replaces `dns.lookup` (what `net.connect`, and so undici, resolves with) for the test's scope
 * by a table: names in it resolve there, every other name fails as an unknown host
 * (`ENOTFOUND`). Returns the names asked, in order.
 */
const controlledDns = (table: Readonly<Record<string, string>>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const asked: Array<string> = []
      const original = dnsModule.lookup
      const lookup = (hostname: string, options: unknown, callback?: unknown) => {
        const cb = (typeof options === "function" ? options : callback) as (...args: Array<unknown>) => void
        const all = typeof options === "object" && options !== null && (options as { all?: boolean }).all === true
        asked.push(hostname)
        const address = table[hostname]
        process.nextTick(() => {
          if (address === undefined) {
            return cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", syscall: "getaddrinfo", hostname }))
          }
          return all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4)
        })
      }
      ;(dnsModule as { lookup: unknown }).lookup = lookup
      return { asked, original }
    }),
    ({ original }) => Effect.sync(() => void ((dnsModule as { lookup: unknown }).lookup = original))
  ).pipe(Effect.map(({ asked }) => asked))

const failure = <A>(effect: Effect.Effect<A, HttpError, Client.Client>, options?: Client.ClientOptions) =>
  Effect.flip(effect).pipe(Effect.provide(clientLayer(options)))

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

describe("Client: deadlines are interruption (TestClock)", () => {
  it.scoped("the overall deadline fires while waiting for headers and aborts the socket", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const fiber = yield* Effect.fork(failure(Client.text(`${server.url}/hang`), { deadline: "5 seconds" }))
      yield* Effect.promise(() => server.waitForRequest("/hang"))
      yield* awaitSleepers()
      yield* TestClock.adjust("4999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "deadline"])
      yield* Effect.promise(() => server.waitForClientAbort("/hang"))
    }))

  it.scoped("a headers timeout shorter than the deadline reports the headers phase", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const fiber = yield* Effect.fork(failure(Client.text(`${server.url}/hang`), { headersTimeout: "2 seconds" }))
      yield* Effect.promise(() => server.waitForRequest("/hang"))
      yield* awaitSleepers()
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "headers"])
      yield* Effect.promise(() => server.waitForClientAbort("/hang"))
    }))

  it.scoped("the idle-body timeout fires when the body stalls, and aborts the socket", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const fiber = yield* Effect.fork(failure(Client.bytes(`${server.url}/hang-body?size=100000&sent=10`), { idleTimeout: "3 seconds" }))
      yield* Effect.promise(() => server.waitForRequest("/hang-body"))
      // One sleeper for the headers wait (deadline), then one for the stalled body.
      yield* awaitSleepers()
      yield* TestClock.adjust("1 millis")
      yield* awaitSleepers()
      yield* TestClock.adjust("3 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "body"])
      yield* Effect.promise(() => server.waitForClientAbort("/hang-body"))
    }))

  it.scoped("interrupting the caller aborts its in-flight request", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const fiber = yield* Effect.fork(Effect.provide(Client.text(`${server.url}/hang`), clientLayer()))
      yield* Effect.promise(() => server.waitForRequest("/hang"))
      yield* Fiber.interrupt(fiber)
      yield* Effect.promise(() => server.waitForClientAbort("/hang"))
      expect(server.stats.abortedByClient).toBe(1)
    }))
})

describe("Client: retries (TestClock)", () => {
  it.scoped("503 twice then 200 succeeds, waiting what Retry-After said", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const fiber = yield* Effect.fork(
        Effect.provide(Client.text(`${server.url}/flaky?key=a&failures=2&status=503&retryAfter=3`), Client.layer())
      )
      for (const attempt of [1, 2]) {
        yield* Effect.promise(() => server.waitForRequest("/flaky", attempt))
        yield* awaitSleepers()
        yield* TestClock.adjust("2999 millis")
        expect(server.requests.length).toBe(attempt)
        yield* TestClock.adjust("1 millis")
      }
      expect(yield* Fiber.join(fiber)).toBe("ok after 2")
      expect(server.requests.length).toBe(3)
    }))

  it.scoped("429 with an HTTP-date Retry-After waits until that date on the Effect clock", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const now = yield* TestClock.currentTimeMillis
      const date = new Date(now + 10_000).toUTCString()
      const fiber = yield* Effect.fork(
        Effect.provide(Client.text(`${server.url}/flaky?key=d&failures=1&status=429&retryAfter=${encodeURIComponent(date)}`), Client.layer())
      )
      yield* Effect.promise(() => server.waitForRequest("/flaky"))
      yield* awaitSleepers()
      yield* TestClock.adjust("9 seconds")
      expect(server.requests.length).toBe(1)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe("ok after 1")
    }))

  it.scoped("a Retry-After beyond the cap fails at once with the StatusError", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const error = yield* Effect.flip(
        Effect.provide(Client.text(`${server.url}/status/503?retryAfter=7200`), Client.layer({ retry: { maxRetryAfter: "1 minute" } }))
      )
      expect(error._tag === "StatusError" && error.status).toBe(503)
      expect(server.requests.length).toBe(1)
    }))

  it.scoped("POST is not retried unless the caller opts in", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const post = HttpClientRequest.post(`${server.url}/flaky?key=p&failures=1&status=503&retryAfter=0`)
      const error = yield* Effect.flip(Effect.provide(Client.text(post), Client.layer()))
      expect(error._tag === "StatusError" && error.status).toBe(503)
      expect(server.requests.length).toBe(1)
      const ok = yield* Effect.provide(Client.text(post, { retry: { retryNonIdempotent: true } }), Client.layer())
      expect(ok).toBe("ok after 1")
    }))
})

describe("Client: redirects", () => {
  it.scoped("follows a chain and reports the final URL", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const head = yield* Effect.provide(Client.discard(`${server.url}/chain?n=3`), clientLayer())
      expect(head.redirects).toBe(3)
      expect(head.url.href).toBe(`${server.url}/chain?n=0`)
    }))

  it.scoped("a loop and too many hops are RedirectErrors", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const loop = yield* failure(Client.text(`${server.url}/loop`))
      expect(loop._tag === "RedirectError" && loop.reason).toBe("Loop")
      const many = yield* failure(Client.text(`${server.url}/chain?n=11`))
      expect(many._tag === "RedirectError" && many.reason).toBe("TooMany")
      const few = yield* failure(Client.text(`${server.url}/chain?n=3`, { maxRedirects: 2 }))
      expect(few._tag === "RedirectError" && few.reason).toBe("TooMany")
    }))

  it.scoped("303 turns POST into GET; 307 and 308 keep method and body", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const echo = encodeURIComponent(`${server.url}/echo`)
      const send = (status: number) =>
        Client.json(
          HttpClientRequest.post(`${server.url}/redirect?status=${status}&to=${echo}`).pipe(HttpClientRequest.bodyText("payload"))
        ) as Effect.Effect<{ method: string; body: string }, HttpError, Client.Client>
      const results = yield* Effect.provide(Effect.all([send(303), send(307), send(308), send(302)]), clientLayer())
      expect(results.map((r) => [r.method, r.body])).toEqual([
        ["GET", ""],
        ["POST", "payload"],
        ["POST", "payload"],
        ["GET", ""]
      ])
    }))

  it.scoped("a cross-origin hop drops Authorization, Cookie and Proxy-Authorization", () =>
    Effect.gen(function*() {
      const a = yield* faultServer()
      const b = yield* faultServer()
      const request = (to: string) =>
        HttpClientRequest.get(`${a.url}/redirect?to=${encodeURIComponent(to)}`).pipe(
          HttpClientRequest.setHeaders({
            authorization: "Bearer secret",
            cookie: "session=1",
            "proxy-authorization": "Basic x",
            "x-keep": "yes"
          })
        )
      yield* Effect.provide(Client.discard(request(`${b.url}/echo`)), clientLayer())
      const crossed = b.requests[0]!
      expect(crossed.headers["authorization"]).toBeUndefined()
      expect(crossed.headers["cookie"]).toBeUndefined()
      expect(crossed.headers["proxy-authorization"]).toBeUndefined()
      expect(crossed.headers["x-keep"]).toBe("yes")
      // Same origin: credentials stay.
      yield* Effect.provide(Client.discard(request(`${a.url}/echo`)), clientLayer())
      const same = a.requests.find((r) => r.path === "/echo")!
      expect(same.headers["authorization"]).toBe("Bearer secret")
    }))

  it.scoped("an http -> https hop (a new origin) is followed and drops credentials", () =>
    Effect.gen(function*() {
      const plain = yield* faultServer()
      const secure = yield* faultServer({ tls: true })
      const request = HttpClientRequest.get(`${plain.url}/redirect?to=${encodeURIComponent(`${secure.url}/echo`)}`).pipe(
        HttpClientRequest.setHeaders({ authorization: "Bearer secret", cookie: "session=1", "x-keep": "yes" })
      )
      const head = yield* Effect.provide(Client.discard(request), clientLayer({ ca: testCertificate.cert }))
      expect(head.status).toBe(200)
      expect(new URL(secure.url).protocol).toBe("https:")
      const crossed = secure.requests[0]!
      expect(crossed.headers["authorization"]).toBeUndefined()
      expect(crossed.headers["cookie"]).toBeUndefined()
      expect(crossed.headers["x-keep"]).toBe("yes")
    }))

  it.scoped("https -> http is refused by default", () =>
    Effect.gen(function*() {
      const secure = yield* faultServer({ tls: true })
      const plain = yield* faultServer()
      const error = yield* failure(
        Client.text(`${secure.url}/redirect?to=${encodeURIComponent(`${plain.url}/ok`)}`),
        { ca: testCertificate.cert }
      )
      expect(error._tag === "RedirectError" && error.reason).toBe("Downgrade")
      expect(plain.requests.length).toBe(0)
    }))
})

describe("Client: TLS", () => {
  it.scoped("an untrusted certificate is a Tls error; the test CA makes it work", () =>
    Effect.gen(function*() {
      const server = yield* faultServer({ tls: true })
      const error = yield* failure(Client.text(`${server.url}/ok`))
      expect(error._tag === "NetworkError" && error.reason).toBe("Tls")
      const ok = yield* Effect.provide(Client.text(`${server.url}/ok`), clientLayer({ ca: testCertificate.cert }))
      expect(ok).toBe("ok")
    }))

  it.scoped("insecureTls works only by name, and warns", () =>
    Effect.gen(function*() {
      const server = yield* faultServer({ tls: true })
      const logs: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push(String(message))))
      const ok = yield* Effect.provide(Client.text(`${server.url}/ok`), clientLayer({ insecureTls: true })).pipe(Effect.provide(capture))
      expect(ok).toBe("ok")
      expect(logs.join("\n")).toContain("DISABLED")
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

  it.scoped("a body can be read once", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const exit = yield* Effect.exit(
        Effect.provide(Client.withResponse(`${server.url}/ok`, (r) => Effect.zip(r.text, r.text)), clientLayer())
      )
      expect(Exit.isFailure(exit) && Exit.causeOption(exit).pipe(Option.map(String), Option.getOrElse(() => ""))).toContain("only once")
    }))
})

describe("Client: deadlines under the live clock (transport-armed timers)", () => {
  it.live("a short deadline aborts a hung request in real time", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const started = Date.now()
      const error = yield* failure(Client.text(`${server.url}/hang`), { deadline: "150 millis" })
      expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "deadline"])
      expect(Date.now() - started).toBeLessThan(2_000)
      yield* Effect.promise(() => server.waitForClientAbort("/hang"))
    }).pipe(Effect.scoped))

  it.live("a connection that never completes its handshake is a connect-phase timeout, and the socket is closed", () =>
    Effect.gen(function*() {
      // Accepts TCP and stays silent: for https the connect phase lasts until the TLS
      // handshake completes, so this is the loopback stand-in for a blackholed address.
      const sockets: Array<net.Socket> = []
      let closed = 0
      const silent = net.createServer((socket) => {
        sockets.push(socket)
        socket.resume() // read (and ignore) the ClientHello, so the client's close is seen
        socket.on("close", () => closed++)
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void silent.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => {
          for (const socket of sockets) socket.destroy()
          silent.close()
        })
      )
      const port = (silent.address() as net.AddressInfo).port
      const started = Date.now()
      const error = yield* failure(Client.text(`https://127.0.0.1:${port}/`), { connectTimeout: "200 millis", retry: { maxAttempts: 1 } })
      expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "connect"])
      expect(error.message).toContain("connect")
      // undici runs connect timers on a coarse clock (ticks of ~0.5 s): 200 ms fires within ~1.2 s.
      expect(Date.now() - started).toBeLessThan(3_000)
      expect(sockets).toHaveLength(1)
      for (let i = 0; i < 100 && closed < 1; i++) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 20)))
      expect(closed).toBe(sockets.length)
    }).pipe(Effect.scoped))

  it.live("an idle body times out in real time and the socket is closed", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const error = yield* failure(Client.bytes(`${server.url}/hang-body?size=100000&sent=10`), { idleTimeout: "150 millis" })
      expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "body"])
      yield* Effect.promise(() => server.waitForClientAbort("/hang-body"))
    }).pipe(Effect.scoped))

  it.live("a trickling body that keeps moving is not an idle timeout", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const body = yield* Effect.provide(
        Client.text(`${server.url}/trickle?chunks=6&interval=30&chunkSize=4`),
        clientLayer({ idleTimeout: "500 millis" })
      )
      expect(body).toBe("t".repeat(24))
    }).pipe(Effect.scoped))
})

describe("Client: configuration from the environment", () => {
  it.scoped("layerConfig reads VOLLEY_* variables; overrides win", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const provider = ConfigProvider.fromMap(
        new Map([
          ["VOLLEY_USER_AGENT", "agent-from-env"],
          ["VOLLEY_DEADLINE", "2 seconds"],
          ["VOLLEY_RETRY_MAX_ATTEMPTS", "1"]
        ]),
        { pathDelim: "_" }
      )
      const layer = Client.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(provider)))
      const echoed = (yield* Effect.provide(Client.json(`${server.url}/echo`), layer)) as { headers: Record<string, string> }
      expect(echoed.headers["user-agent"]).toBe("agent-from-env")
      const client = yield* Effect.provide(Client.Client, layer)
      // The resolved configuration is internal (not on the public ClientService): read it there.
      expect(internalsOf(client).config.deadlineMs).toBe(2000)
      expect(internalsOf(client).config.retry.maxAttempts).toBe(1)
      const overridden = yield* Effect.provide(Client.Client, Client.layerConfig({ userAgent: "mine" }).pipe(Layer.provide(Layer.setConfigProvider(provider))))
      expect(internalsOf(overridden).config.userAgent).toBe("mine")
    }))

  it.effect("every option the environment can set maps to its ClientOptions field", () =>
    Effect.gen(function*() {
      const env = new Map([
        ["VOLLEY_CONNECTIONS_PER_ORIGIN", "32"],
        ["VOLLEY_KEEP_ALIVE_TIMEOUT", "2 seconds"],
        ["VOLLEY_DEADLINE", "10 seconds"],
        ["VOLLEY_CONNECT_TIMEOUT", "3 seconds"],
        ["VOLLEY_HEADERS_TIMEOUT", "4 seconds"],
        ["VOLLEY_IDLE_TIMEOUT", "5 seconds"],
        ["VOLLEY_MAX_REDIRECTS", "3"],
        ["VOLLEY_MAX_BODY_BYTES", "1048576"],
        ["VOLLEY_USER_AGENT", "ua"],
        ["VOLLEY_ALLOW_HTTPS_DOWNGRADE", "true"],
        ["VOLLEY_RETRY_MAX_ATTEMPTS", "5"],
        ["VOLLEY_RETRY_BASE_DELAY", "100 millis"],
        ["VOLLEY_RETRY_FACTOR", "3"],
        ["VOLLEY_RETRY_MAX_DELAY", "20 seconds"],
        ["VOLLEY_RETRY_JITTER", "false"],
        ["VOLLEY_RETRY_MAX_RETRY_AFTER", "2 minutes"],
        ["VOLLEY_RETRY_NON_IDEMPOTENT", "true"]
      ])
      const options = yield* Effect.withConfigProvider(Client.config, ConfigProvider.fromMap(env, { pathDelim: "_" }))
      const ms = (d: unknown) => Duration.toMillis(d as Duration.Duration)
      expect({
        ...options,
        keepAliveTimeout: ms(options.keepAliveTimeout),
        deadline: ms(options.deadline),
        connectTimeout: ms(options.connectTimeout),
        headersTimeout: ms(options.headersTimeout),
        idleTimeout: ms(options.idleTimeout),
        retry: {
          ...options.retry,
          baseDelay: ms(options.retry?.baseDelay),
          maxDelay: ms(options.retry?.maxDelay),
          maxRetryAfter: ms(options.retry?.maxRetryAfter)
        }
      }).toEqual({
        connectionsPerOrigin: 32,
        keepAliveTimeout: 2000,
        deadline: 10_000,
        connectTimeout: 3000,
        headersTimeout: 4000,
        idleTimeout: 5000,
        maxRedirects: 3,
        maxBodyBytes: 1_048_576,
        userAgent: "ua",
        allowHttpsDowngrade: true,
        retry: { maxAttempts: 5, baseDelay: 100, factor: 3, maxDelay: 20_000, jitter: false, maxRetryAfter: 120_000, retryNonIdempotent: true }
      })
      // Nothing set: nothing overridden, so every default applies.
      expect(yield* Effect.withConfigProvider(Client.config, ConfigProvider.fromMap(new Map()))).toEqual({})
    }))

  it.effect("a malformed variable is a ConfigError naming it", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromMap(new Map([["VOLLEY_DEADLINE", "soon"]]), { pathDelim: "_" })
      const error = yield* Effect.flip(Effect.provide(Client.Client, Client.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(provider)))))
      expect(String(error)).toContain("DEADLINE")
    }))
})
