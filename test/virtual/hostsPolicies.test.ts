/**
 * The opt-in per-host policies wired into the client, in virtual time, against the test kit's
 * server models: `perHost: "adaptive"` on a host of fixed capacity, the circuit breaker on a
 * host that is down, and interruption in the middle of a probe.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, Fiber, Metric } from "effect"
import * as Batch from "../../src/Batch.js"
import * as Client from "../../src/Client.js"
import { metrics } from "../../src/internal/policy/perHost.js"
import * as Testing from "../../src/Testing.js"

type Env = Client.Client | Testing.TestTransport

const run = <A, E>(routes: Testing.Routes, program: Effect.Effect<A, E, Env>, options?: Client.ClientOptions) =>
  Testing.inVirtualTime(program).pipe(Effect.provide(Testing.layer(routes, options)))

const urls = (host: string, n: number) => Array.from({ length: n }, (_, i) => `https://${host}/item/${i}`)

describe("virtual time: perHost adaptive", () => {
  it.effect("a host of 16 in service + 16 queued (20 ms): 2,000 requests at c=128 near its capacity, few 503s", () =>
    Effect.gen(function*() {
      const host = Testing.capacity({ inService: 16, queue: 16, serviceTime: "20 millis" })
      const outcome = yield* run(
        { "https://cap.test/*": host.reply },
        Effect.gen(function*() {
          const outcomes = yield* Batch.settle(urls("cap.test", 2000), { concurrency: 128, perHost: "adaptive" })
          return { failed: outcomes.filter((o) => Either.isLeft(o.result)).length, ms: yield* Clock.currentTimeMillis }
        })
      )
      const stats = yield* host.stats
      console.log("adaptive capacity:", { ...outcome, rejected: stats.rejected, requests: stats.requests })
      // 16 x 20 ms = 800/s: 2,000 take 2.5 s at full capacity.
      expect(outcome.failed).toBe(0)
      expect(outcome.ms).toBeLessThanOrEqual(2500 / 0.9)
      expect(stats.rejected / 2000).toBeLessThanOrEqual(0.02)
      const limit = yield* Metric.value(Metric.tagged(metrics.limit, "origin", "https://cap.test"))
      expect(limit.value).toBeGreaterThan(0)
      expect(limit.value).toBeLessThanOrEqual(128)
    }))

  it.effect("control: with a fixed concurrency of 128 the same host rejects far more", () =>
    Effect.gen(function*() {
      const host = Testing.capacity({ inService: 16, queue: 16, serviceTime: "20 millis" })
      yield* run({ "https://cap.test/*": host.reply }, Batch.settle(urls("cap.test", 500), { concurrency: 128 }))
      expect((yield* host.stats).rejected).toBeGreaterThan(50)
    }))

  it.effect("the client option: plain calls share one adaptive limit per origin", () =>
    Effect.gen(function*() {
      const host = Testing.capacity({ inService: 4, queue: 0, serviceTime: "10 millis" })
      yield* run(
        { "https://cap.test/*": host.reply },
        Effect.forEach(urls("cap.test", 400), (url) => Effect.either(Client.text(url)), { concurrency: 64, discard: true }),
        { perHost: "adaptive", connectionsPerOrigin: 64 }
      )
      const stats = yield* host.stats
      // Without the limit 60 of the first 64 would be refused at once.
      expect(stats.rejected).toBeLessThan(60)
    }))
})

describe("virtual time: circuit breaker", () => {
  it.effect("a host that is down: once open, calls fail at once without reaching it; at most N probes per break", () =>
    Effect.gen(function*() {
      const host = Testing.outage({ latency: "10 millis" })
      const result = yield* run(
        { "https://down.test/*": host.reply },
        Effect.gen(function*() {
          const outcomes = yield* Batch.settle(urls("down.test", 500), {
            concurrency: 8,
            rate: 100, // 5 s of calls
            circuitBreaker: { minThroughput: 10, breakFor: "1 second", halfOpenProbes: 2 }
          })
          return outcomes
        }),
        { retry: { maxAttempts: 1 } }
      )
      const stats = yield* host.stats
      const refusals = result.filter((o) => Either.isLeft(o.result) && o.result.left._tag === "CircuitOpenError")
      console.log("breaker:", { reached: stats.requests, refused: refusals.length })
      expect(refusals.length).toBeGreaterThan(400)
      // Refused at once: not sent, no time spent.
      expect(refusals.every((o) => o.attempts === 1 && o.durationMs === 0)).toBe(true)
      // ~10 to trip, then at most 2 probes per 1 s break over ~5 s.
      expect(stats.requests).toBeLessThanOrEqual(10 + 8 + 2 * 6)
      expect(Batch.summarize(result).breakerRefused).toBe(refusals.length)
    }))

  it.effect("an interrupted probe leaves nothing stuck: the next batch probes at once and closes the breaker", () =>
    Effect.gen(function*() {
      // Down for 2 s; the probes hang for 10 s meanwhile (latency), then the host is up and quick.
      let up = false
      const host = Testing.outage({ latency: "10 millis" })
      yield* run(
        {
          "https://flaky.test/*": (req) => up ? Testing.text("ok") : host.reply(req)
        },
        Effect.gen(function*() {
          const options = { concurrency: 4, circuitBreaker: { minThroughput: 4, breakFor: "1 second", halfOpenProbes: 1 } } as const
          yield* Batch.settle(urls("flaky.test", 8), options) // trips it
          yield* Effect.sleep("1 second") // the break ends
          const slow = yield* Effect.fork(Batch.settle(urls("flaky.test", 4).map((u) => u + "?slow"), options))
          yield* Effect.sleep("5 millis") // the probe is in flight
          yield* Fiber.interrupt(slow)
          up = true
          const start = yield* Clock.currentTimeMillis
          const next = yield* Batch.settle(urls("flaky.test", 4), options)
          expect(next.every((o) => Either.isRight(o.result))).toBe(true)
          expect((yield* Clock.currentTimeMillis) - start).toBeLessThan(50)
        }),
        { retry: { maxAttempts: 1 } }
      )
    }))
})
