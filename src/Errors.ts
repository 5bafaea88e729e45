/**
 * The error model: what can go wrong with an HTTP call, as values a program can switch on.
 *
 * Two families never mix: a {@link NetworkError} means no usable response arrived; a
 * {@link StatusError} means one did, with a status the caller did not accept. The rest name
 * the few other failures callers need to tell apart. Every error carries the method and a
 * redacted URL and prints a one-line message.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Option from "effect/Option"
import type * as Types from "effect/Types"
import * as message from "./internal/errors/message.js"
import { redactUrl } from "./internal/redact.js"

export {
  /** @since 0.1.0 */
  redactUrl
}

/**
 * The mark every volley error carries, whichever module declares it (HTTP, batch, download
 * and server errors alike), so one guard tells volley's failures from a program's own.
 *
 * @category errors
 * @since 0.1.0
 */
export const TypeId: unique symbol = Symbol.for("volley/Error")

/**
 * @category models
 * @since 0.1.0
 */
export type TypeId = typeof TypeId

/**
 * What every volley error has: the {@link TypeId} mark, a `_tag` to switch on and a one-line
 * `message`.
 *
 * @category models
 * @since 0.1.0
 */
export interface VolleyError extends Cause.YieldableError {
  readonly [TypeId]: TypeId
  readonly _tag: string
}

/**
 * `Data.TaggedError` plus the {@link TypeId} mark: the base class of every volley error.
 * The mark lives on the prototype, so it costs nothing per error and takes no part in
 * structural equality.
 *
 * @example
 * ```ts
 * import { isVolleyError, TaggedError } from "volley/Errors"
 *
 * class QuotaExceeded extends TaggedError("QuotaExceeded")<{ readonly limit: number }> {}
 *
 * console.log(isVolleyError(new QuotaExceeded({ limit: 3 }))) // true
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export const TaggedError = <Tag extends string>(tag: Tag): TaggedErrorConstructor<Tag> => {
  const Base = Data.TaggedError(tag)
  Object.defineProperty(Base.prototype, TypeId, { value: TypeId })
  return Base as unknown as TaggedErrorConstructor<Tag>
}

/**
 * The class {@link TaggedError} returns: `A` is the error's fields.
 *
 * @category models
 * @since 0.1.0
 */
export interface TaggedErrorConstructor<Tag extends string> {
  new<A extends Record<string, unknown> = {}>(
    args: Types.VoidIfEmpty<{ readonly [P in keyof A as P extends "_tag" ? never : P]: A[P] }>
  ): VolleyError & { readonly _tag: Tag } & Readonly<A>
}

/**
 * Whether a value is one of volley's errors (any module's), as opposed to a program's own.
 *
 * @category errors
 * @since 0.1.0
 */
export const isVolleyError = (u: unknown): u is VolleyError => typeof u === "object" && u !== null && TypeId in u

/**
 * Why a request produced no usable response.
 *
 * - `Timeout`: a deadline fired; `phase` says which one.
 * - `ConnectionRefused`: nothing listens at the address.
 * - `DnsLookup`: the host name did not resolve.
 * - `Tls`: the TLS handshake failed (untrusted or invalid certificate, protocol mismatch).
 * - `ConnectionReset`: the peer closed or reset the connection mid-exchange.
 * - `Aborted`: the request was cancelled before it completed.
 * - `Protocol`: the peer spoke something that is not valid HTTP.
 * - `ContentDecoding`: the body's `Content-Encoding` (gzip, deflate, br, zstd) did not decode:
 *   truncated or corrupt. The response is unusable, like a reset mid-body; retried like one.
 * - `Proxy`: the proxy refused or failed the request (CONNECT not answered 200, proxy
 *   authentication required, proxy unreachable).
 * - `Other`: anything else the transport reported; `cause` has the details.
 *
 * @category models
 * @since 0.1.0
 */
export type NetworkReason =
  | "Timeout"
  | "ConnectionRefused"
  | "DnsLookup"
  | "Tls"
  | "ConnectionReset"
  | "Aborted"
  | "Protocol"
  | "ContentDecoding"
  | "Proxy"
  | "Other"

/**
 * Which deadline fired: establishing the connection, waiting for response headers, the
 * longest gap between body chunks, or the request's overall deadline.
 *
 * @category models
 * @since 0.1.0
 */
export type TimeoutPhase = "connect" | "headers" | "body" | "deadline"

/**
 * The request did not produce a usable HTTP response.
 *
 * @category errors
 * @since 0.1.0
 */
export class NetworkError extends TaggedError("NetworkError")<{
  readonly reason: NetworkReason
  readonly method: string
  /** Redacted: no credentials, no secret query values. */
  readonly url: string
  /** Set when `reason` is `Timeout`. */
  readonly phase?: TimeoutPhase | undefined
  /** The transport's own error code, e.g. `ECONNREFUSED`, when it gave one. */
  readonly code?: string | undefined
  readonly cause?: unknown
}> {
  override get message(): string {
    return message.networkError(this)
  }
}

/**
 * A response arrived with a status the caller did not accept (by default: anything not 2xx).
 *
 * @category errors
 * @since 0.1.0
 */
export class StatusError extends TaggedError("StatusError")<{
  readonly status: number
  readonly method: string
  readonly url: string
  /** Parsed `Retry-After`, when the server sent a valid one. */
  readonly retryAfter: Option.Option<Duration.Duration>
  /** At most 1 KiB of the body, decoded as UTF-8, for diagnostics. */
  readonly bodySnippet: string
  readonly headers: Readonly<Record<string, string>>
}> {
  override get message(): string {
    return message.statusError(this)
  }
}

/**
 * The body arrived but could not be decoded (invalid JSON, or it did not match the schema).
 *
 * @category errors
 * @since 0.1.0
 */
export class DecodeError extends TaggedError("DecodeError")<{
  readonly method: string
  readonly url: string
  readonly status: number
  /** A short description of what did not decode. */
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return message.decodeError(this)
  }
}

/**
 * The body is larger than the configured limit. The transfer was stopped, not buffered.
 *
 * @category errors
 * @since 0.1.0
 */
export class BodyTooLargeError extends TaggedError("BodyTooLargeError")<{
  readonly method: string
  readonly url: string
  readonly limit: number
  /** The size the server announced in `Content-Length`, when it did. */
  readonly contentLength?: number | undefined
}> {
  override get message(): string {
    return message.bodyTooLargeError(this)
  }
}

/**
 * Why a redirect was not followed.
 *
 * - `TooMany`: more hops than `maxRedirects`.
 * - `Loop`: the chain came back to a URL it already visited.
 * - `Downgrade`: https redirected to http, refused unless allowed.
 * - `InvalidLocation`: the `Location` header is missing or not a valid http(s) URL.
 * - `BodyNotReplayable`: a 307/308 needs the body sent again, but it was a one-shot stream.
 * - `CrossOriginBody`: a 307/308 would send the request body to another origin.
 *
 * @category models
 * @since 0.1.0
 */
export type RedirectReason = "TooMany" | "Loop" | "Downgrade" | "InvalidLocation" | "BodyNotReplayable" | "CrossOriginBody"

/**
 * A redirect was refused.
 *
 * @category errors
 * @since 0.1.0
 */
export class RedirectError extends TaggedError("RedirectError")<{
  readonly reason: RedirectReason
  readonly method: string
  readonly url: string
  /** The (redacted) target the server asked for, when there was one. */
  readonly location?: string | undefined
  readonly hops: number
}> {
  override get message(): string {
    return message.redirectError(this)
  }
}

/**
 * The URL is not a valid absolute http(s) URL. Nothing was sent.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidUrlError extends TaggedError("InvalidUrlError")<{
  /** The input as given (redacted when it parsed far enough to tell). */
  readonly input: string
  readonly detail: string
}> {
  override get message(): string {
    return message.invalidUrlError(this)
  }
}

/**
 * The request itself is malformed: a header name that is not a token, a header value with a
 * control character (CR, LF, NUL: a header-injection attempt or a bug), or something the
 * transport refuses to send. The caller's error: nothing was sent and it is never retried.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidRequestError extends TaggedError("InvalidRequestError")<{
  readonly method: string
  /** Redacted. */
  readonly url: string
  /** The offending header's name, when a header is at fault (its value is never echoed). */
  readonly header?: string | undefined
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return message.invalidRequestError(this)
  }
}

/**
 * A batch's overall deadline passed before this item finished (`started: true`: its
 * request was interrupted) or before it was sent at all (`started: false`).
 *
 * @category errors
 * @since 0.1.0
 */
export class BatchDeadlineError extends TaggedError("BatchDeadlineError")<{
  readonly deadline: Duration.Duration
  readonly started: boolean
}> {
  override get message(): string {
    return message.batchDeadlineError(this)
  }
}

/**
 * The server asked volley to stop sending to this origin (`Retry-After` on a 429 or 503, or a
 * rate-limit quota of 0) for longer than the retry policy's `maxRetryAfter`: the request was
 * not sent, and fails at once instead of parking the caller. Not transient: waiting is what
 * was refused.
 *
 * @since 0.1.0
 */
export class HostPausedError extends TaggedError("HostPausedError")<{
  readonly method: string
  readonly url: string
  /** The origin that is paused, e.g. `https://api.example.com`. */
  readonly origin: string
  /** How much longer the pause lasts. */
  readonly remaining: Duration.Duration
}> {
  override get message(): string {
    return message.hostPausedError(this)
  }
}

/**
 * An origin's circuit breaker is open (or half-open with every probe place taken), so the call
 * failed at once without sending anything. Not a {@link NetworkError}: nothing was tried, and
 * it is not transient, so the same call never retries it (the breaker would refuse again); the
 * next call after `retryAfter` may go through as a probe.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { CircuitOpenError, isTransient } from "volley/Errors"
 *
 * const error = new CircuitOpenError({ origin: "https://api.example.com", state: "open", retryAfter: Duration.seconds(5) })
 * console.log(error.message) // https://api.example.com: circuit open, failing fast (may close in 5s)
 * console.log(isTransient(error)) // false
 * ```
 *
 * @since 0.1.0
 */
export class CircuitOpenError extends TaggedError("CircuitOpenError")<{
  /** The origin whose breaker refused (`https://host:port`; an origin never holds credentials). */
  readonly origin: string
  /** `open`: failing fast until the break ends; `half-open`: probes are under way and every probe place is taken. */
  readonly state: "open" | "half-open"
  /** How long until the breaker lets a probe through: the rest of the break, zero while half-open. */
  readonly retryAfter: Duration.Duration
  /** The refused request's method, when the caller gave it. */
  readonly method?: string | undefined
  /** The refused request's URL (redacted), when the caller gave it. */
  readonly url?: string | undefined
}> {
  override get message(): string {
    return message.circuitOpenError(this)
  }
}

/**
 * Every error a volley HTTP call can fail with.
 *
 * @category models
 * @since 0.1.0
 */
export type HttpError =
  | NetworkError
  | StatusError
  | DecodeError
  | BodyTooLargeError
  | RedirectError
  | InvalidUrlError
  | InvalidRequestError
  | HostPausedError
  | CircuitOpenError

/** Statuses worth retrying: the server says "not now", not "never". */
const transientStatuses: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504])

/**
 * Whether retrying the same request might succeed: network failures (except aborts, which
 * the caller asked for) and 408, 425, 429, 500, 502, 503, 504. Invalid input, decoding,
 * size and redirect errors are permanent. Idempotency is checked by the retry policy, not
 * here.
 *
 * @category guards
 * @since 0.1.0
 */
export const isTransient = (error: unknown): boolean =>
  error instanceof NetworkError
    ? error.reason !== "Aborted"
    : error instanceof StatusError && transientStatuses.has(error.status)

/**
 * Whether an error is a timeout, whichever phase fired.
 *
 * @category guards
 * @since 0.1.0
 */
export const isTimeout = (error: unknown): error is NetworkError =>
  error instanceof NetworkError && error.reason === "Timeout"
