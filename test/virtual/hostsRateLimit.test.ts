/**
 * Per-host control in virtual time: a server's rate-limit signals pause and pace every
 * request of one client to that origin.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, type Duration, Effect, Either } from "effect"
import * as Batch from "../../src/Batch.js"
import type * as Client from "../../src/Client.js"
import * as Testing from "../../src/Testing.js"

type Env = Client.Client | Testing.TestTransport

const run = <A, E>(routes: Testing.Routes, program: Effect.Effect<A, E, Env>, options?: Client.ClientOptions) =>
  Testing.inVirtualTime(program).pipe(Effect.provide(Testing.layer(routes, options)))

/** A fixed-window limiter: `limit` per `windowMs`, headers on every answer, 429 + Retry-After beyond. */
const rateLimited = (limit: number, windowMs: number, latency: Duration.DurationInput = "10 millis") => {
  let window = -1
  let used = 0
  return (_req: Testing.TestRequest) =>
    Effect.map(Clock.currentTimeMillis, (now): Testing.Reply => {
      const w = Math.floor(now / windowMs)
      if (w !== window) {
        window = w
        used = 0
      }
      const reset = Math.max(1, Math.ceil(((w + 1) * windowMs - now) / 1000))
      const over = used >= limit
      if (!over) used++
      const headers = {
        "ratelimit-policy": `${limit};w=${windowMs / 1000}`,
        "ratelimit": `limit=${limit}, remaining=${limit - used}, reset=${reset}`
      }
      return over
        ? Testing.status(429, { headers: { ...headers, "retry-after": String(reset) }, latency })
        : Testing.text("ok", { headers, latency })
    })
}

const N = Number(process.env["N"] ?? 2000)
const urls = (host: string, n: number) => Array.from({ length: n }, (_, i) => `https://${host}/item/${i}`)

describe("virtual time: a host that rate-limits", () => {
  // The test kit's model: 100 per 1 s window, the IETF headers on every answer, 429 + Retry-After past it.
  const api = Testing.rateLimit({ limit: 100, window: "1 second", latency: "10 millis" })
  it.effect("the test kit's rateLimit model, 100/s: 2,000 requests at c=64, none fail, at most one rejection per window, within 10% of the ideal 20 s", () =>
    run(
      { "https://api.test/*": api.reply },
      Effect.gen(function*() {
        const outcomes = yield* Batch.settle(urls("api.test", N), { concurrency: 64 })
        const failed = outcomes.filter((o) => Either.isLeft(o.result))
        const stats = yield* api.stats
        const elapsed = yield* Clock.currentTimeMillis
        console.log("test kit model", { failed: failed.length, rejected: stats.rejected, sent: stats.requests, elapsed })
        expect(failed.length).toBe(0)
        // The bar: at most one rejection per window, and within 10% of the ideal 20 s.
        // The model counts a request when it arrives and answers 10 ms later, so answers heard
        // together are out of date by the requests still in flight: the client takes those off.
        expect(new Set(stats.rejectedAt.map((t) => Math.floor(t / 1000))).size).toBe(stats.rejected)
        expect(elapsed).toBeLessThanOrEqual(22_000)
      })
    ), 120_000)

  it.effect("control: the same host without per-host control (serverSignals: false) rejects many and fails some", () => {
    const fresh = Testing.rateLimit({ limit: 100, window: "1 second", latency: "10 millis" })
    return run(
      { "https://api.test/*": fresh.reply },
      Effect.gen(function*() {
        const outcomes = yield* Batch.settle(urls("api.test", 500), { concurrency: 64 })
        const stats = yield* fresh.stats
        expect(stats.rejected).toBeGreaterThan(50)
        expect(outcomes.some((o) => Either.isLeft(o.result))).toBe(true)
      }),
      { serverSignals: false }
    )
  }, 120_000)

  it.effect("100/s with headers: 2,000 requests at c=64, none fail, rejections at most one per window, within 10% of the ideal 20 s", () =>
    run(
      { "https://api.test/*": rateLimited(100, 1000) },
      Effect.gen(function*() {
        const outcomes = yield* Batch.settle(urls("api.test", N), { concurrency: 64 })
        const records = yield* Testing.requests
        const rejected = records.filter((r) => r.status === 429).map((r) => r.at)
        const elapsed = yield* Clock.currentTimeMillis
        console.log("hand model", { failed: outcomes.filter((o) => Either.isLeft(o.result)).length, rejected: rejected.length, sent: records.length, elapsed })
        expect(outcomes.every((o) => Either.isRight(o.result))).toBe(true)
        expect(new Set(rejected.map((t) => Math.floor(t / 1000))).size).toBe(rejected.length)
        expect(elapsed).toBeLessThanOrEqual(22_000)
      })
    ), 120_000)
})
