/**
 * Per-host control in virtual time: the retry budget on a host that is down, isolation of
 * origins, and interruption in the middle of a pause or of paced waits.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, Fiber, Metric } from "effect"
import * as Batch from "../../src/Batch.js"
import * as Client from "../../src/Client.js"
import { metrics } from "../../src/internal/policy/hosts.js"
import * as Testing from "../../src/Testing.js"

type Env = Client.Client | Testing.TestTransport

const run = <A, E>(routes: Testing.Routes, program: Effect.Effect<A, E, Env>, options?: Client.ClientOptions) =>
  Testing.inVirtualTime(program).pipe(Effect.provide(Testing.layer(routes, options)))

const urls = (host: string, n: number) => Array.from({ length: n }, (_, i) => `https://${host}/item/${i}`)

describe("virtual time: retry budget", () => {
  it.effect("a host that is down (always 503): 500 requests at c=32 reach it at most 1.25x with the default budget", () =>
    run(
      { "/item/:n": Testing.status(503, { latency: "10 millis" }) },
      Effect.gen(function*() {
        const outcomes = yield* Batch.settle(urls("down.test", 500), { concurrency: 32 })
        const sent = (yield* Testing.requests).length
        expect(outcomes.every((o) => Either.isLeft(o.result))).toBe(true)
        expect(sent / 500).toBeLessThanOrEqual(1.25)
        // Refused items say so, and fail with their last error (the 503).
        const refused = outcomes.filter((o) => o.retryRefused === "budget")
        expect(refused.length).toBeGreaterThan(0)
        expect(refused.every((o) => Either.isLeft(o.result) && o.result.left._tag === "StatusError")).toBe(true)
        const summary = Batch.summarize(outcomes)
        expect(summary.budgetRefused).toBe(refused.length)
        expect(summary.outcomes).toEqual({ "HTTP 503": 500 })
        // The same counts as Effect Metrics, per origin.
        const counted = (metric: typeof metrics.budgetRefused) =>
          Effect.map(Metric.value(Metric.tagged(metric, "origin", "https://down.test")), (state) => state.count)
        expect(yield* counted(metrics.budgetRefused)).toBeGreaterThanOrEqual(refused.length)
        expect(yield* counted(metrics.budgetSpent)).toBeGreaterThanOrEqual(sent - 500)
      })
    ))

  it.effect("control: without the budget the same host gets the full 3x", () =>
    run(
      { "/item/:n": Testing.status(503, { latency: "10 millis" }) },
      Effect.gen(function*() {
        yield* Batch.settle(urls("down.test", 100), { concurrency: 32 })
        expect((yield* Testing.requests).length).toBe(300)
      }),
      { retryBudget: false, retry: { jitter: false } }
    ))

  it.effect("plain Client calls share the budget with Batch: once Batch spent it, a call is not retried", () =>
    run(
      { "/item/:n": Testing.status(503, { latency: "10 millis" }) },
      Effect.gen(function*() {
        yield* Batch.settle(urls("down.test", 100), { concurrency: 8 })
        yield* Testing.reset
        const error = yield* Effect.flip(Client.text("https://down.test/item/x"))
        expect(error._tag).toBe("StatusError")
        expect((yield* Testing.requests).length).toBe(1)
      })
    ))

  it.effect("low traffic still retries (the floor): one failing call gets its retries", () =>
    run(
      { "/item/:n": [Testing.status(503), Testing.status(503), Testing.text("ok")] },
      Effect.gen(function*() {
        expect(yield* Client.text("https://quiet.test/item/1")).toBe("ok")
        expect((yield* Testing.requests).length).toBe(3)
      })
    ))
})

describe("virtual time: origins are independent", () => {
  it.effect("a paused, failing origin A does not change origin B's throughput (within 5%)", () =>
    Effect.gen(function*() {
      const routes: Testing.Routes = {
        "https://a.test/*": Testing.status(429, { headers: { "retry-after": "1" }, latency: "5 millis" }),
        "https://b.test/*": Testing.text("ok", { latency: "10 millis" })
      }
      const alone = yield* run(routes, Effect.gen(function*() {
        yield* Batch.settle(urls("b.test", 800), { concurrency: 16 })
        return yield* Clock.currentTimeMillis
      }))
      const mixed = yield* run(routes, Effect.gen(function*() {
        const a = yield* Effect.fork(Batch.settle(urls("a.test", 400), { concurrency: 16 }))
        const start = yield* Clock.currentTimeMillis
        const b = yield* Batch.settle(urls("b.test", 800), { concurrency: 16 })
        const end = yield* Clock.currentTimeMillis
        yield* Fiber.interrupt(a)
        expect(b.every((o) => Either.isRight(o.result))).toBe(true)
        expect((yield* Testing.requestsTo("https://a.test/*")).length).toBeGreaterThan(0)
        return end - start
      }))
      expect(alone).toBe(500)
      expect(Math.abs(mixed - alone) / alone).toBeLessThanOrEqual(0.05)
    }))
})

describe("virtual time: interruption leaves nothing stuck", () => {
  it.effect("a batch interrupted mid-pause: nothing in flight, and the next batch runs the moment the pause ends", () => {
    let calls = 0
    return run(
      { "/item/:n": () => calls++ === 0 ? Testing.status(429, { headers: { "retry-after": "2" } }) : Testing.text("ok") },
      Effect.gen(function*() {
        const cut = yield* Effect.timeoutOption(Batch.settle(urls("api.test", 50), { concurrency: 8 }), "1 second")
        expect(cut._tag).toBe("None")
        expect(yield* Testing.inFlight).toBe(0)
        yield* Effect.sleep("1 second") // the server's pause ends at 2 s
        yield* Testing.reset
        const outcomes = yield* Batch.settle(urls("api.test", 10), { concurrency: 10 })
        expect(outcomes.every((o) => Either.isRight(o.result))).toBe(true)
        expect((yield* Testing.requests).map((r) => r.at)).toEqual(Array(10).fill(2000))
      })
    )
  })

  it.effect("a batch interrupted while paced: its reserved slots are given back", () =>
    run(
      {
        // 20 left in a 10 s window: dispatches are spread, 500 ms apart.
        "/item/:n": Testing.text("ok", { headers: { "ratelimit": "limit=100, remaining=20, reset=10" } })
      },
      Effect.gen(function*() {
        yield* Client.text("https://api.test/item/first")
        const cut = yield* Effect.timeoutOption(Batch.settle(urls("api.test", 20), { concurrency: 20 }), "1200 millis")
        expect(cut._tag).toBe("None")
        expect(yield* Testing.inFlight).toBe(0)
        // A new answer re-reads the quota: only what was sent counts against it, not the
        // interrupted reservations (20 - 3 sent = 17 slots over what is left of the window).
        yield* Testing.reset
        yield* Batch.settle(urls("api.test", 3), { concurrency: 3 })
        const at = (yield* Testing.requests).map((r) => r.at)
        expect(at[0]).toBe(1200)
        expect(at[2]! - at[0]!).toBeLessThan(2000)
      })
    ))
})

describe("virtual time: long pauses and open-loop latency", () => {
  it.effect("a pause longer than maxRetryAfter fails the other requests at once, typed, without sending them", () =>
    run(
      { "/item/:n": Testing.status(429, { headers: { "retry-after": "3600" } }) },
      Effect.gen(function*() {
        const first = yield* Effect.flip(Client.text("https://slow.test/item/0"))
        expect(first._tag).toBe("StatusError")
        const second = yield* Effect.flip(Client.text("https://slow.test/item/1"))
        expect(second._tag).toBe("HostPausedError")
        expect(second.message).toContain("https://slow.test")
        expect((yield* Testing.requests).length).toBe(1)
        expect(yield* Clock.currentTimeMillis).toBe(0)
        // Another origin is not concerned.
        expect(yield* Effect.flip(Client.text("https://other.test/item/0"))).toMatchObject({ _tag: "StatusError" })
      })
    ))

  it.effect("with a rate, latency counts from each item's scheduled start; queue wait and service time apart", () =>
    run(
      // A server that takes 1 s per request, one at a time: an open-loop run at 2/s falls behind.
      { "/item/:n": Testing.text("ok", { latency: "1 second" }) },
      Effect.gen(function*() {
        const outcomes = yield* Batch.settle(urls("api.test", 6), { concurrency: 1, rate: 2 })
        expect(outcomes.map((o) => o.scheduledMs)).toEqual([0, 500, 1000, 1500, 2000, 2500])
        expect(outcomes.map((o) => o.startMs)).toEqual([0, 1000, 2000, 3000, 4000, 5000])
        expect(outcomes.map((o) => o.queueMs)).toEqual([0, 500, 1000, 1500, 2000, 2500])
        const summary = Batch.summarize(outcomes)
        expect(summary.loop).toBe("open")
        expect(summary.service.max).toBe(1000)
        expect(summary.latency.max).toBe(3500) // the last item: 2.5 s queued + 1 s served
        expect(summary.queue.max).toBe(2500)
        const closed = Batch.summarize(yield* Batch.settle(urls("api.test", 2), { concurrency: 1 }))
        expect(closed.loop).toBe("closed")
        expect(closed.latency).toEqual(closed.service)
      })
    ))

  it.effect("a pause holds the items queued behind it; each outcome and the summary count it", () => {
    let calls = 0
    return run(
      // The first request gets a 503 at once; the others take 10 ms.
      {
        "/item/:n": () =>
          calls++ === 0 ? Testing.status(503, { headers: { "retry-after": "1" } }) : Testing.text("ok", { latency: "10 millis" })
      },
      Effect.gen(function*() {
        // Item 0 goes out first and gets the 503 at once: item 1, right behind it, waits for the pause.
        const outcomes = yield* Batch.settle(urls("api.test", 3), { concurrency: 2 })
        expect(outcomes.every((o) => Either.isRight(o.result))).toBe(true)
        // Item 0 waits in its own backoff (the Retry-After), not at the gate.
        expect(outcomes.map((o) => [o.pauses, o.pausedMs])).toEqual([[0, 0], [1, 1000], [0, 0]])
        expect((yield* Testing.requests).map((r) => r.at)).toEqual([0, 1000, 1000, 1010])
        const summary = Batch.summarize(outcomes)
        expect([summary.pauses, summary.pausedMs]).toEqual([1, 1000])
      })
    )
  })
})
