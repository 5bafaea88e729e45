/**
 * The client's time and redirect rules in virtual time, over the simulated transport: the
 * same client code as production (volley/testing is only a Transport), with every wait on the
 * TestClock, so each assertion is an exact virtual time. Hours of simulated waiting run in
 * milliseconds.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Clock, Duration, Effect, Exit, Fiber, Option, Random, Stream, TestClock } from "effect"
import * as Client from "../../src/Client.js"
import type { HttpError } from "../../src/Errors.js"
import * as Testing from "../../src/Testing.js"

type Env = Client.Client | Testing.TestTransport

/** Runs a program against a route table, moving the TestClock from timer to timer until it ends. */
const run = <A, E>(routes: Testing.Routes, program: Effect.Effect<A, E, Env>, options?: Client.ClientOptions) =>
  Testing.inVirtualTime(program).pipe(Effect.provide(Testing.layer(routes, options)))

const arrivals = Effect.map(Testing.requests, (records) => records.map((r) => r.at))
const now = Clock.currentTimeMillis

/** Backoff without jitter: 1 s, 2 s, 4 s… */
const exact: Client.ClientOptions = { retry: { jitter: false, baseDelay: "1 second" } }
const once: Client.ClientOptions = { retry: { maxAttempts: 1 } }

const timeoutOf = (error: HttpError) => (error._tag === "NetworkError" ? [error.reason, error.phase] : [error._tag])

describe("virtual time: retries", () => {
  it.effect("503, 503, 200 succeeds; attempts at 0, 1 s and 3 s", () =>
    run(
      { "/flaky": [Testing.status(503), Testing.status(503), Testing.text("ok")] },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/flaky")).toBe("ok")
        expect(yield* arrivals).toEqual([0, 1000, 3000])
        expect(yield* now).toBe(3000)
        const records = yield* Testing.requests
        expect(records.map((r) => [r.status, r.responseBody])).toEqual([[503, "consumed"], [503, "consumed"], [200, "consumed"]])
        expect(yield* Testing.inFlight).toBe(0)
      }),
      exact
    ))

  it.effect("network failures back off exponentially and the last error is returned", () =>
    run(
      { "/down": Testing.networkError("ConnectionRefused") },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/down"))
        expect(error._tag === "NetworkError" && [error.reason, error.method, error.url]).toEqual(["ConnectionRefused", "GET", "https://api.test/down"])
        expect(yield* arrivals).toEqual([0, 1000, 3000, 7000])
        expect(yield* now).toBe(7000)
      }),
      { retry: { jitter: false, baseDelay: "1 second", maxAttempts: 4 } }
    ))

  it.effect("maxDelay caps each backoff delay", () =>
    run(
      { "/down": Testing.networkError("ConnectionReset") },
      Effect.gen(function*() {
        yield* Effect.flip(Client.text("https://api.test/down"))
        expect(yield* arrivals).toEqual([0, 1000, 2500, 4000, 5500])
      }),
      { retry: { jitter: false, baseDelay: "1 second", maxDelay: "1500 millis", maxAttempts: 5 } }
    ))

  it.effect("Retry-After in seconds on 429 and 503 replaces the backoff", () =>
    run(
      {
        "/limited": [
          Testing.status(429, { headers: { "retry-after": "7" } }),
          Testing.status(503, { headers: { "retry-after": "2" } }),
          Testing.text("ok")
        ]
      },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/limited")).toBe("ok")
        expect(yield* arrivals).toEqual([0, 7000, 9000])
      }),
      exact
    ))

  it.effect("Retry-After as an HTTP date is read against the Effect clock", () =>
    run(
      // The TestClock starts at the epoch: this date is 12 s after the first attempt.
      { "/limited": [Testing.status(503, { headers: { "retry-after": new Date(12_000).toUTCString() } }), Testing.text("ok")] },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/limited")).toBe("ok")
        expect(yield* arrivals).toEqual([0, 12_000])
      }),
      exact
    ))

  it.effect("Retry-After replaces the jittered delay exactly", () =>
    run(
      { "/limited": [Testing.status(429, { headers: { "retry-after": "3" } }), Testing.text("ok")] },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/limited")).toBe("ok")
        expect(yield* arrivals).toEqual([0, 3000])
      })
    ))

  it.effect("a Retry-After date in the past means now", () =>
    run(
      { "/limited": [Testing.status(503, { headers: { "retry-after": new Date(0).toUTCString() }, latency: "5 seconds" }), Testing.text("ok")] },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/limited")).toBe("ok")
        expect(yield* arrivals).toEqual([0, 5000])
      }),
      exact
    ))

  it.effect("Retry-After on a 500 is not a server's throttle: the backoff applies", () =>
    run(
      { "/x": [Testing.status(500, { headers: { "retry-after": "60" } }), Testing.text("ok")] },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/x")).toBe("ok")
        expect(yield* arrivals).toEqual([0, 1000])
      }),
      exact
    ))

  it.effect("a Retry-After up to maxRetryAfter is honoured; beyond it the StatusError comes back at once", () =>
    run(
      {
        "/minute": [Testing.status(503, { headers: { "retry-after": "60" } }), Testing.text("ok")],
        "/hours": Testing.status(503, { headers: { "retry-after": "7200" }, body: "down for maintenance" })
      },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/minute")).toBe("ok")
        expect(yield* now).toBe(60_000)
        const error = yield* Effect.flip(Client.text("https://api.test/hours"))
        expect(error._tag).toBe("StatusError")
        if (error._tag !== "StatusError") return
        expect([error.status, error.retryAfter, error.bodySnippet]).toEqual([503, Option.some(Duration.hours(2)), "down for maintenance"])
        expect(yield* now).toBe(60_000)
        expect(yield* Testing.requestsTo("/hours")).toHaveLength(1)
      }),
      { retry: { jitter: false, maxRetryAfter: "1 minute" } }
    ))

  it.effect("every transient status is retried; permanent ones are not", () =>
    Effect.gen(function*() {
      const transient = [408, 425, 429, 500, 502, 503, 504]
      const permanent = [400, 401, 403, 404, 409, 422, 501]
      const routes = Object.fromEntries([...transient, ...permanent].map((code) => [`/${code}`, [Testing.status(code), Testing.text("ok")]]))
      yield* run(
        routes,
        Effect.gen(function*() {
          for (const code of transient) expect(yield* Client.text(`https://api.test/${code}`)).toBe("ok")
          for (const code of permanent) {
            const error = yield* Effect.flip(Client.text(`https://api.test/${code}`))
            expect(error._tag === "StatusError" && error.status).toBe(code)
          }
          const counts = (yield* Testing.requests).reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.path]: (acc[r.path] ?? 0) + 1 }), {})
          for (const code of transient) expect(counts[`/${code}`]).toBe(2)
          for (const code of permanent) expect(counts[`/${code}`]).toBe(1)
        }),
        exact
      )
    }))

  it.effect("POST is not retried unless it carries an Idempotency-Key or the caller opts in", () =>
    run(
      { "POST /pay": (req) => (req.call % 2 === 0 ? Testing.status(503) : Testing.text("paid")) },
      Effect.gen(function*() {
        const pay = HttpClientRequest.post("https://api.test/pay").pipe(HttpClientRequest.bodyText("{}"))
        const plain = yield* Effect.flip(Client.text(pay))
        expect(plain._tag === "StatusError" && plain.status).toBe(503)
        expect(yield* Testing.requests).toHaveLength(1)
        yield* Testing.reset
        expect(yield* Client.text(pay.pipe(HttpClientRequest.setHeader("Idempotency-Key", "k1")))).toBe("paid")
        yield* Testing.reset
        expect(yield* Client.text(pay, { retry: { retryNonIdempotent: true } })).toBe("paid")
        const records = yield* Testing.requests
        expect(records.map((r) => [r.method, r.body, r.at])).toEqual([["POST", "{}", 1000], ["POST", "{}", 2000]])
      }),
      exact
    ))

  it.effect("a streamed request body cannot be replayed, so it is never retried", () =>
    run(
      { "POST /upload": Testing.status(503) },
      Effect.gen(function*() {
        const upload = HttpClientRequest.post("https://api.test/upload").pipe(
          HttpClientRequest.bodyStream(Stream.make(new TextEncoder().encode("data")))
        )
        const error = yield* Effect.flip(Client.text(upload, { retry: { retryNonIdempotent: true } }))
        expect(error._tag === "StatusError" && error.status).toBe(503)
        const records = yield* Testing.requests
        expect(records.map((r) => [r.body, r.streamedBody])).toEqual([["data", true]])
      }),
      exact
    ))

  it.effect("each attempt has its own deadline: a hung server is tried three times, 5 s each", () =>
    run(
      { "/hang": Testing.text("never", { latency: "1 hour" }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/hang", { deadline: "5 seconds" }))
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        const records = yield* Testing.requests
        // 200 ms, then 400 ms of backoff between attempts.
        expect(records.map((r) => [r.at, r.endedAt, r.interrupted])).toEqual([
          [0, 5000, true],
          [5200, 10_200, true],
          [10_600, 15_600, true]
        ])
        expect(yield* now).toBe(15_600)
      }),
      { retry: { jitter: false } }
    ))

  it.effect("a reset mid-body retries the whole exchange, the body read included", () =>
    run(
      { "/doc": [Testing.text(["partial ", Testing.pause("1 second"), Testing.failBody("ConnectionReset")]), Testing.text("whole")] },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/doc")).toBe("whole")
        const records = yield* Testing.requests
        expect(records.map((r) => [r.at, r.endedAt, r.responseBody, r.error?.reason])).toEqual([
          [0, 1000, "failed", "ConnectionReset"],
          [2000, 2000, "consumed", undefined]
        ])
      }),
      exact
    ))

  it.effect("an idle-body timeout is transient: the next attempt gets a fresh one", () =>
    run(
      { "/stuck": [Testing.text(["a", Testing.stall]), Testing.text("ok")] },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/stuck", { idleTimeout: "2 seconds" })).toBe("ok")
        const records = yield* Testing.requests
        expect(records.map((r) => [r.at, r.endedAt, r.responseBody, r.interrupted])).toEqual([
          [0, 2000, "aborted", true],
          [3000, 3000, "consumed", false]
        ])
      }),
      exact
    ))

  it.effect("interrupting the caller during the backoff stops the plan: no further attempt", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const fiber = yield* Effect.fork(Client.text("https://api.test/down"))
        yield* TestClock.adjust("500 millis")
        yield* Fiber.interrupt(fiber)
        yield* TestClock.adjust("1 hour")
        expect(yield* arrivals).toEqual([0])
      })
      yield* Effect.provide(program, Testing.layer({ "/down": Testing.status(503) }, exact))
    }))

  it.effect("retry: false and maxAttempts: 1 make a single attempt", () =>
    run(
      { "/x": Testing.status(503) },
      Effect.gen(function*() {
        yield* Effect.flip(Client.text("https://api.test/x", { retry: false }))
        yield* Effect.flip(Client.text("https://api.test/x", { retry: { maxAttempts: 1 } }))
        expect(yield* Testing.requests).toHaveLength(2)
      }),
      exact
    ))

  it.effect("per-request retry options override the client's", () =>
    run(
      { "/x": Testing.status(503) },
      Effect.gen(function*() {
        yield* Effect.flip(Client.text("https://api.test/x", { retry: { maxAttempts: 2, baseDelay: "5 seconds" } }))
        expect(yield* arrivals).toEqual([0, 5000])
      }),
      { retry: { jitter: false, baseDelay: "1 second", maxAttempts: 5 } }
    ))

  it.effect("open() is retried too: the scoped response is the successful attempt's", () =>
    run(
      { "/x": [Testing.status(502), Testing.text("ok")] },
      Effect.gen(function*() {
        const text = yield* Effect.scoped(Effect.flatMap(Client.open("https://api.test/x"), (r) => r.text))
        expect(text).toBe("ok")
        expect(yield* arrivals).toEqual([0, 1000])
        expect(yield* Testing.inFlight).toBe(0)
      }),
      exact
    ))

  // A refused attempt's body is released before the retry, not kept until the caller's scope
  // closes (which, for Client.stream, would hold a connection per attempt for the stream's life).
  it.effect("open(): a failed attempt's body is released before the retry, not with the caller's scope", () =>
    run(
      { "/x": [Testing.status(503, { body: "e".repeat(5000) }), Testing.text("ok")] },
      Effect.gen(function*() {
        yield* Effect.scoped(Effect.gen(function*() {
          const response = yield* Client.open("https://api.test/x")
          expect(response.status).toBe(200)
          const [failed] = yield* Testing.requests
          expect([failed!.status, failed!.responseBody, failed!.endedAt]).toEqual([503, "drained", 0])
          expect(yield* Testing.inFlight).toBe(1)
        }))
      }),
      exact
    ))

  it.effect("Client.stream: a retried attempt does not hold its connection while the stream runs ", () =>
    run(
      { "/feed": [Testing.status(503, { body: "e".repeat(5000) }), Testing.text(["a", Testing.pause("20 seconds"), "b"])] },
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(Stream.runDrain(Client.stream("https://api.test/feed")))
        yield* Effect.sleep("10 seconds")
        expect(yield* Testing.inFlight).toBe(1)
        yield* Fiber.join(fiber)
      }),
      exact
    ))

  it.effect("the default jitter keeps each delay within ±20% of the backoff (200 ms, 400 ms)", () =>
    run(
      { "/x": Testing.status(503) },
      Effect.gen(function*() {
        for (let i = 0; i < 3; i++) {
          yield* Testing.reset
          yield* Effect.flip(Client.text("https://api.test/x"))
          const [a, b, c] = yield* arrivals
          expect(b! - a!).toBeGreaterThanOrEqual(160)
          expect(b! - a!).toBeLessThanOrEqual(240)
          expect(c! - b!).toBeGreaterThanOrEqual(320)
          expect(c! - b!).toBeLessThanOrEqual(480)
        }
      })
    ))

  it.effect("a seeded Random makes jittered times repeatable", () =>
    Effect.gen(function*() {
      // A fresh generator per run, so both runs draw the same delays.
      const delays = Effect.suspend(() =>
        run(
          { "/x": Testing.status(503) },
          Effect.zipRight(Effect.flip(Client.text("https://api.test/x")), arrivals)
        ).pipe(Effect.withRandom(Random.make("volley")))
      ).pipe(Effect.map(([a, b, c]) => [b! - a!, c! - b!].map((ms) => Math.round(ms * 1000) / 1000)))
      const first = yield* delays
      expect(yield* delays).toEqual(first)
      expect(first[0]).not.toBe(200)
    }))
})

describe("virtual time: timeouts", () => {
  it.effect("the default 30 s deadline fires while waiting for headers, not a millisecond earlier", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const fiber = yield* Effect.fork(Effect.flip(Client.text("https://api.test/hang")))
        yield* TestClock.adjust("29999 millis")
        expect(fiber.unsafePoll()).toBeNull()
        yield* TestClock.adjust("1 millis")
        const error = yield* Fiber.join(fiber)
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(error.message).toBe("GET https://api.test/hang: timeout (deadline)")
        const [record] = yield* Testing.requests
        expect(record).toMatchObject({ at: 0, endedAt: 30_000, interrupted: true, status: undefined, responseBody: "none" })
      })
      yield* Effect.provide(program, Testing.layer({ "/hang": Testing.text("late", { latency: "1 hour" }) }, once))
    }))

  it.effect("a headers timeout shorter than the deadline reports the headers phase", () =>
    run(
      { "/hang": Testing.text("late", { latency: "1 hour" }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/hang", { headersTimeout: "2 seconds" }))
        expect(timeoutOf(error)).toEqual(["Timeout", "headers"])
        expect(yield* now).toBe(2000)
      }),
      once
    ))

  it.effect("a headers timeout longer than what is left of the deadline leaves it to the deadline", () =>
    run(
      { "/hang": Testing.text("late", { latency: "1 hour" }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/hang", { headersTimeout: "10 seconds", deadline: "5 seconds" }))
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(yield* now).toBe(5000)
      }),
      once
    ))

  it.effect("headers a millisecond before the deadline are in time", () =>
    run(
      { "/slow": Testing.text("ok", { latency: "4999 millis" }) },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/slow", { deadline: "5 seconds" })).toBe("ok")
        expect(yield* now).toBe(4999)
      }),
      once
    ))

  it.effect("the idle-body timeout fires when the body stalls, and aborts the body", () =>
    run(
      { "/stall": Testing.text(["first", Testing.stall], { latency: "1 second" }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/stall", { idleTimeout: "3 seconds" }))
        expect(timeoutOf(error)).toEqual(["Timeout", "body"])
        expect(yield* now).toBe(4000)
        const [record] = yield* Testing.requests
        expect(record).toMatchObject({ respondedAt: 1000, endedAt: 4000, bytesRead: 5, interrupted: true, responseBody: "aborted" })
      }),
      once
    ))

  it.effect("the idle timer restarts with every chunk: a slow but steady trickle completes", () =>
    run(
      { "/trickle": Testing.text(Testing.trickle("abcde".split(""), "2 seconds")) },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/trickle", { idleTimeout: "3 seconds", deadline: "none" })).toBe("abcde")
        expect(yield* now).toBe(8000)
      }),
      once
    ))

  it.effect("the deadline covers the body: a trickle longer than 30 s is cut at 30 s, phase deadline", () =>
    run(
      { "/trickle": Testing.text(Testing.trickle(Array.from({ length: 4 }, () => "x"), "12 seconds")) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/trickle", { idleTimeout: "15 seconds" }))
        // Each gap is within the idle timeout; after the chunk at 24 s only 6 s of the
        // deadline are left, less than the idle timeout, so the deadline fires at 30 s.
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(yield* now).toBe(30_000)
        const [record] = yield* Testing.requests
        expect(record).toMatchObject({ bytesRead: 3, endedAt: 30_000, responseBody: "aborted" })
      }),
      once
    ))

  it.effect("one deadline spans headers and body", () =>
    run(
      { "/x": Testing.text(["a", Testing.pause("4 seconds"), "b"], { latency: "4 seconds" }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/x", { deadline: "6 seconds" }))
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(yield* now).toBe(6000)
      }),
      once
    ))

  it.effect("the deadline bounds a body read late from an open() response", () =>
    run(
      // The rest of the body is still on its way when the caller gets round to reading it.
      { "/x": Testing.text(["a", Testing.pause("20 seconds"), "b"]) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(
          Effect.gen(function*() {
            const response = yield* Client.open("https://api.test/x", { deadline: "5 seconds" })
            yield* Effect.sleep("10 seconds")
            return yield* response.text
          })
        ))
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(yield* now).toBe(10_000)
        const [record] = yield* Testing.requests
        expect(record).toMatchObject({ endedAt: 10_000, responseBody: "aborted" })
      }),
      once
    ))

  it.effect("deadline \"none\" lets a two-hour response arrive", () =>
    run(
      { "/batch-report": Testing.text("done", { latency: "2 hours" }) },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/batch-report", { deadline: "none" })).toBe("done")
        expect(yield* now).toBe(Duration.toMillis("2 hours"))
      }),
      once
    ))

  it.effect("per-request timeouts override the client's", () =>
    run(
      { "/x": Testing.text("ok", { latency: "5 seconds" }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/x"))
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(yield* now).toBe(1000)
        expect(yield* Client.text("https://api.test/x", { deadline: "10 seconds" })).toBe("ok")
        expect(yield* now).toBe(6000)
      }),
      { ...once, deadline: "1 second" }
    ))

  it.effect("a stream consumer gets the idle timeout as a stream failure, and the body is aborted", () =>
    run(
      { "/feed": Testing.text(["a", Testing.pause("1 second"), "b", Testing.stall]) },
      Effect.gen(function*() {
        const chunks: Array<string> = []
        const error = yield* Effect.flip(
          Stream.runForEach(Client.stream("https://api.test/feed", { idleTimeout: "5 seconds" }), (chunk) =>
            Effect.sync(() => chunks.push(new TextDecoder().decode(chunk))))
        )
        expect(chunks).toEqual(["a", "b"])
        expect(timeoutOf(error)).toEqual(["Timeout", "body"])
        expect(yield* now).toBe(6000)
        const [record] = yield* Testing.requests
        expect(record).toMatchObject({ endedAt: 6000, responseBody: "aborted", bytesRead: 2 })
      }),
      once
    ))

  it.effect("a body over maxBodyBytes stops the transfer: at once if announced, else as soon as it is exceeded", () =>
    run(
      {
        "/announced": Testing.text("x".repeat(100)),
        "/chunked": Testing.text(Testing.trickle(Array.from({ length: 10 }, () => "12345"), "1 second"))
      },
      Effect.gen(function*() {
        const announced = yield* Effect.flip(Client.text("https://api.test/announced", { maxBodyBytes: 10 }))
        expect(announced._tag === "BodyTooLargeError" && announced.contentLength).toBe(100)
        const chunked = yield* Effect.flip(Client.text("https://api.test/chunked", { maxBodyBytes: 12 }))
        expect(chunked._tag).toBe("BodyTooLargeError")
        expect(yield* now).toBe(2000)
        const records = yield* Testing.requests
        expect(records.map((r) => [r.bytesRead, r.responseBody])).toEqual([[0, "aborted"], [15, "aborted"]])
      }),
      once
    ))
})

describe("virtual time: status errors and bodies", () => {
  // A HEAD answer's Content-Length describes the GET body; the HEAD body itself is empty.
  it.effect("reading a HEAD response is not refused for the size of the GET body it announces", () =>
    run(
      { "/big": Testing.text("x".repeat(100)) },
      Effect.gen(function*() {
        expect(yield* Client.text(HttpClientRequest.head("https://api.test/big"), { maxBodyBytes: 10 })).toBe("")
      }),
      once
    ))

  // The 1 KiB diagnostic snippet takes what has arrived and waits at most 1 s for more.
  it.effect("a StatusError does not wait out the idle timeout for a stalled error body", () =>
    run(
      { "/x": Testing.status(503, { body: ["Service Unavailable", Testing.stall] }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/x"))
        expect(error._tag).toBe("StatusError")
        expect(yield* now).toBeLessThan(30_000)
      }),
      once
    ))

  it.effect("a stalled error body delays the StatusError by at most 1 s, keeping what arrived", () =>
    run(
      { "/x": Testing.status(503, { body: ["Service Unavailable", Testing.stall] }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/x", { idleTimeout: "2 seconds" }))
        expect(error._tag === "StatusError" && [error.status, error.bodySnippet]).toEqual([503, "Service Unavailable"])
        expect(yield* now).toBe(1000)
      }),
      once
    ))

  // Virtual twins of "Client: success paths / typed failures" in test/client.test.ts.
  it.effect("a bad status is a StatusError with status, redacted URL, Retry-After and a 1 KiB one-line snippet", () =>
    run(
      { "/status/503": Testing.status(503, { headers: { "retry-after": "7" }, body: "line\n".repeat(1000) }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/status/503?token=s3cret"))
        expect(error._tag).toBe("StatusError")
        if (error._tag !== "StatusError") return
        expect(error.status).toBe(503)
        expect(error.retryAfter).toEqual(Option.some(Duration.seconds(7)))
        expect(error.bodySnippet.length).toBe(1024)
        expect(error.url).not.toContain("s3cret")
        expect(error.message).not.toContain("\n")
      }),
      once
    ))

  it.effect("accept widens what counts as success", () =>
    run(
      { "/status/404": Testing.status(404, { body: "missing" }) },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/status/404", { accept: (s) => s === 404 })).toBe("missing")
        expect((yield* Testing.requests).map((r) => r.responseBody)).toEqual(["consumed"])
      }),
      once
    ))

  it.effect("a body can be read once", () =>
    run(
      { "/ok": Testing.text("ok") },
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Client.withResponse("https://api.test/ok", (r) => Effect.zip(r.text, r.text)))
        expect(Exit.isFailure(exit) && Exit.causeOption(exit).pipe(Option.map(String), Option.getOrElse(() => ""))).toContain("only once")
        expect(yield* Testing.inFlight).toBe(0)
      }),
      once
    ))

  it.effect("a StatusError carries at most 1 KiB of the body and releases the rest", () =>
    run(
      { "/x": Testing.status(500, { body: "e".repeat(100_000) }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/x"))
        expect(error._tag === "StatusError" && error.bodySnippet.length).toBe(1024)
        const [record] = yield* Testing.requests
        // The snippet took the first 64 KiB chunk; the rest had arrived and is drained.
        expect([record!.responseBody, record!.bytesRead]).toEqual(["drained", 64 * 1024])
      }),
      once
    ))
})

describe("virtual time: fan-out", () => {
  // A failed sibling interrupts the others at once, and a response that crosses the
  // interruption is released rather than dropped with its connection.
  it.effect("a failed fan-out interrupts the requests in flight at once and leaks none", () =>
    run(
      { "/fail": Testing.status(404, { latency: "300 millis" }), "/slow/:n": Testing.text("x", { latency: "5 seconds" }) },
      Effect.gen(function*() {
        const urls = ["https://api.test/slow/1", "https://api.test/slow/2", "https://api.test/fail"]
        const error = yield* Effect.flip(Effect.forEach(urls, (url) => Client.text(url), { concurrency: 3 }))
        expect(error._tag === "StatusError" && error.status).toBe(404)
        expect(yield* Testing.inFlight).toBe(0)
        expect(yield* now).toBe(300)
      }),
      once
    ))

  it.effect("with deadline \"none\" (no Effect.timeoutFail around the send) the same fan-out fails fast and cleanly", () =>
    run(
      { "/fail": Testing.status(404, { latency: "300 millis" }), "/slow/:n": Testing.text("x", { latency: "5 seconds" }) },
      Effect.gen(function*() {
        const urls = ["https://api.test/slow/1", "https://api.test/slow/2", "https://api.test/fail"]
        const error = yield* Effect.flip(Effect.forEach(urls, (url) => Client.text(url, { deadline: "none" }), { concurrency: 3 }))
        expect(error._tag === "StatusError" && error.status).toBe(404)
        expect(yield* now).toBe(300)
        const records = yield* Testing.requestsTo("/slow/:n")
        expect(records.map((r) => [r.endedAt, r.interrupted, r.responseBody])).toEqual([[300, true, "none"], [300, true, "none"]])
        expect(yield* Testing.inFlight).toBe(0)
      }),
      once
    ))

  it.effect("interrupting the caller of a fan-out interrupts every request in flight", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const urls = Array.from({ length: 3 }, (_, i) => `https://api.test/slow/${i}`)
        const fiber = yield* Effect.fork(Effect.forEach(urls, (url) => Client.text(url), { concurrency: 3 }))
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        const records = yield* Testing.requests
        expect(records.map((r) => [r.endedAt, r.interrupted])).toEqual([[1000, true], [1000, true], [1000, true]])
        expect(yield* Testing.inFlight).toBe(0)
      })
      yield* Effect.provide(program, Testing.layer({ "/slow/:n": Testing.text("x", { latency: "5 seconds" }) }, once))
    }))
})

describe("virtual time: redirects", () => {
  const post = (url: string, body = "payload") =>
    HttpClientRequest.post(url).pipe(HttpClientRequest.bodyText(body, "text/plain"), HttpClientRequest.setHeader("x-keep", "yes"))

  it.effect("303 turns POST into GET without the body or its headers", () =>
    run(
      { "POST /start": Testing.redirect("/done", 303), "GET /done": Testing.text("done") },
      Effect.gen(function*() {
        const client = yield* Client.Client
        const final = yield* client.execute(post("https://api.test/start"), (r) =>
          Effect.map(r.text, (text) => ({ text, url: r.url.href, redirects: r.redirects, method: r.method })))
        expect(final).toEqual({ text: "done", url: "https://api.test/done", redirects: 1, method: "GET" })
        const [first, second] = yield* Testing.requests
        expect([first!.method, first!.body, first!.headers["content-type"]]).toEqual(["POST", "payload", "text/plain"])
        expect([second!.method, second!.body, second!.headers["content-type"], second!.headers["x-keep"]]).toEqual([
          "GET",
          undefined,
          undefined,
          "yes"
        ])
      }),
      once
    ))

  it.effect("301 and 302 turn POST (only) into GET; 303 keeps HEAD a HEAD", () =>
    run(
      {
        "/301": Testing.redirect("/echo", 301),
        "/302": Testing.redirect("/echo", 302),
        "/303": Testing.redirect("/echo", 303),
        "/echo": (req) => Testing.text(`${req.method} ${req.body ?? ""}`)
      },
      Effect.gen(function*() {
        expect(yield* Client.text(post("https://api.test/301"))).toBe("GET ")
        expect(yield* Client.text(post("https://api.test/302"))).toBe("GET ")
        const put = HttpClientRequest.put("https://api.test/302").pipe(HttpClientRequest.bodyText("p"))
        expect(yield* Client.text(put)).toBe("PUT p")
        const head = yield* Client.discard(HttpClientRequest.head("https://api.test/303"))
        expect(head.status).toBe(200)
        expect((yield* Testing.requests).at(-1)!.method).toBe("HEAD")
      }),
      once
    ))

  it.effect("307 and 308 keep method, body and headers", () =>
    run(
      {
        "/307": Testing.redirect("/echo", 307),
        "/308": Testing.redirect("/echo", 308),
        "/echo": (req) => Testing.json({ method: req.method, body: req.body, type: req.headers["content-type"] })
      },
      Effect.gen(function*() {
        const expected = { method: "POST", body: "payload", type: "text/plain" }
        expect(yield* Client.json(post("https://api.test/307"))).toEqual(expected)
        expect(yield* Client.json(post("https://api.test/308"))).toEqual(expected)
      }),
      once
    ))

  it.effect("307 with a streamed body cannot replay it: BodyNotReplayable; 303 drops it and goes on", () =>
    run(
      { "/307": Testing.redirect("/echo", 307), "/303": Testing.redirect("/echo", 303), "/echo": Testing.text("ok") },
      Effect.gen(function*() {
        const streamed = (url: string) =>
          HttpClientRequest.post(url).pipe(HttpClientRequest.bodyStream(Stream.make(new TextEncoder().encode("once"))))
        const error = yield* Effect.flip(Client.text(streamed("https://api.test/307")))
        expect(error._tag === "RedirectError" && [error.reason, error.hops]).toEqual(["BodyNotReplayable", 0])
        expect(yield* Client.text(streamed("https://api.test/303"))).toBe("ok")
      }),
      once
    ))

  it.effect("a cross-origin hop drops Authorization, Cookie and Proxy-Authorization; the same origin keeps them", () =>
    run(
      {
        "https://a.test/go": (req) => Testing.redirect(req.url.searchParams.get("to")!),
        "/echo": Testing.text("ok")
      },
      Effect.gen(function*() {
        const secrets = { authorization: "Bearer secret", cookie: "session=1", "proxy-authorization": "Basic x", "x-keep": "yes" }
        const go = (to: string) =>
          Client.discard(HttpClientRequest.get(`https://a.test/go?to=${encodeURIComponent(to)}`).pipe(HttpClientRequest.setHeaders(secrets)))
        for (const to of ["https://b.test/echo", "https://a.test:8443/echo", "http://a.test/echo", "https://a.test/echo"]) {
          yield* go(to)
        }
        const hops = (yield* Testing.requestsTo("/echo")).map((r) => [
          r.url,
          r.headers["authorization"],
          r.headers["cookie"],
          r.headers["proxy-authorization"],
          r.headers["x-keep"]
        ])
        expect(hops).toEqual([
          ["https://b.test/echo", undefined, undefined, undefined, "yes"],
          ["https://a.test:8443/echo", undefined, undefined, undefined, "yes"],
          ["http://a.test/echo", undefined, undefined, undefined, "yes"],
          ["https://a.test/echo", "Bearer secret", "session=1", "Basic x", "yes"]
        ])
      }),
      // https -> http is allowed here so the scheme change can be observed.
      { ...once, allowHttpsDowngrade: true }
    ))

  it.effect("https -> http is refused by default, before anything is sent over http", () =>
    run(
      { "https://secure.test/x": Testing.redirect("http://plain.test/x?token=abc"), "http://plain.test/x": Testing.text("plain") },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://secure.test/x"))
        expect(error._tag === "RedirectError" && [error.reason, error.location, error.hops]).toEqual([
          "Downgrade",
          "http://plain.test/x?token=***",
          0
        ])
        expect(yield* Testing.requestsTo("http://plain.test/x")).toHaveLength(0)
      }),
      once
    ))

  it.effect("a loop is a RedirectError, caught on the first revisit", () =>
    run(
      { "/a": Testing.redirect("/b"), "/b": Testing.redirect("/a"), "/self": Testing.redirect("/self") },
      Effect.gen(function*() {
        const loop = yield* Effect.flip(Client.text("https://api.test/a"))
        expect(loop._tag === "RedirectError" && [loop.reason, loop.hops]).toEqual(["Loop", 1])
        const self = yield* Effect.flip(Client.text("https://api.test/self"))
        expect(self._tag === "RedirectError" && [self.reason, self.hops]).toEqual(["Loop", 0])
        expect((yield* Testing.requests).map((r) => r.path)).toEqual(["/a", "/b", "/self"])
      }),
      once
    ))

  it.effect("more than maxRedirects hops is TooMany: 10 by default, per request if asked", () =>
    run(
      { "/chain/:n": (req) => (req.params["n"] === "0" ? Testing.text("end") : Testing.redirect(`/chain/${Number(req.params["n"]) - 1}`)) },
      Effect.gen(function*() {
        const ten = yield* Client.discard("https://api.test/chain/10")
        expect([ten.redirects, ten.url.pathname]).toEqual([10, "/chain/0"])
        yield* Testing.reset
        const eleven = yield* Effect.flip(Client.text("https://api.test/chain/11"))
        expect(eleven._tag === "RedirectError" && [eleven.reason, eleven.hops]).toEqual(["TooMany", 10])
        expect(yield* Testing.requests).toHaveLength(11)
        const few = yield* Effect.flip(Client.text("https://api.test/chain/3", { maxRedirects: 2 }))
        expect(few._tag === "RedirectError" && [few.reason, few.hops]).toEqual(["TooMany", 2])
      }),
      once
    ))

  it.effect("intermediate responses are released: drained when small, aborted when more than 64 KiB is still to come", () =>
    run(
      {
        "/small": Testing.redirect("/end", 302, { headers: { "content-type": "text/plain" } }),
        "/moved": { status: 301, headers: { location: "/end" }, body: "Moved Permanently" },
        "/big": { status: 302, headers: { location: "/end" }, body: ["<", Testing.pause("1 second"), "x".repeat(100_000)] },
        "/end": Testing.text("end")
      },
      Effect.gen(function*() {
        for (const from of ["small", "moved", "big"]) expect(yield* Client.text(`https://api.test/${from}`)).toBe("end")
        const fates = (yield* Testing.requests).map((r) => [r.path, r.responseBody])
        expect(fates).toEqual([
          ["/small", "drained"],
          ["/end", "consumed"],
          ["/moved", "drained"],
          ["/end", "consumed"],
          ["/big", "aborted"],
          ["/end", "consumed"]
        ])
        expect(yield* Testing.inFlight).toBe(0)
      }),
      once
    ))

  it.effect("a relative Location resolves against the current URL; its fragment is dropped", () =>
    run(
      { "/dir/start": Testing.redirect("../other/page?x=1#frag"), "/other/page": Testing.text("ok") },
      Effect.gen(function*() {
        const head = yield* Client.discard("https://api.test/dir/start")
        expect(head.url.href).toBe("https://api.test/other/page?x=1")
      }),
      once
    ))

  it.effect("an invalid Location is InvalidLocation; a 3xx without Location is a final answer", () =>
    run(
      { "/ftp": Testing.redirect("ftp://files.test/x"), "/bare": Testing.status(302, { body: "no location" }) },
      Effect.gen(function*() {
        const ftp = yield* Effect.flip(Client.text("https://api.test/ftp"))
        expect(ftp._tag === "RedirectError" && ftp.reason).toBe("InvalidLocation")
        const bare = yield* Effect.flip(Client.text("https://api.test/bare"))
        expect(bare._tag === "StatusError" && [bare.status, bare.bodySnippet]).toEqual([302, "no location"])
        expect(yield* Client.text("https://api.test/bare", { accept: (s) => s === 302 })).toBe("no location")
      }),
      once
    ))

  it.effect("followRedirects: false hands the 3xx back as it is", () =>
    run(
      { "/a": Testing.redirect("/b"), "/b": Testing.text("b") },
      Effect.gen(function*() {
        const head = yield* Client.discard("https://api.test/a", { followRedirects: false, accept: (s) => s < 400 })
        expect([head.status, head.headers["location"], head.redirects]).toEqual([302, "/b", 0])
        expect(yield* Testing.requests).toHaveLength(1)
      }),
      once
    ))

  it.effect("one deadline covers the whole chain of hops", () =>
    run(
      {
        "/hop/:n": (req) =>
          Testing.redirect(`/hop/${Number(req.params["n"]) + 1}`, 302, { latency: "2 seconds" })
      },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/hop/0", { deadline: "5 seconds" }))
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(error._tag === "NetworkError" && error.url).toBe("https://api.test/hop/2")
        const records = yield* Testing.requests
        expect(records.map((r) => [r.path, r.at, r.endedAt, r.interrupted])).toEqual([
          ["/hop/0", 0, 2000, false],
          ["/hop/1", 2000, 4000, false],
          ["/hop/2", 4000, 5000, true]
        ])
      }),
      once
    ))

  it.effect("a retry starts over from the URL the caller asked for", () =>
    run(
      { "/a": Testing.redirect("/b"), "/b": [Testing.status(503), Testing.text("ok")] },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/a")).toBe("ok")
        const records = yield* Testing.requests
        expect(records.map((r) => [r.path, r.at])).toEqual([["/a", 0], ["/b", 0], ["/a", 1000], ["/b", 1000]])
      }),
      exact
    ))
})

describe("virtual time: scoped bodies", () => {
  it.effect("an unread body is drained with its scope when small, aborted when large", () =>
    run(
      {
        "/small": Testing.text("small"),
        "/large": Testing.text(["head", Testing.pause("1 second"), "x".repeat(100_000)])
      },
      Effect.gen(function*() {
        yield* Effect.scoped(Client.open("https://api.test/small"))
        yield* Effect.scoped(Client.open("https://api.test/large"))
        const records = yield* Testing.requests
        expect(records.map((r) => [r.responseBody, r.bytesRead])).toEqual([["drained", 0], ["aborted", 0]])
        expect(yield* Testing.inFlight).toBe(0)
      }),
      once
    ))

  it.effect("a failure of the caller's own code drains the body; interruption aborts it", () =>
    run(
      { "/x": Testing.text(["a", Testing.pause("1 second"), "b"]) },
      Effect.gen(function*() {
        const failed = yield* Effect.flip(Client.withResponse("https://api.test/x", () => Effect.fail("mine" as const)))
        expect(failed).toBe("mine")
        const fiber = yield* Effect.fork(Client.withResponse("https://api.test/x", (r) => r.text))
        yield* Effect.sleep("500 millis")
        yield* Fiber.interrupt(fiber)
        const records = yield* Testing.requests
        expect(records.map((r) => [r.responseBody, r.interrupted, r.endedAt])).toEqual([
          ["drained", false, 0],
          ["aborted", true, 500]
        ])
      }),
      once
    ))
})
