/**
 * The route table of the virtual-time transport (`volley/testing`): which requests a route
 * matches and what it answers — a response, a stepped body that arrives over virtual time,
 * or a network failure — plus the constructors that build those replies.
 *
 * Every name here is exported by `volley/testing`; import it from there.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { NetworkReason, TimeoutPhase } from "./Errors.js"

// ---- what a route answers ------------------------------------------------------------------

/**
 * One step of a simulated response body: a chunk (text or bytes), a pause on the Clock, a
 * stall (no more data, ever: for idle-timeout tests) or a network failure mid-body.
 *
 * @category models
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
 * @category models
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
 * @category models
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
 * @category models
 * @since 0.1.0
 */
export type Reply = ResponseSpec | FailureSpec

/**
 * A reply computed from the request. Return an Effect to keep state (a `Ref`) or to take
 * time; it runs in the calling fiber, so interrupting the call interrupts it.
 *
 * @category models
 * @since 0.1.0
 */
export type ReplyFunction = (request: TestRequest) => Reply | Effect.Effect<Reply>

/**
 * How a route answers: always the same reply, a function of the request, or a sequence, one
 * element per call (the last one repeats), e.g. `[status(503), status(503), json({ ok: 1 })]`.
 *
 * @category models
 * @since 0.1.0
 */
export type Handler = Reply | ReplyFunction | ReadonlyArray<Reply | ReplyFunction>

/**
 * The parts of a request a pattern can look at.
 *
 * @category models
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
 * @category models
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
 * @category models
 * @since 0.1.0
 */
export type UrlPattern = string | RegExp | ((request: RequestInfo) => boolean)

/**
 * One route: which requests, and how to answer.
 *
 * @category models
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
 * @category models
 * @since 0.1.0
 */
export type Routes = ReadonlyArray<Route> | Readonly<Record<string, Handler>>

// ---- reply constructors ----------------------------------------------------------------------

/**
 * Options shared by the reply constructors.
 *
 * @category models
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
 * @category replies
 * @since 0.1.0
 */
export const json = (value: unknown, options?: ReplyOptions): ResponseSpec => withOptions({ status: 200, json: value }, options)

/**
 * A text (or stepped) response (200 unless `status` says otherwise).
 *
 * @category replies
 * @since 0.1.0
 */
export const text = (body: string | ReadonlyArray<BodyStep>, options?: ReplyOptions): ResponseSpec =>
  withOptions({ status: 200, body, headers: { "content-type": "text/plain; charset=utf-8" } }, options)

/**
 * A response with this status and an optional body, e.g. `status(503, { headers: { "retry-after": "2" } })`.
 *
 * @category replies
 * @since 0.1.0
 */
export const status = (
  code: number,
  options?: Omit<ReplyOptions, "status"> & { readonly body?: string | Uint8Array | ReadonlyArray<BodyStep> | undefined }
): ResponseSpec => ({ status: code, ...options })

/**
 * A redirect to `location` (302 unless told otherwise).
 *
 * @category replies
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
 * @category errors
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
 * @category replies
 * @since 0.1.0
 */
export const pause = (duration: Duration.DurationInput): BodyStep => ({ _tag: "Pause", duration })

/**
 * A body step: the body stops arriving and never ends (an idle-timeout test).
 *
 * @category replies
 * @since 0.1.0
 */
export const stall: BodyStep = { _tag: "Stall" }

/**
 * A body step: the connection fails mid-body (`ConnectionReset` unless told otherwise).
 *
 * @category replies
 * @since 0.1.0
 */
export const failBody = (reason: NetworkReason = "ConnectionReset", code?: string): BodyStep => ({ _tag: "Fail", reason, code })

/**
 * Body steps: `chunks` with `interval` between each two (the first arrives with the headers).
 *
 * @category replies
 * @since 0.1.0
 */
export const trickle = (chunks: ReadonlyArray<string | Uint8Array>, interval: Duration.DurationInput): ReadonlyArray<BodyStep> =>
  chunks.flatMap((chunk, i) => (i === 0 ? [chunk] : [pause(interval), chunk]))
