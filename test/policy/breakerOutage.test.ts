/**
 * The circuit breaker against the test kit's outage model, with nothing in between (no
 * client), in virtual time: the "with the breaker, at most N probes per break period,
 * and calls fail at once while it is open", at the level of the two pieces.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either } from "effect"
import * as Breaker from "../../src/internal/policy/breaker.js"
import * as Testing from "../../src/Testing.js"

const request = (id: number): Testing.TestRequest => ({
  method: "GET",
  url: new URL(`https://down.test/x/${id}`),
  headers: {},
  body: undefined,
  bodyBytes: undefined,
  params: {},
  call: id,
  id
})

describe("circuit breaker x outage model", () => {
  it.effect("a host down for 10 s then up: the trip, then at most N probes per break, refusals at once, closed once it is back", () =>
    Effect.gen(function*() {
      const host = Testing.outage({ windows: [{ from: 0, to: "10 seconds" }], latency: "10 millis" })
      const breaker = Breaker.unsafeMake({ failureRatio: 0.5, minThroughput: 10, window: "10 seconds", breakFor: "2 seconds", halfOpenProbes: 2 })
      let refused = 0
      let slowRefusal = 0
      let id = 0
      // 4 callers, one call every 50 ms each, for 12 s.
      const caller = Effect.gen(function*() {
        for (let i = 0; i < 240; i++) {
          const before = yield* Clock.currentTimeMillis
          const result = yield* Effect.either(
            breaker.run("https://down.test", host.reply(request(++id)) as Effect.Effect<Testing.Reply>, (exit) =>
              exit._tag === "Success" && "status" in exit.value && (exit.value.status ?? 200) < 500 ? "success" : "failure")
          )
          if (Either.isLeft(result)) {
            refused++
            if ((yield* Clock.currentTimeMillis) !== before) slowRefusal++
          }
          yield* Effect.sleep("50 millis")
        }
      })
      yield* Testing.inVirtualTime(Effect.all([caller, caller, caller, caller], { concurrency: "unbounded" }))
      const stats = yield* host.stats
      // Tripped after 10 failures; then 2 s breaks over the rest of the 10 s outage: 4 or 5
      // half-open periods of at most 2 probes each. Without the breaker: 800 requests in 10 s.
      // Measured: 12 to trip (the 10th failure opens it; two more were already in flight), then
      // 2 probes at 2140, 4150, 6160 and 8170 ms: 20 requests reached the host.
      const trip = stats.rejectedAt.filter((t) => t < 1000)
      expect(trip.length).toBeGreaterThanOrEqual(10)
      expect(trip.length).toBeLessThanOrEqual(10 + 3) // at most the other callers' calls in flight
      const probes = stats.rejectedAt.filter((t) => t >= 1000)
      const periods = new Map<number, number>()
      for (const t of probes) periods.set(t, (periods.get(t) ?? 0) + 1)
      expect([...periods.values()].every((n) => n <= 2)).toBe(true)
      const starts = [...periods.keys()]
      expect(starts.every((t, i) => i === 0 || t - starts[i - 1]! >= 2000)).toBe(true)
      expect(probes.length).toBeLessThanOrEqual(2 * 5)
      expect(slowRefusal).toBe(0)
      expect(refused).toBeGreaterThan(700)
      // Back up at 10 s: the next half-open probes succeed and it closes.
      expect(yield* breaker.state("https://down.test")).toBe("closed")
      expect(stats.served).toBeGreaterThan(0)
    }))
})
