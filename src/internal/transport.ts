/**
 * The transport contract: send one request, get status + headers + a pull-based body.
 *
 * The client's logic (deadlines, retries, redirects, status checks, body scoping) sits above
 * this interface, so the real undici transport and the virtual-time test transport run the
 * same code path.
 */
import type * as Effect from "effect/Effect"
import type { NetworkError } from "../Errors.js"

/** Request body forms the transport can send. Only the first two can be replayed. */
export type TransportBody = Uint8Array | string | AsyncIterable<Uint8Array>

export interface TransportRequest {
  readonly url: URL
  readonly method: string
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: TransportBody | undefined
  /** The URL as printed in errors (credentials and secrets removed). */
  readonly redactedUrl: string
}

/**
 * A response body that the consumer pulls. Chunks already received are taken without
 * waiting (`poll`); `wait` suspends until more arrives. The body must end in exactly one
 * `release`, which the client guarantees with a finalizer.
 */
export interface BodySource {
  /** `Content-Length` when the server sent one. */
  readonly contentLength: number | undefined
  /**
   * A buffered chunk, `null` at the end of the body, or `undefined` when nothing is buffered
   * yet (call `wait`). After a transport error it returns `undefined` and `wait` fails.
   */
  readonly poll: () => Uint8Array | null | undefined
  /** Resolves when `poll` has something new to say; fails with the transport error. Interruptible. */
  readonly wait: Effect.Effect<void, NetworkError>
  /**
   * Optional fast path: `wait` bounded by a timer the transport arms itself. The client uses
   * it only when the fiber's clock is the live one; under any other clock (a `TestClock`)
   * it bounds `wait` with `Effect.timeoutFail` instead. Must behave exactly like that.
   */
  readonly waitWithin?: (timeout: Timeout) => Effect.Effect<void, NetworkError>
  /**
   * Ends the body's life. With `abort: false`, a small unread remainder (at most
   * `drainLimit` bytes) is drained so the connection can be reused, and anything larger is
   * aborted; with `abort: true` the connection is always closed. Idempotent.
   */
  readonly release: (abort: boolean) => void
}

export interface TransportResponse {
  readonly status: number
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  readonly body: BodySource
  /** How the exchange went, in ms, when the transport measures it. */
  readonly timing?: ResponseTiming | undefined
}

/** Timings of one request/response exchange (one hop), in milliseconds. */
export interface ResponseTiming {
  /** From handing the request to the connection pool to the response headers. */
  readonly ttfbMs: number
  /** When this request opened a new connection: how long opening it took (TCP, and TLS). */
  readonly connectMs: number | undefined
}

/**
 * Sends one request. Interrupting the effect before the headers arrive aborts the request.
 *
 * `received`, when given, is called with the response the moment it exists, before the
 * effect succeeds with it: the client uses it to release a response whose hand-over was cut
 * short by an interruption, so no connection is ever orphaned.
 */
export interface Transport {
  readonly send: (request: TransportRequest, received?: (response: TransportResponse) => void) => Effect.Effect<TransportResponse, NetworkError>
  /** Optional fast path: `send` bounded by a transport-armed timer (see `BodySource.waitWithin`). */
  readonly sendWithin?: (
    request: TransportRequest,
    timeout: Timeout,
    received?: (response: TransportResponse) => void
  ) => Effect.Effect<TransportResponse, NetworkError>
}

/**
 * A deadline for one wait, for transports that arm timers themselves: after `ms` the wait
 * fails with `error()` and the request is aborted, exactly as if the fiber was interrupted
 * by `Effect.timeoutFail`. It exists because a fiber race per request costs more than the
 * request itself on a fast local network.
 */
export interface Timeout {
  readonly ms: number
  readonly error: () => NetworkError
}

/** Unread bodies up to this size are drained on release so the connection returns to the pool. */
export const drainLimit = 64 * 1024
