/**
 * A batch's limits on request starts: the global rate limiter, and per host (`host:port`) a
 * permit count and a rate limiter, each created on first use. Batch wraps every request in
 * them; `Download.many` wraps every download in the per-host permit.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as RateLimiter from "effect/RateLimiter"
import * as Scope from "effect/Scope"
import type { RateLimit } from "../../Batch.js"

/** Turns a `RateLimit` into `RateLimiter` options. */
export const rateOptions = (rate: RateLimit): RateLimiter.RateLimiter.Options => {
  if (typeof rate !== "number") return rate
  if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`volley: a rate must be a positive number, got ${rate}`)
  // Effect's token bucket refills one token per whole millisecond (so it caps out near 1000/s
  // and rounds), hence fixed windows of ~100 ms sized to the exact rate.
  const limit = Math.max(1, Math.floor(rate / 10))
  return { limit, interval: Duration.millis((limit * 1000) / rate), algorithm: "fixed-window" }
}

export interface LimitOptions {
  /** At once per host. */
  readonly perHost?: number | undefined
  /** Starts per second across the batch. */
  readonly rate?: RateLimit | undefined
  /** Starts per second per host. */
  readonly perHostRate?: RateLimit | undefined
}

/** `effect` under the limits that apply to `host` (`undefined`: no per-host limit). */
export type Limited = <A, E, R>(host: string | undefined, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/**
 * The limits of one batch. Rate limiters live in the batch's scope and run on the caller's
 * Clock. With no limit set, `limited` hands the effect back as it is.
 */
export const make = (options: LimitOptions): Effect.Effect<Limited, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { perHost } = options
    const globalRate = options.rate === undefined ? undefined : yield* RateLimiter.make(rateOptions(options.rate))
    const perHostRate = options.perHostRate === undefined ? undefined : rateOptions(options.perHostRate)
    const scope = yield* Effect.scope
    const semaphores = new Map<string, Effect.Semaphore>()
    const limiters = new Map<string, Deferred.Deferred<RateLimiter.RateLimiter>>()

    /** The host's rate limiter, created once (in the batch's scope, on the caller's Clock). */
    const hostLimiter = (host: string, rate: RateLimiter.RateLimiter.Options) =>
      Effect.suspend(() => {
        const existing = limiters.get(host)
        if (existing !== undefined) return Deferred.await(existing)
        const created = Deferred.unsafeMake<RateLimiter.RateLimiter>(FiberId.none)
        limiters.set(host, created)
        return Effect.uninterruptible(
          Effect.tap(Scope.extend(RateLimiter.make(rate), scope), (limiter) => Deferred.succeed(created, limiter))
        )
      })

    const limited: Limited = <A, E, R>(host: string | undefined, effect: Effect.Effect<A, E, R>) => {
      let send = effect
      if (globalRate !== undefined) send = globalRate(send)
      if (host === undefined) return send
      if (perHostRate !== undefined) {
        const limitedByRate = send
        send = Effect.flatMap(hostLimiter(host, perHostRate), (limiter) => limiter(limitedByRate))
      }
      if (perHost !== undefined) {
        let semaphore = semaphores.get(host)
        if (semaphore === undefined) {
          semaphore = Effect.unsafeMakeSemaphore(perHost)
          semaphores.set(host, semaphore)
        }
        send = semaphore.withPermits(1)(send)
      }
      return send
    }
    return limited
  })
