/**
 * The per-origin circuit breaker (src/internal/policy/breaker.ts) under TestClock, and its
 * CircuitOpenError.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Either, Exit, Fiber, TestClock } from "effect"
import { CircuitOpenError, isTransient, isVolleyError, NetworkError } from "../../src/Errors.js"
import * as Breaker from "../../src/internal/policy/breaker.js"

const A = "https://a.test"
const B = "https://b.test"

const options: Breaker.BreakerOptions = {
  failureRatio: 0.5,
  minThroughput: 10,
  window: "10 seconds",
  breakFor: "5 seconds",
  halfOpenProbes: 2
}

/** `n` calls to `origin` that end with `outcome`, one after the other. */
const calls = (breaker: Breaker.Breaker, origin: string, n: number, outcome: Breaker.Outcome) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) {
      const permit = yield* breaker.enter(origin)
      yield* permit.exit(outcome)
    }
  })

/** The breaker's answer to one more call: admitted (as a probe or not) or refused. */
const tryEnter = (breaker: Breaker.Breaker, origin: string) => Effect.either(breaker.enter(origin))

/** A breaker on A tripped at t = 0. */
const tripped = Effect.gen(function*() {
  const breaker = Breaker.unsafeMake(options)
  yield* calls(breaker, A, 10, "failure")
  expect(yield* breaker.state(A)).toBe("open")
  return breaker
})

describe("circuit breaker: closed -> open", () => {
  it.effect("opens at the failure ratio only once the window holds minThroughput outcomes", () =>
    Effect.gen(function*() {
      const breaker = Breaker.unsafeMake(options)
      yield* calls(breaker, A, 9, "failure") // 100% failed, but only 9 outcomes
      expect(yield* breaker.state(A)).toBe("closed")
      yield* calls(breaker, A, 1, "failure")
      expect(yield* breaker.state(A)).toBe("open")

      // Below the ratio: 4 failed of 10 stays closed, 5 of 11 too; 6 of 12 (50%) opens it.
      const other = Breaker.unsafeMake(options)
      yield* calls(other, B, 6, "success")
      yield* calls(other, B, 4, "failure")
      expect(yield* other.state(B)).toBe("closed")
      yield* calls(other, B, 1, "failure")
      expect(yield* other.state(B)).toBe("closed")
      yield* calls(other, B, 1, "failure")
      expect(yield* other.state(B)).toBe("open")
    }))

  it.effect("counts only the sliding window; interrupted calls count as nothing; origins are apart", () =>
    Effect.gen(function*() {
      const breaker = Breaker.unsafeMake(options)
      yield* calls(breaker, A, 9, "failure")
      yield* TestClock.adjust("11 seconds") // those nine slid out of the window
      yield* calls(breaker, A, 1, "failure")
      expect(yield* breaker.state(A)).toBe("closed")
      yield* calls(breaker, A, 20, "interrupted")
      expect(yield* breaker.state(A)).toBe("closed")
      yield* calls(breaker, A, 9, "failure")
      expect(yield* breaker.state(A)).toBe("open")
      expect(yield* breaker.state(B)).toBe("closed")
      expect(Either.isRight(yield* tryEnter(breaker, B))).toBe(true)
    }))
})

describe("circuit breaker: open", () => {
  it.effect("fails at once with CircuitOpenError carrying the origin and the rest of the break", () =>
    Effect.gen(function*() {
      const breaker = yield* tripped
      yield* TestClock.adjust("2 seconds")
      const before = yield* Clock.currentTimeMillis
      const refused = yield* Effect.flip(breaker.enter(A, { method: "GET", url: "https://u:secret@a.test/x?token=t" }))
      expect(yield* Clock.currentTimeMillis).toBe(before) // no wait at all
      expect(refused).toBeInstanceOf(CircuitOpenError)
      expect(refused.origin).toBe(A)
      expect(refused.state).toBe("open")
      expect(Duration.toMillis(refused.retryAfter)).toBe(3000)
      expect(refused.message).toBe("GET https://***@a.test/x?token=***: circuit open, failing fast (may close in 3s)")
      expect(isVolleyError(refused)).toBe(true)
      expect(isTransient(refused)).toBe(false)
      expect(refused).not.toBeInstanceOf(NetworkError)
      // run does not even start the effect.
      let started = false
      const exit = yield* Effect.exit(breaker.run(A, Effect.sync(() => (started = true)), () => "success"))
      expect(started).toBe(false)
      expect(Exit.isFailure(exit)).toBe(true)
    }))
})

describe("circuit breaker: half-open", () => {
  it.effect("lets exactly halfOpenProbes through; their successes close it", () =>
    Effect.gen(function*() {
      const breaker = yield* tripped
      yield* TestClock.adjust("5 seconds")
      expect(yield* breaker.state(A)).toBe("half-open")
      const p1 = yield* breaker.enter(A)
      const p2 = yield* breaker.enter(A)
      expect([p1.probe, p2.probe]).toStrictEqual([true, true])
      const third = yield* Effect.flip(breaker.enter(A))
      expect(third.state).toBe("half-open")
      yield* p1.exit("success")
      // One success is not enough, and its place is not handed out again.
      expect(yield* breaker.state(A)).toBe("half-open")
      expect(Either.isLeft(yield* tryEnter(breaker, A))).toBe(true)
      yield* p2.exit("success")
      expect(yield* breaker.state(A)).toBe("closed")
      const after = yield* breaker.enter(A)
      expect(after.probe).toBe(false)
    }))

  it.effect("a probe failure opens it again for a full break; stale outcomes change nothing", () =>
    Effect.gen(function*() {
      const breaker = Breaker.unsafeMake(options)
      const early = yield* breaker.enter(A) // admitted while closed, ends after the trip
      yield* calls(breaker, A, 10, "failure")
      yield* TestClock.adjust("5 seconds")
      const probe = yield* breaker.enter(A)
      yield* early.exit("success") // from before the break: not a probe result
      expect(yield* breaker.state(A)).toBe("half-open")
      yield* TestClock.adjust("1 second")
      yield* probe.exit("failure")
      expect(yield* breaker.state(A)).toBe("open")
      const refused = yield* Effect.flip(breaker.enter(A))
      expect(Duration.toMillis(refused.retryAfter)).toBe(5000)
    }))

  it.effect("an interrupted probe gives its place back (exit and run)", () =>
    Effect.gen(function*() {
      const breaker = Breaker.unsafeMake({ ...options, halfOpenProbes: 1 })
      yield* calls(breaker, A, 10, "failure")
      yield* TestClock.adjust("5 seconds")
      const probe = yield* breaker.enter(A)
      expect(Either.isLeft(yield* tryEnter(breaker, A))).toBe(true)
      yield* probe.exit("interrupted")
      expect(yield* breaker.state(A)).toBe("half-open")

      // The same through run: the probe hangs, its caller is interrupted.
      const hanging = yield* Effect.fork(breaker.run(A, Effect.never, () => "failure"))
      yield* TestClock.adjust(0)
      expect(Either.isLeft(yield* tryEnter(breaker, A))).toBe(true)
      yield* Fiber.interrupt(hanging)
      expect(yield* breaker.state(A)).toBe("half-open")
      const ok = yield* Effect.exit(breaker.run(A, Effect.succeed(1), () => "success"))
      expect(ok).toStrictEqual(Exit.succeed(1))
      expect(yield* breaker.state(A)).toBe("closed")
    }))

  it("rejects invalid options with an error naming the option", () => {
    expect(() => Breaker.unsafeMake({ ...options, failureRatio: 0 })).toThrow(/failureRatio must be in \(0, 1\]/)
    expect(() => Breaker.unsafeMake({ ...options, halfOpenProbes: 0 })).toThrow(/halfOpenProbes must be a whole number/)
    expect(() => Breaker.unsafeMake({ ...options, window: 0 })).toThrow(/window must be a positive/)
  })
})
