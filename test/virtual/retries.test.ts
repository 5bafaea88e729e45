/**
 * The client's retry rules in virtual time, over the simulated transport: backoff, jitter,
 * Retry-After, what is retried and what is not, each assertion at an exact virtual time.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Duration, Effect, Fiber, Option, Random, Stream, TestClock } from "effect"
import * as Client from "../../src/Client.js"
import * as Testing from "../../src/Testing.js"
import { arrivals, exact, now, run, timeoutOf } from "./support.js"

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

describe("virtual time: the default retry policy (no options passed)", () => {
  it.effect("Retry-After: 60 is honoured, 61 fails at once with the StatusError", () =>
    run(
      {
        "/sixty": [Testing.status(503, { headers: { "retry-after": "60" } }), Testing.text("ok")],
        "/sixty-one": [Testing.status(503, { headers: { "retry-after": "61" } }), Testing.text("ok")]
      },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/sixty")).toBe("ok")
        expect(yield* arrivals).toEqual([0, 60_000])
        const error = yield* Effect.flip(Client.text("https://api.test/sixty-one"))
        expect(error._tag === "StatusError" && [error.status, error.retryAfter]).toEqual([503, Option.some(Duration.seconds(61))])
        expect(yield* now).toBe(60_000)
        expect(yield* Testing.requestsTo("/sixty-one")).toHaveLength(1)
      })
    ))

  it.effect("PATCH and POST without an Idempotency-Key are not retried on a 503; POST with one is", () =>
    run(
      {
        "PATCH /item": [Testing.status(503), Testing.text("patched")],
        "POST /pay": (req) => (req.call % 2 === 0 ? Testing.status(503) : Testing.text("paid"))
      },
      Effect.gen(function*() {
        const patch = HttpClientRequest.patch("https://api.test/item").pipe(HttpClientRequest.bodyText("{}"))
        const patched = yield* Effect.flip(Client.text(patch))
        expect(patched._tag === "StatusError" && patched.status).toBe(503)
        const pay = HttpClientRequest.post("https://api.test/pay").pipe(HttpClientRequest.bodyText("{}"))
        const paid = yield* Effect.flip(Client.text(pay))
        expect(paid._tag === "StatusError" && paid.status).toBe(503)
        expect((yield* Testing.requests).map((r) => r.method)).toEqual(["PATCH", "POST"])
        expect(yield* now).toBe(0)
        yield* Testing.reset
        expect(yield* Client.text(pay.pipe(HttpClientRequest.setHeader("Idempotency-Key", "k1")))).toBe("paid")
        expect((yield* Testing.requests).map((r) => r.method)).toEqual(["POST", "POST"])
      })
    ))
})
