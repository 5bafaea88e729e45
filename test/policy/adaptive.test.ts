/**
 * The adaptive concurrency limit (src/internal/policy/adaptive.ts) under TestClock: AIMD on
 * drops, the latency gradient against the minimum RTT, bounds, and interruption as no signal.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, TestClock } from "effect"
import * as Adaptive from "../../src/internal/policy/adaptive.js"

/** `n` requests taken together, all answered after `rtt` ms with `signal`. */
const flight = (limit: Adaptive.AdaptiveLimit, n: number, rtt: number, signal: Adaptive.Signal = "ok") =>
  Effect.gen(function*() {
    const slots = yield* Effect.all(Array.from({ length: n }, () => limit.acquire))
    yield* TestClock.adjust(rtt)
    for (const slot of slots) yield* slot.release(signal, rtt)
  })

/** A host with `capacity` servers shared by whoever is in flight: RTT = service * max(1, inFlight / capacity). */
const sharedHost = (limit: Adaptive.AdaptiveLimit, capacity: () => number, serviceMs: number) =>
  Effect.suspend(() => Effect.sleep(serviceMs * Math.max(1, limit.inFlight() / capacity())))

describe("adaptive limit: drops (AIMD)", () => {
  it.effect("a drop cuts the limit by `backoff`, once per flight", () =>
    Effect.gen(function*() {
      const limit = Adaptive.unsafeMake({ max: 64, initial: 20, backoff: 0.8 })
      yield* flight(limit, 5, 10, "drop")
      // Five drops from one flight are one congestion event: 20 * 0.8, not 20 * 0.8^5.
      expect(limit.current()).toBe(16)
      yield* flight(limit, 3, 10, "drop")
      expect(limit.current()).toBe(12) // 16 * 0.8 = 12.8
      expect(limit.inFlight()).toBe(0)
    }))

  it.effect("grows additively (sqrt(limit) per window) while the RTT stays at the minimum and the limit is used", () =>
    Effect.gen(function*() {
      const limit = Adaptive.unsafeMake({ max: 64, initial: 16, window: "100 millis", windowSamples: 8 })
      // Windows open at the first sample (t = 20) and close at the first sample 100 ms later.
      for (let i = 0; i < 6; i++) yield* flight(limit, 16, 20)
      expect(limit.minRtt()).toBe(20)
      expect(limit.current()).toBe(20) // 16 + sqrt(16)
      for (let i = 0; i < 5; i++) yield* flight(limit, 16, 20)
      expect(limit.current()).toBe(24) // 20 + sqrt(20) = 24.47
    }))

  it.effect("does not grow while the caller uses less than half the limit (app-limited)", () =>
    Effect.gen(function*() {
      const limit = Adaptive.unsafeMake({ max: 64, initial: 16, windowSamples: 2 })
      for (let i = 0; i < 40; i++) yield* flight(limit, 2, 20)
      expect(limit.minRtt()).toBe(20)
      expect(limit.current()).toBe(16)
    }))
})

describe("adaptive limit: latency gradient", () => {
  it.effect("cuts the limit when the RTT inflates past the buffer, and not within it", () =>
    Effect.gen(function*() {
      const limit = Adaptive.unsafeMake({ max: 64, initial: 32, buffer: 0.25 })
      for (let i = 0; i < 6; i++) yield* flight(limit, 32, 20)
      expect(limit.current()).toBe(37) // 32 + sqrt(32): minRtt 20, flat
      // 24 ms is within 25% of 20 ms: noise, not queueing; the limit keeps growing.
      for (let i = 0; i < 5; i++) yield* flight(limit, 32, 24)
      const grown = limit.current()
      expect(grown).toBeGreaterThan(37)
      // 60 ms against 20 * 1.25: a queue. gradient = 25 / 60, floored at 0.5.
      // One window of 60 ms samples (flights taken while the limit still allows 32).
      for (let i = 0; i < 3 && limit.current() >= 32; i++) yield* flight(limit, 32, 60)
      expect(limit.current()).toBe(Math.floor(0.5 * grown + Math.sqrt(grown)))
    }))

  it.effect("finds a shared host's capacity: settles above it and below where drops start", () =>
    Effect.gen(function*() {
      // 16 servers, 20 ms each; more in flight only queue. 48 callers want to send. Windows of
      // 16 samples keep the virtual run short (each TestClock wake-up costs real time).
      const limit = Adaptive.unsafeMake({ max: 48, initial: 4, window: 0, windowSamples: 16 })
      let capacity = 16
      const worker = Effect.forever(limit.run(sharedHost(limit, () => capacity, 20), () => "ok"))
      const workers = yield* Effect.forkAll(Array.from({ length: 48 }, () => worker))
      yield* TestClock.adjust("600 millis")
      const settled = limit.current()
      expect(settled).toBeGreaterThanOrEqual(16)
      expect(settled).toBeLessThan(32)
      expect(limit.minRtt()).toBe(20)
      // Half the servers go away: it follows within a couple of seconds.
      capacity = 8
      yield* TestClock.adjust("400 millis")
      expect(limit.current()).toBeGreaterThanOrEqual(8)
      expect(limit.current()).toBeLessThan(16)
      yield* Fiber.interrupt(workers)
      expect(limit.inFlight()).toBe(0)
    }))

  it.effect("measures the minimum RTT again after minRttInterval, under a pinned limit", () =>
    Effect.gen(function*() {
      const limit = Adaptive.unsafeMake({ max: 64, initial: 16, minRttInterval: "1 second" })
      for (let i = 0; i < 6; i++) yield* flight(limit, 16, 20)
      expect(limit.minRtt()).toBe(20)
      // The host became slower for good (40 ms unloaded): without a fresh measurement the
      // limit would keep shrinking against a minimum it can never reach again.
      while (limit.minRtt() === 20) yield* flight(limit, Math.min(4, limit.current()), 40)
      expect(limit.minRtt()).toBe(40)
    }))
})

describe("adaptive limit: bounds and interruption", () => {
  it.effect("stays within [min, max]", () =>
    Effect.gen(function*() {
      const limit = Adaptive.unsafeMake({ max: 24, min: 3, initial: 10 })
      for (let i = 0; i < 30; i++) yield* flight(limit, 1, 10, "drop")
      expect(limit.current()).toBe(3)
      for (let i = 0; i < 200; i++) yield* flight(limit, limit.current(), 10)
      expect(limit.current()).toBe(24)
    }))

  it.effect("waits while in flight >= limit; an interrupted waiter leaves no trace", () =>
    Effect.gen(function*() {
      const limit = Adaptive.unsafeMake({ max: 8, initial: 2 })
      const a = yield* limit.acquire
      yield* limit.acquire
      const waiter = yield* Effect.fork(limit.acquire)
      yield* TestClock.adjust(1000)
      expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)
      yield* Fiber.interrupt(waiter)
      expect(limit.inFlight()).toBe(2)
      yield* a.release("ignore", 0)
      yield* a.release("drop", 0) // a second release does nothing
      expect(limit.inFlight()).toBe(1)
      expect(limit.current()).toBe(2)
      // The freed place goes to the next acquire at once, not to the interrupted waiter.
      const next = yield* Effect.fork(limit.acquire)
      yield* TestClock.adjust(0)
      expect(Option.isSome(yield* Fiber.poll(next))).toBe(true)
      expect(limit.inFlight()).toBe(2)
    }))

  it.effect("an interrupted run is no signal: in-flight count restored, limit and RTT untouched", () =>
    Effect.gen(function*() {
      const limit = Adaptive.unsafeMake({ max: 8, initial: 4, windowSamples: 1, window: 0 })
      const fiber = yield* Effect.fork(limit.run(Effect.sleep("10 seconds"), () => "drop"))
      yield* TestClock.adjust(5000)
      expect(limit.inFlight()).toBe(1)
      yield* Fiber.interrupt(fiber)
      expect(limit.inFlight()).toBe(0)
      expect(limit.current()).toBe(4)
      expect(limit.minRtt()).toBeUndefined()
      // A completed run is a signal: classified from its exit, timed on the Clock.
      const done = yield* Effect.fork(limit.run(Effect.as(Effect.sleep(30), 1), (e) => (Exit.isSuccess(e) ? "ok" : "drop")))
      yield* TestClock.adjust(30)
      expect(yield* Fiber.await(done)).toStrictEqual(Exit.succeed(1))
      expect(limit.minRtt()).toBe(30)
    }))

  it("rejects invalid options with an error naming the option", () => {
    expect(() => Adaptive.unsafeMake({ max: 0 })).toThrow(/max must be a whole number >= 1/)
    expect(() => Adaptive.unsafeMake({ max: 4, min: 5 })).toThrow(/min \(5\) must not exceed max \(4\)/)
    expect(() => Adaptive.unsafeMake({ max: 4, backoff: 1 })).toThrow(/backoff must be in/)
  })
})
