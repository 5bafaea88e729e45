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
import type { NetworkError, NetworkReason, TimeoutPhase } from "./Errors.js"
import * as internal from "./internal/transport/virtual.js"
import type { Transport } from "./Client.js"

// ---- what a route answers ------------------------------------------------------------------

/**
 * One step of a simulated response body: a chunk (text or bytes), a pause on the Clock, a
 * stall (no more data, ever: for idle-timeout tests) or a network failure mid-body.
 *
 * @since 0.1.0
 */
export type BodyStep =
  | string
  | Uint8Array
  | { readonly _tag: "Pause"; readonly duration: Duration.DurationInput }
  | { readonly _tag: "Stall" }
  | { readonly _tag: "Fail"; readonly reason: NetworkReason; readonly code?: string | undefined }

/**
 * A response. The body is whole (`string`, bytes, or `json`: sent with `Content-Length`,
 * arriving with the headers in chunks of up to 64 KiB) or a list of {@link BodyStep}s that
 * arrive over virtual time (no `Content-Length` unless the headers give one). `latency` is
 * how long the headers take to arrive.
 *
 * @since 0.1.0
 */
export interface ResponseSpec {
  /** Default 200. */
  readonly status?: number | undefined
  /** Names are lower-cased. */
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly body?: string | Uint8Array | ReadonlyArray<BodyStep> | undefined
  /** A JSON body (serialised, `content-type: application/json` unless set). Ignored when `body` is given. */
  readonly json?: unknown
  /** Time until the headers arrive. Default: the route's latency, else none. */
  readonly latency?: Duration.DurationInput | undefined
}

/**
 * No response at all: the exchange fails with a `NetworkError` of this reason (carrying the
 * request's method and redacted URL) after `latency`. A `Timeout` reports the `connect`
 * phase unless told otherwise.
 *
 * @since 0.1.0
 */
export interface FailureSpec {
  readonly fail: NetworkReason
  readonly latency?: Duration.DurationInput | undefined
  readonly phase?: TimeoutPhase | undefined
  /** The transport code the error carries; a realistic one by default (`ECONNREFUSED`, …). */
  readonly code?: string | undefined
}

/**
 * What one call gets: a response or a network failure.
 *
 * @since 0.1.0
 */
export type Reply = ResponseSpec | FailureSpec

/**
 * A reply computed from the request. Return an Effect to keep state (a `Ref`) or to take
 * time; it runs in the calling fiber, so interrupting the call interrupts it.
 *
 * @since 0.1.0
 */
export type ReplyFunction = (request: TestRequest) => Reply | Effect.Effect<Reply>

/**
 * How a route answers: always the same reply, a function of the request, or a sequence, one
 * element per call (the last one repeats), e.g. `[status(503), status(503), json({ ok: 1 })]`.
 *
 * @since 0.1.0
 */
export type Handler = Reply | ReplyFunction | ReadonlyArray<Reply | ReplyFunction>

/**
 * The parts of a request a pattern can look at.
 *
 * @since 0.1.0
 */
export interface RequestInfo {
  readonly method: string
  readonly url: URL
  /** Names in lower case. */
  readonly headers: Readonly<Record<string, string>>
  /** The request body as UTF-8 text (a streamed body is read first, as a server would). */
  readonly body: string | undefined
}

/**
 * A request as a route function sees it.
 *
 * @since 0.1.0
 */
export interface TestRequest extends RequestInfo {
  readonly bodyBytes: Uint8Array | undefined
  /** `:name` segments, `*` (the rest of the path) and named RegExp groups. */
  readonly params: Readonly<Record<string, string>>
  /** How many earlier requests this route answered (0 for the first). */
  readonly call: number
  /** The id of this request's record. */
  readonly id: number
}

/**
 * Which requests a route (or {@link requestsTo}) matches:
 *
 * - a string starting with `/`: the path, on any host (`/users/:id`, `/files/*`);
 * - a string starting with `http://` or `https://`: origin and path (`https://api.test/users/:id`);
 * - either may start with a method (`"POST /jobs"`) and may end with a query
 *   (`/search?q=x`): those parameters must be present with those values, others are ignored;
 *   without a query, any query matches;
 * - a `RegExp`, tested against the full URL (named groups become params);
 * - a predicate on the request.
 *
 * @since 0.1.0
 */
export type UrlPattern = string | RegExp | ((request: RequestInfo) => boolean)

/**
 * One route: which requests, and how to answer.
 *
 * @since 0.1.0
 */
export interface Route {
  /** Match only this method (case-insensitive); any method when left out. */
  readonly method?: string | undefined
  readonly url: UrlPattern
  readonly reply: Handler
  /** Latency for replies that do not set their own. */
  readonly latency?: Duration.DurationInput | undefined
  /** Shown in records (`route`); defaults to the pattern. */
  readonly name?: string | undefined
}

/**
 * A route table: a list of {@link Route}s, or an object from pattern (`"GET /users/:id"`) to
 * handler. The first matching route answers. A request no route matches gets a 404 whose
 * body names it (and is listed by {@link unmatched}).
 *
 * @since 0.1.0
 */
export type Routes = ReadonlyArray<Route> | Readonly<Record<string, Handler>>

// ---- what it records -------------------------------------------------------------------------

/**
 * What became of a response body: `none` (no response: failed, interrupted or still
 * waiting), `open` (handed out, not yet finished), `consumed` (read to the end), `drained`
 * (released unread with at most 64 KiB left, so a real connection would be reused),
 * `aborted` (released with more left, a stall, or because the reader failed or was
 * interrupted) or `failed` (a simulated network failure mid-body).
 *
 * @since 0.1.0
 */
export type BodyFate = "none" | "open" | "consumed" | "drained" | "aborted" | "failed"

/**
 * One request the transport received, and what became of it. Times are Clock milliseconds
 * (under `TestClock` they start at 0).
 *
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
 * @since 0.1.0
 */
export class TestTransport extends Context.Tag("volley/Testing/TestTransport")<TestTransport, TestTransportService>() {}

/**
 * Builds the simulated transport's service (outside a Layer, e.g. for several clients).
 * Throws on an invalid pattern: a route table is code, and a typo in it is a defect.
 *
 * @since 0.1.0
 */
export const make = (routes: Routes): TestTransportService => internal.make(routes)

/**
 * Provides only the {@link TestTransport}; compose with {@link layerClient}.
 *
 * @since 0.1.0
 */
export const layerTransport = (routes: Routes): Layer.Layer<TestTransport> =>
  Layer.sync(TestTransport, () => internal.make(routes))

/**
 * Provides a `Client.Client` over the {@link TestTransport} in context.
 *
 * @since 0.1.0
 */
export const layerClient = (options: Client.ClientOptions = {}): Layer.Layer<Client.Client, never, TestTransport> =>
  Layer.effect(Client.Client, Effect.map(TestTransport, (test) => Client.makeWithTransport(test.transport, options)))

/**
 * The test kit: a `Client.Client` with these options, over a transport answering from
 * `routes`, plus the {@link TestTransport} that recorded what happened. Each build of the
 * layer starts with no records.
 *
 * @since 0.1.0
 */
export const layer = (routes: Routes, options: Client.ClientOptions = {}): Layer.Layer<Client.Client | TestTransport> =>
  Layer.provideMerge(layerClient(options), layerTransport(routes))

// ---- accessors ----------------------------------------------------------------------------------

/**
 * Every request received so far, in order of arrival.
 *
 * @since 0.1.0
 */
export const requests: Effect.Effect<ReadonlyArray<RecordedRequest>, never, TestTransport> = Effect.flatMap(
  TestTransport,
  (test) => test.requests
)

/**
 * The requests matching a pattern (`"/users/:id"`, `"POST https://api.test/jobs"`, a RegExp…).
 *
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
 * @since 0.1.0
 */
export const unmatched: Effect.Effect<ReadonlyArray<RecordedRequest>, never, TestTransport> = Effect.flatMap(
  TestTransport,
  (test) => test.unmatched
)

/**
 * Exchanges in flight now (a finished test that released every body has 0).
 *
 * @since 0.1.0
 */
export const inFlight: Effect.Effect<number, never, TestTransport> = Effect.flatMap(TestTransport, (test) => test.inFlight)

/**
 * The most exchanges in flight at once.
 *
 * @since 0.1.0
 */
export const maxInFlight: Effect.Effect<number, never, TestTransport> = Effect.flatMap(TestTransport, (test) => test.maxInFlight)

/**
 * The most exchanges matching a pattern in flight at once.
 *
 * @since 0.1.0
 */
export const maxInFlightTo = (pattern: UrlPattern, method?: string): Effect.Effect<number, never, TestTransport> =>
  Effect.flatMap(TestTransport, (test) => test.maxInFlightTo(pattern, method))

/**
 * Suspends until at least `count` requests have arrived.
 *
 * @since 0.1.0
 */
export const awaitRequests = (count: number): Effect.Effect<void, never, TestTransport> =>
  Effect.flatMap(TestTransport, (test) => test.awaitRequests(count))

/**
 * Forgets every record, the in-flight maximum and each route's call count.
 *
 * @since 0.1.0
 */
export const reset: Effect.Effect<void, never, TestTransport> = Effect.flatMap(TestTransport, (test) => test.reset)

// ---- reply constructors ----------------------------------------------------------------------

/**
 * Options shared by the reply constructors.
 *
 * @since 0.1.0
 */
export interface ReplyOptions {
  readonly status?: number | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly latency?: Duration.DurationInput | undefined
}

const withOptions = (spec: ResponseSpec, options: ReplyOptions | undefined): ResponseSpec =>
  options === undefined ? spec : { ...spec, ...options, headers: { ...spec.headers, ...options.headers } }

/**
 * A JSON response (200 unless `status` says otherwise).
 *
 * @since 0.1.0
 */
export const json = (value: unknown, options?: ReplyOptions): ResponseSpec => withOptions({ status: 200, json: value }, options)

/**
 * A text (or stepped) response (200 unless `status` says otherwise).
 *
 * @since 0.1.0
 */
export const text = (body: string | ReadonlyArray<BodyStep>, options?: ReplyOptions): ResponseSpec =>
  withOptions({ status: 200, body, headers: { "content-type": "text/plain; charset=utf-8" } }, options)

/**
 * A response with this status and an optional body, e.g. `status(503, { headers: { "retry-after": "2" } })`.
 *
 * @since 0.1.0
 */
export const status = (
  code: number,
  options?: Omit<ReplyOptions, "status"> & { readonly body?: string | Uint8Array | ReadonlyArray<BodyStep> | undefined }
): ResponseSpec => ({ status: code, ...options })

/**
 * A redirect to `location` (302 unless told otherwise).
 *
 * @since 0.1.0
 */
export const redirect = (
  location: string,
  code: 301 | 302 | 303 | 307 | 308 = 302,
  options?: Omit<ReplyOptions, "status">
): ResponseSpec => withOptions({ status: code, headers: { location } }, options)

/**
 * No response: a network failure of this reason after `latency` (see {@link FailureSpec}).
 *
 * @since 0.1.0
 */
export const networkError = (
  reason: NetworkReason,
  options?: {
    readonly latency?: Duration.DurationInput | undefined
    readonly phase?: TimeoutPhase | undefined
    readonly code?: string | undefined
  }
): FailureSpec => ({ fail: reason, ...options })

/**
 * A body step: nothing arrives for `duration`.
 *
 * @since 0.1.0
 */
export const pause = (duration: Duration.DurationInput): BodyStep => ({ _tag: "Pause", duration })

/**
 * A body step: the body stops arriving and never ends (an idle-timeout test).
 *
 * @since 0.1.0
 */
export const stall: BodyStep = { _tag: "Stall" }

/**
 * A body step: the connection fails mid-body (`ConnectionReset` unless told otherwise).
 *
 * @since 0.1.0
 */
export const failBody = (reason: NetworkReason = "ConnectionReset", code?: string): BodyStep => ({ _tag: "Fail", reason, code })

/**
 * Body steps: `chunks` with `interval` between each two (the first arrives with the headers).
 *
 * @since 0.1.0
 */
export const trickle = (chunks: ReadonlyArray<string | Uint8Array>, interval: Duration.DurationInput): ReadonlyArray<BodyStep> =>
  chunks.flatMap((chunk, i) => (i === 0 ? [chunk] : [pause(interval), chunk]))

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
