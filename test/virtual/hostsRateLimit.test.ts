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
  it.effect("100/s with headers: 2,000 requests at c=64, none fail, rejections at most one per window, ~20 s", () =>
    run(
      { "/item/:n": rateLimited(100, 1000) },
      Effect.gen(function*() {
        const outcomes = yield* Batch.settle(urls("api.test", N), { concurrency: 64 })
        const failed = outcomes.filter((o) => Either.isLeft(o.result))
        const records = yield* Testing.requests
        const rejected = records.filter((r) => r.status === 429)
        const elapsed = yield* Clock.currentTimeMillis
        console.log({ failed: failed.length, rejected: rejected.length, sent: records.length, elapsed })
        expect(failed.length).toBe(0)
        expect(rejected.length).toBeLessThanOrEqual(20)
        expect(elapsed).toBeGreaterThanOrEqual(19_000)
        expect(elapsed).toBeLessThanOrEqual(22_000)
      })
    ), 120_000)
})
