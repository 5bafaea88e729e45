import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Ref, TestClock } from "effect"
import { NetworkError, StatusError } from "../src/Errors.js"
import * as Retry from "../src/Retry.js"

const status = (code: number, retryAfter?: Duration.DurationInput) =>
  new StatusError({
    status: code,
    method: "GET",
    url: "http://127.0.0.1/x",
    retryAfter: retryAfter === undefined ? Option.none() : Option.some(Duration.decode(retryAfter)),
    bodySnippet: "",
    headers: {}
  })

const refused = new NetworkError({ reason: "ConnectionRefused", method: "GET", url: "http://127.0.0.1/x" })

/** Runs `failures` failing attempts then a success under the policy; returns the virtual times of each attempt. */
const attemptTimes = (policy: Retry.RetryPolicy, errors: ReadonlyArray<StatusError | NetworkError>, method = "GET") =>
  Effect.gen(function*() {
    const times = yield* Ref.make<Array<number>>([])
    const start = yield* TestClock.currentTimeMillis
    let calls = 0
    const attempt = Effect.gen(function*() {
      const now = yield* TestClock.currentTimeMillis
      yield* Ref.update(times, (t) => [...t, now - start])
      const error = errors[calls++]
      if (error !== undefined) return yield* Effect.fail(error)
      return "ok"
    })
    const fiber = yield* Effect.fork(Effect.either(Retry.retry(policy, method)(attempt)))
    yield* TestClock.adjust(Duration.hours(2))
    const result = yield* Fiber.join(fiber)
    return { result, times: yield* Ref.get(times) }
  })

describe("Retry", () => {
  const exact = Retry.policy({ jitter: false, baseDelay: "1 second", maxAttempts: 4 })

  it.effect("backs off exponentially on transient errors, on the Effect clock", () =>
    Effect.gen(function*() {
      const { result, times } = yield* attemptTimes(exact, [refused, status(502), status(500)])
      expect(result._tag).toBe("Right")
      expect(times).toEqual([0, 1000, 3000, 7000])
    }))

  it.effect("caps each delay at maxDelay", () =>
    Effect.gen(function*() {
      const capped = Retry.policy({ jitter: false, baseDelay: "1 second", maxDelay: "1500 millis", maxAttempts: 4 })
      const { times } = yield* attemptTimes(capped, [refused, refused, refused])
      expect(times).toEqual([0, 1000, 2500, 4000])
    }))

  it.effect("waits exactly what Retry-After says on 429 and 503", () =>
    Effect.gen(function*() {
      const { result, times } = yield* attemptTimes(exact, [status(429, "7 seconds"), status(503, "2 seconds")])
      expect(result._tag).toBe("Right")
      expect(times).toEqual([0, 7000, 9000])
    }))

  it.effect("fails at once when Retry-After exceeds maxRetryAfter", () =>
    Effect.gen(function*() {
      const { result, times } = yield* attemptTimes(exact, [status(503, "3 hours")])
      expect(times).toEqual([0])
      expect(result._tag === "Left" && result.left._tag === "StatusError" && result.left.status).toBe(503)
    }))

  it.effect("stops after maxAttempts and returns the last error", () =>
    Effect.gen(function*() {
      const { result, times } = yield* attemptTimes(exact, [status(503), status(503), status(503), status(504), status(503)])
      expect(times).toHaveLength(4)
      expect(result._tag === "Left" && result.left._tag === "StatusError" && result.left.status).toBe(504)
    }))

  it.effect("does not retry permanent statuses", () =>
    Effect.gen(function*() {
      const { times } = yield* attemptTimes(exact, [status(404)])
      expect(times).toEqual([0])
    }))

  it.effect("does not retry POST unless opted in or carrying an Idempotency-Key", () =>
    Effect.gen(function*() {
      const post = yield* attemptTimes(exact, [status(503)], "POST")
      expect(post.times).toEqual([0])
      const optedIn = yield* attemptTimes(Retry.policy({ retryNonIdempotent: true }, exact), [status(503)], "POST")
      expect(optedIn.times).toEqual([0, 1000])
      expect(Retry.isIdempotent("POST", { "idempotency-key": "k1" })).toBe(true)
    }))

  it.effect("jitter keeps delays within ±20% of the backoff, and does vary them", () =>
    Effect.gen(function*() {
      const jittered = Retry.policy({ jitter: true, baseDelay: "1 second", maxAttempts: 2 })
      const delays: Array<number> = []
      for (let i = 0; i < 12; i++) delays.push((yield* attemptTimes(jittered, [refused])).times[1]!)
      for (const delay of delays) {
        expect(delay).toBeGreaterThanOrEqual(800)
        expect(delay).toBeLessThanOrEqual(1200)
      }
      // Without jitter every delay would be exactly 1000: twelve draws are not all the same.
      expect(new Set(delays).size).toBeGreaterThan(1)
      expect(delays.some((d) => d !== 1000)).toBe(true)
    }))

  it.effect("interrupting the caller stops the plan during a wait", () =>
    Effect.gen(function*() {
      let calls = 0
      const fiber = yield* Effect.fork(Retry.retry(exact, "GET")(Effect.suspend(() => {
        calls++
        return Effect.fail(refused)
      })))
      yield* TestClock.adjust("500 millis")
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("1 hour")
      expect(calls).toBe(1)
    }))
})
