/**
 * Server models for the test kit: hosts that push back, to test a program's own back-off,
 * pacing and limits against in virtual time.
 *
 * - {@link capacity}: a few requests in service, a bounded queue, a service time; anything
 *   beyond gets `503` at once.
 * - {@link rateLimit}: a quota per window; `429` with `Retry-After` and the quota headers
 *   (`RateLimit` / `RateLimit-Policy` and/or `X-RateLimit-*`) past it, the remaining quota on
 *   every success.
 * - {@link outage}: down (`503` or a network failure) during time windows.
 *
 * A model is a route handler with state: mount its `reply` in a route table
 * (`Testing.layer({ "https://api.test/*": model.reply })`). It waits on Effect's `Clock`, so
 * under `TestClock` a run of thousands of requests takes milliseconds, and a test reads what
 * the host saw from `stats`. Times in a model (outage windows, rate windows, `rejectedAt`) are
 * measured from its start: its first request, or the last `reset`. Every name here is
 * exported by `volley/testing`.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { NetworkReason } from "./Errors.js"
import * as internal from "./internal/testing/servers.js"
import type { Reply, ReplyFunction, ResponseSpec, TestRequest } from "./TestingRoutes.js"

/**
 * What a host saw. Counts are since the model's creation or last `reset`.
 *
 * @since 0.1.0
 */
export interface ServerStats {
  /** Requests that arrived. */
  readonly requests: number
  /** Requests answered normally. */
  readonly served: number
  /** Requests pushed back: 503 over capacity, 429 over quota, or answered while down. */
  readonly rejected: number
  /** Requests whose client went away (timeout, interruption) before the answer. */
  readonly abandoned: number
  /** Requests inside the model now. */
  readonly inFlight: number
  /** The most requests inside the model at once. */
  readonly maxConcurrent: number
  /** When each rejection was answered, in ms since the model's start. */
  readonly rejectedAt: ReadonlyArray<number>
}

/**
 * A server model: a reply function to mount in a route table, and what it saw.
 *
 * @since 0.1.0
 */
export interface ServerModel<S extends ServerStats = ServerStats> {
  /** The route handler: `Testing.layer({ "https://api.test/*": model.reply })`. */
  readonly reply: ReplyFunction
  readonly stats: Effect.Effect<S>
  /** Zeroes the counters and restarts the model's time (its next request is time 0 again). */
  readonly reset: Effect.Effect<void>
}

/**
 * The normal answer of a model: a fixed response or one computed from the request. Default:
 * `200` with body `ok`.
 *
 * @since 0.1.0
 */
export type ReplyOption = ResponseSpec | ((request: TestRequest) => ResponseSpec)

/**
 * Options of {@link capacity}.
 *
 * @since 0.1.0
 */
export interface CapacityOptions {
  /** Requests served at once. */
  readonly inService: number
  /** Requests that may wait for a server (first come, first served). Default 0. */
  readonly queue?: number | undefined
  /** How long one request takes once served: fixed, or drawn per request (a distribution). */
  readonly serviceTime: Duration.DurationInput | ((request: TestRequest) => Duration.DurationInput)
  /** The answer after service. */
  readonly reply?: ReplyOption | undefined
  /** The answer, at once, to a request that finds the servers and the queue full. Default `503`. */
  readonly reject?: Reply | undefined
}

/**
 * What a {@link capacity} host saw, with its servers and queue.
 *
 * @since 0.1.0
 */
export interface CapacityStats extends ServerStats {
  /** Requests in service now. */
  readonly inService: number
  /** Requests queued now. */
  readonly queued: number
  readonly maxInService: number
  readonly maxQueued: number
}

/**
 * A {@link capacity} host, whose capacity can change mid-run.
 *
 * @since 0.1.0
 */
export interface CapacityModel extends ServerModel<CapacityStats> {
  /**
   * Changes the servers and/or the queue from now on (to test reconvergence). Requests already
   * in service finish; fewer servers take new ones only as enough are free.
   */
  readonly setCapacity: (capacity: { readonly inService?: number | undefined; readonly queue?: number | undefined }) => Effect.Effect<void>
  /** The capacity now. */
  readonly capacity: () => { readonly inService: number; readonly queue: number }
}

/**
 * A host with `inService` servers and a queue of `queue`: a request is served when a server is
 * free, waits in the queue otherwise, and gets `503` at once when both are full. A client that
 * gives up frees its place. Throws a `RangeError` naming the option for invalid options.
 *
 * @example
 * ```ts
 * import { Effect, TestContext } from "effect"
 * import * as Batch from "volley/Batch"
 * import * as Testing from "volley/Testing"
 *
 * const host = Testing.capacity({ inService: 16, queue: 16, serviceTime: "20 millis" })
 * const urls = Array.from({ length: 200 }, (_, i) => `https://api.test/items/${i}`)
 *
 * const program = Effect.gen(function*() {
 *   yield* Testing.inVirtualTime(Batch.settle(urls, { concurrency: 32 }))
 *   const seen = yield* host.stats
 *   console.log(seen.rejected, seen.maxConcurrent) // 0 32
 * }).pipe(Effect.provide(Testing.layer({ "https://api.test/*": host.reply })))
 *
 * Effect.runPromise(Effect.provide(program, TestContext.TestContext))
 * ```
 *
 * @since 0.1.0
 */
export const capacity: (options: CapacityOptions) => CapacityModel = internal.capacity

/**
 * Which quota headers {@link rateLimit} sends: the IETF httpapi draft's `RateLimit-Policy:
 * 100;w=1` and `RateLimit: limit=100, remaining=0, reset=1`, the common `X-RateLimit-Limit`,
 * `-Remaining` and `-Reset`, both, or none.
 *
 * @since 0.1.0
 */
export type RateLimitHeaders = "ietf" | "x-ratelimit" | "both" | "none"

/**
 * Options of {@link rateLimit}.
 *
 * @since 0.1.0
 */
export interface RateLimitOptions {
  /** Requests allowed per window. */
  readonly limit: number
  /** The window: fixed, back to back from the model's start. */
  readonly window: Duration.DurationInput
  /** Default `"ietf"`. */
  readonly headers?: RateLimitHeaders | undefined
  /**
   * `X-RateLimit-Reset` as seconds until the reset (`"seconds"`, the default) or as the Unix
   * time of the reset in seconds (`"epoch"`, GitHub's form; the Clock's time under `TestClock`).
   */
  readonly resetStyle?: "seconds" | "epoch" | undefined
  /** Send `Retry-After` (seconds to the window's end) with each 429. Default true. */
  readonly retryAfter?: boolean | undefined
  /** The answer within the quota (the quota headers are added to it). */
  readonly reply?: ReplyOption | undefined
  /** How long each answer takes. Default none. */
  readonly latency?: Duration.DurationInput | undefined
}

/**
 * A host that allows `limit` requests per `window` and answers `429` past it, with
 * `Retry-After` and the quota headers; successes carry the remaining quota too. A rejected
 * request does not use quota. Throws a `RangeError` naming the option for invalid options.
 *
 * @example
 * ```ts
 * import { Effect, TestContext } from "effect"
 * import * as Client from "volley/Client"
 * import * as Testing from "volley/Testing"
 *
 * const api = Testing.rateLimit({ limit: 100, window: "1 second", headers: "both" })
 *
 * const program = Effect.gen(function*() {
 *   const head = yield* Client.discard("https://api.test/x")
 *   console.log(head.headers["ratelimit"]) // limit=100, remaining=99, reset=1
 *   console.log(head.headers["x-ratelimit-remaining"]) // 99
 * }).pipe(Effect.provide(Testing.layer({ "https://api.test/*": api.reply })))
 *
 * Effect.runPromise(Effect.provide(program, TestContext.TestContext))
 * ```
 *
 * @since 0.1.0
 */
export const rateLimit: (options: RateLimitOptions) => ServerModel = internal.rateLimit

/**
 * A time window, from the model's start: down from `from` until `to` (forever without `to`).
 *
 * @since 0.1.0
 */
export interface OutageWindow {
  readonly from: Duration.DurationInput
  readonly to?: Duration.DurationInput | undefined
}

/**
 * Options of {@link outage}.
 *
 * @since 0.1.0
 */
export interface OutageOptions {
  /** When the host is down. Default: always (`[{ from: 0 }]`). */
  readonly windows?: ReadonlyArray<OutageWindow> | undefined
  /** The status while down. Default 503. */
  readonly status?: number | undefined
  /** Send `Retry-After` with the status while down. Default none. */
  readonly retryAfter?: Duration.DurationInput | undefined
  /** Fail at the network level while down (e.g. `"ConnectionReset"`) instead of answering a status. */
  readonly fail?: NetworkReason | undefined
  /** The answer while up. */
  readonly reply?: ReplyOption | undefined
  /** How long each answer takes, up or down. Default none. */
  readonly latency?: Duration.DurationInput | undefined
}

/**
 * A host that is down during time windows: it answers `status` (503), or fails at the
 * network level with `fail`, and answers normally otherwise. Throws a `RangeError` naming the
 * option for invalid options.
 *
 * @example
 * ```ts
 * import { Effect, TestContext } from "effect"
 * import * as Client from "volley/Client"
 * import * as Testing from "volley/Testing"
 *
 * const host = Testing.outage({ windows: [{ from: 0, to: "2 seconds" }] })
 * const retry = { maxAttempts: 5, baseDelay: "1 second", jitter: false } as const
 *
 * const program = Effect.gen(function*() {
 *   console.log(yield* Testing.inVirtualTime(Client.text("https://api.test/x"))) // ok
 *   console.log((yield* host.stats).rejected) // 2: at 0 and 1 s; the third try, at 3 s, is served
 * }).pipe(Effect.provide(Testing.layer({ "https://api.test/*": host.reply }, { retry })))
 *
 * Effect.runPromise(Effect.provide(program, TestContext.TestContext))
 * ```
 *
 * @since 0.1.0
 */
export const outage: (options?: OutageOptions) => ServerModel = internal.outage
