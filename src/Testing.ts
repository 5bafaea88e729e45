/**
 * A test kit: a simulated transport in virtual time.
 *
 * `Testing.layer(routes)` provides a real {@link Client.Client} (built with
 * `Client.makeWithTransport`) over a transport that answers from a route table instead of
 * the network, plus a {@link TestTransport} service that records every exchange. Because it
 * is only a transport, every rule above it — deadlines, retries, redirects, status errors,
 * body limits and release — runs the same code as in production.
 *
 * Every wait it simulates (latency, trickling bodies) is a sleep on Effect's `Clock`, so
 * under `TestClock` a 30-second timeout or a ten-minute backoff plan runs instantly and at
 * exact virtual times. Records carry those times, so a test can say "retried at 0, 1 s and
 * 3 s" or "at most 4 were in flight" and mean it exactly.
 *
 * Not simulated: the connection pool (`connectionsPerOrigin`, keep-alive), connect timeouts
 * and TLS settings. To test a failure of those, reply with {@link networkError}.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Client from "./Client.js"
import type { NetworkError } from "./Errors.js"
import type { Routes, UrlPattern } from "./TestingRoutes.js"
import * as internal from "./internal/transport/virtual.js"
import type { Transport } from "./Transport.js"

/**
 * The route table (`Routes`, `Route`, `UrlPattern`, `Handler`, `Reply`, `ResponseSpec`,
 * `FailureSpec`, `BodyStep`, the request a route sees) and the reply constructors (`json`,
 * `text`, `status`, `redirect`, `networkError`, `pause`, `stall`, `failBody`, `trickle`),
 * declared in `TestingRoutes.ts`.
 *
 * @category test kit
 * @since 0.1.0
 */
export * from "./TestingRoutes.js"

/**
 * The server models (`capacity`, `rateLimit`, `outage`, their options and stats), declared in
 * `TestingServers.ts`.
 *
 * @since 0.1.0
 */
export * from "./TestingServers.js"

// ---- what it records -------------------------------------------------------------------------

/**
 * What became of a response body: `none` (no response: failed, interrupted or still
 * waiting), `open` (handed out, not yet finished), `consumed` (read to the end), `drained`
 * (released unread with at most 64 KiB left, so a real connection would be reused),
 * `aborted` (released with more left, a stall, or because the reader failed or was
 * interrupted) or `failed` (a simulated network failure mid-body).
 *
 * @category models
 * @since 0.1.0
 */
export type BodyFate = "none" | "open" | "consumed" | "drained" | "aborted" | "failed"

/**
 * One request the transport received, and what became of it. Times are Clock milliseconds
 * (under `TestClock` they start at 0).
 *
 * @category models
 * @since 0.1.0
 */
export interface RecordedRequest {
  /** 1, 2, 3… in order of arrival. */
  readonly id: number
  readonly method: string
  /** The full URL as sent. */
  readonly url: string
  /** Path and query. */
  readonly path: string
  /** Names in lower case. */
  readonly headers: Readonly<Record<string, string>>
  /** The request body as UTF-8 text; `undefined` when there was none. */
  readonly body: string | undefined
  /** Whether the body was a one-shot stream (read in full, as a server would). */
  readonly streamedBody: boolean
  /** The route that answered (its name or pattern); `undefined` when none matched. */
  readonly route: string | undefined
  /** When the request arrived. */
  readonly at: number
  /** When the headers were handed back. */
  readonly respondedAt: number | undefined
  /** When the exchange ended: failure, interruption, or the body read to the end or released. */
  readonly endedAt: number | undefined
  readonly status: number | undefined
  /** The simulated network failure, before the headers or mid-body. */
  readonly error: NetworkError | undefined
  /**
   * A wait of this exchange (for the headers or for more body) was interrupted: a timeout or
   * deadline fired, a hedge lost, a batch failed fast, or the caller was interrupted.
   */
  readonly interrupted: boolean
  readonly responseBody: BodyFate
  /** Body bytes handed to the reader. */
  readonly bytesRead: number
  /** Requests in flight right after this one arrived, itself included. */
  readonly concurrent: number
}

// ---- the service ------------------------------------------------------------------------------

/**
 * The simulated transport and what it saw.
 *
 * @category models
 * @since 0.1.0
 */
export interface TestTransportService {
  /** The transport itself, for `Client.makeWithTransport` with other options. */
  readonly transport: Transport
  /** Every request received since the start (or the last `reset`), in order of arrival. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** The requests a pattern (see {@link UrlPattern}) matches. */
  readonly requestsTo: (pattern: UrlPattern, method?: string) => Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Requests no route matched (each was answered 404). */
  readonly unmatched: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Exchanges in flight now; 0 once everything was released. */
  readonly inFlight: Effect.Effect<number>
  /** The most exchanges in flight at once. */
  readonly maxInFlight: Effect.Effect<number>
  /** The most exchanges matching a pattern in flight at once (e.g. per host). */
  readonly maxInFlightTo: (pattern: UrlPattern, method?: string) => Effect.Effect<number>
  /** Suspends until at least `count` requests have arrived. */
  readonly awaitRequests: (count: number) => Effect.Effect<void>
  /** Forgets every record, the in-flight maximum and each route's call count. */
  readonly reset: Effect.Effect<void>
}

/**
 * The simulated transport's service, provided by {@link layer} and {@link layerTransport}.
 *
 * @category tags
 * @since 0.1.0
 */
export class TestTransport extends Context.Tag("volley/Testing/TestTransport")<TestTransport, TestTransportService>() {}

/**
 * Builds the simulated transport's service (outside a Layer, e.g. for several clients).
 * Throws on an invalid pattern: a route table is code, and a typo in it is a defect.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (routes: Routes): TestTransportService => internal.make(routes)

/**
 * Provides only the {@link TestTransport}; compose with {@link layerClient}.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTransport = (routes: Routes): Layer.Layer<TestTransport> =>
  Layer.sync(TestTransport, () => internal.make(routes))

/**
 * Provides a `Client.Client` over the {@link TestTransport} in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient = (options: Client.ClientOptions = {}): Layer.Layer<Client.Client, never, TestTransport> =>
  Layer.effect(Client.Client, Effect.map(TestTransport, (test) => Client.makeWithTransport(test.transport, options)))

/**
 * The test kit: a `Client.Client` with these options, over a transport answering from
 * `routes`, plus the {@link TestTransport} that recorded what happened. Each build of the
 * layer starts with no records.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (routes: Routes, options: Client.ClientOptions = {}): Layer.Layer<Client.Client | TestTransport> =>
  Layer.provideMerge(layerClient(options), layerTransport(routes))

// ---- accessors ----------------------------------------------------------------------------------

/**
 * Every request received so far, in order of arrival.
 *
 * @category test kit
 * @since 0.1.0
 */
export const requests: Effect.Effect<ReadonlyArray<RecordedRequest>, never, TestTransport> = Effect.flatMap(
  TestTransport,
  (test) => test.requests
)

/**
 * The requests matching a pattern (`"/users/:id"`, `"POST https://api.test/jobs"`, a RegExp…).
 *
 * @category test kit
 * @since 0.1.0
 */
export const requestsTo = (
  pattern: UrlPattern,
  method?: string
): Effect.Effect<ReadonlyArray<RecordedRequest>, never, TestTransport> =>
  Effect.flatMap(TestTransport, (test) => test.requestsTo(pattern, method))

/**
 * Requests no route matched.
 *
 * @category test kit
 * @since 0.1.0
 */
export const unmatched: Effect.Effect<ReadonlyArray<RecordedRequest>, never, TestTransport> = Effect.flatMap(
  TestTransport,
  (test) => test.unmatched
)

/**
 * Exchanges in flight now (a finished test that released every body has 0).
 *
 * @category test kit
 * @since 0.1.0
 */
export const inFlight: Effect.Effect<number, never, TestTransport> = Effect.flatMap(TestTransport, (test) => test.inFlight)

/**
 * The most exchanges in flight at once.
 *
 * @category test kit
 * @since 0.1.0
 */
export const maxInFlight: Effect.Effect<number, never, TestTransport> = Effect.flatMap(TestTransport, (test) => test.maxInFlight)

/**
 * The most exchanges matching a pattern in flight at once.
 *
 * @category test kit
 * @since 0.1.0
 */
export const maxInFlightTo = (pattern: UrlPattern, method?: string): Effect.Effect<number, never, TestTransport> =>
  Effect.flatMap(TestTransport, (test) => test.maxInFlightTo(pattern, method))

/**
 * Suspends until at least `count` requests have arrived.
 *
 * @category test kit
 * @since 0.1.0
 */
export const awaitRequests = (count: number): Effect.Effect<void, never, TestTransport> =>
  Effect.flatMap(TestTransport, (test) => test.awaitRequests(count))

/**
 * Forgets every record, the in-flight maximum and each route's call count.
 *
 * @category test kit
 * @since 0.1.0
 */
export const reset: Effect.Effect<void, never, TestTransport> = Effect.flatMap(TestTransport, (test) => test.reset)

// ---- virtual time ---------------------------------------------------------------------------------

/**
 * Runs `effect` under `TestClock`, firing its timers in order until it completes, and
 * returns its result. The clock stops where the effect finished, so `Clock.currentTimeMillis`
 * afterwards is the exact virtual duration. Use it inside `it.effect` instead of forking the
 * effect and guessing how far to `TestClock.adjust`.
 *
 * Dies if the effect has not completed after `limit` of virtual time (default 1 day): a
 * retry-forever bug, or a fiber blocked on something no timer will ever wake. Like any
 * `TestClock` driver it assumes the effect waits only on the clock (and on the simulated
 * transport): while it waits on real I/O, the clock may move on.
 *
 * @example
 * ```ts
 * import { Console, Effect, TestContext } from "effect"
 * import { Client } from "volley"
 * import * as Testing from "volley/Testing"
 *
 * // Two 503s, then a success: the retries wait 1 s and 2 s of virtual time, at once.
 * const program = Effect.gen(function*() {
 *   const body = yield* Testing.inVirtualTime(Client.json("https://api.test/status"))
 *   const requests = yield* Testing.requests
 *   yield* Console.log(body, requests.map((r) => `${r.at} ms: ${r.status}`))
 * })
 *
 * Effect.runPromise(program.pipe(
 *   Effect.provide(Testing.layer(
 *     { "GET /status": [Testing.status(503), Testing.status(503), Testing.json({ ok: true })] },
 *     { retry: { baseDelay: "1 second", jitter: false } }
 *   )),
 *   Effect.provide(TestContext.TestContext) // in an `it.effect` test, already there
 * ))
 * // { ok: true } [ '0 ms: 503', '1000 ms: 503', '3000 ms: 200' ]
 * ```
 *
 * @category test clock
 * @since 0.1.0
 */
export const inVirtualTime = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options?: { readonly limit?: Duration.DurationInput }
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const limit = Duration.decode(options?.limit ?? Duration.days(1))
    const end = (yield* Clock.currentTimeMillis) + Duration.toMillis(limit)
    const fiber = yield* Effect.fork(effect)
    // One TestClock run fires every timer up to the limit in order, each once the fibers have
    // settled; it is interrupted the moment the effect completes, so the clock rests there.
    const driver = yield* Effect.fork(TestClock.setTime(end))
    const done = yield* Effect.race(Effect.asSome(Fiber.await(fiber)), Effect.as(Fiber.await(driver), Option.none()))
    yield* Fiber.interrupt(driver)
    if (Option.isSome(done)) return yield* done.value
    // The clock reached the limit; the effect may still complete in this very instant.
    yield* TestClock.adjust(0)
    const late = yield* Fiber.poll(fiber)
    if (Option.isSome(late)) return yield* late.value
    yield* Fiber.interrupt(fiber)
    return yield* Effect.dieMessage(
      `volley/testing: the effect has not completed after ${Duration.format(limit)} of virtual time (retrying forever, or blocked)`
    )
  })
