/**
 * The transport contract: what carries bytes for the client.
 *
 * Send a request, get status + headers + a body that can be pulled, released (drained if
 * small, aborted if large) or cancelled. The client's rules (deadlines, retries, redirects,
 * status checks, body scoping) sit above it, so the undici transport (`Client.layer`) and the
 * virtual-time one (`volley/testing`) run the same code. Each wait (for the headers, for more
 * of the body) takes the client's {@link Timeout}, armed on the {@link Timer} of the fiber's
 * clock: transports differ in how they carry bytes, never in how a deadline fires.
 *
 * A program builds a client over its own transport with `Client.makeWithTransport`; every
 * name here is also exported by `volley/Client`.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type { NetworkError } from "./Errors.js"

/**
 * A timer source: runs `fire` once after `ms`, unless the returned cancel function runs
 * first. The client derives one from the fiber's `Clock` and hands it to the transport with
 * each {@link Timeout}.
 *
 * @category models
 * @since 0.1.0
 */
export type Timer = (ms: number, fire: () => void) => () => void

/**
 * Request body forms the transport can send. Only the first two can be replayed.
 *
 * @category models
 * @since 0.1.0
 */
export type TransportBody = Uint8Array | string | AsyncIterable<Uint8Array>

/**
 * @category models
 * @since 0.1.0
 */
export interface TransportRequest {
  readonly url: URL
  readonly method: string
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: TransportBody | undefined
  /** The URL as printed in errors (credentials and secrets removed). */
  readonly redactedUrl: string
  /**
   * Decode a `Content-Encoding` (gzip, deflate, br, zstd where Node has it) while streaming;
   * the response then has no `content-encoding` / `content-length`. The virtual transport
   * serves what the test scripted and ignores it.
   */
  readonly decompress?: boolean | undefined
}

/**
 * A response body that the consumer pulls. Chunks already received are taken without
 * waiting (`poll`); `wait` suspends until more arrives. The body must end in exactly one
 * `release`, which the client guarantees with a finalizer.
 *
 * @category models
 * @since 0.1.0
 */
export interface BodySource {
  /** `Content-Length` when the server sent one. */
  readonly contentLength: number | undefined
  /**
   * A buffered chunk, `null` at the end of the body, or `undefined` when nothing is buffered
   * yet (call `wait`). After a transport error it returns `undefined` and `wait` fails.
   */
  readonly poll: () => Uint8Array | null | undefined
  /**
   * Resolves when `poll` has something new to say; fails with the transport error, or with
   * `timeout.error()` when the timeout fires first. Interruptible.
   */
  readonly wait: (timeout: Timeout | undefined) => Effect.Effect<void, NetworkError>
  /**
   * Ends the body's life. With `abort: false`, a small unread remainder (at most
   * `drainLimit` bytes) is drained so the connection can be reused, and anything larger is
   * aborted; with `abort: true` the connection is always closed. Idempotent.
   */
  readonly release: (abort: boolean) => void
}

/**
 * @category models
 * @since 0.1.0
 */
export interface TransportResponse {
  readonly status: number
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  readonly body: BodySource
  /** How the exchange went, in ms, when the transport measures it. */
  readonly timing?: ResponseTiming | undefined
}

/**
 * Timings of one request/response exchange (one hop), in milliseconds.
 *
 * @category models
 * @since 0.1.0
 */
export interface ResponseTiming {
  /** From handing the request to the connection pool to the response headers. */
  readonly ttfbMs: number
  /** When this request opened a new connection: how long opening it took (TCP, and TLS). */
  readonly connectMs: number | undefined
}

/**
 * Sends one request. Interrupting the effect before the headers arrive aborts the request,
 * unless the transport took `takeAbort` (below): then the caller does.
 *
 * `received`, when given, is called with the response the moment it exists, before the
 * effect succeeds with it: the client uses it to release a response whose hand-over was cut
 * short by an interruption, so no connection is ever orphaned.
 *
 * `takeAbort`, when given, is the caller's offer to abort the request itself: it runs the
 * effect with only the wait made interruptible (inside its own `uninterruptibleMask`), and
 * whenever the wait ends in anything but success it calls the function it was handed, or,
 * holding the response from `received`, releases that body with `abort: true`. It calls it
 * after any failure, the transport's own errors and timeouts included, so the function must
 * do nothing once the wait is over, and must not throw. A transport accepts by calling
 * `takeAbort` once, synchronously, before the request can leave (in `Effect.async`'s
 * register, whose only parameter must be `resume`: one taking a `signal` gets the frame
 * anyway); it then needs no interruption handler to abort the request. One that ignores the
 * offer aborts on interruption as above. Why the client offers: `Effect.async`'s canceler is
 * an `onInterrupt` (`onExit`) frame per request (figures: `internal/transport/undici.ts`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Transport {
  /** `timeout`, when given, bounds the wait for the headers (see {@link Timeout}). */
  readonly send: (
    request: TransportRequest,
    timeout: Timeout | undefined,
    received?: (response: TransportResponse) => void,
    takeAbort?: (abort: () => void) => void
  ) => Effect.Effect<TransportResponse, NetworkError>
}

/**
 * The bound on one wait, decided by the client: when `timer` fires after
 * `ms` (> 0) and the wait is still pending, the wait fails with `error()` and the
 * request is aborted, exactly as if the waiting fiber had been interrupted.
 *
 * @category models
 * @since 0.1.0
 */
export interface Timeout {
  readonly ms: number
  readonly error: () => NetworkError
  readonly timer: Timer
}
