/**
 * The transport contract: send one request, get status + headers + a pull-based body.
 *
 * The client's logic (deadlines, retries, redirects, status checks, body scoping) sits above
 * this interface, so the real undici transport and the virtual-time test transport run the
 * same code path. Each wait (for the headers, for more of the body) takes the client's
 * {@link Timeout}, armed on the timer source of the fiber's clock: the transports differ in
 * how they carry bytes, never in how a deadline fires.
 */
import type * as Effect from "effect/Effect"
import * as zlib from "node:zlib"
import type { NetworkError } from "../../Errors.js"
import type { Timer } from "./timer.js"

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

export interface TransportResponse {
  readonly status: number
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  readonly body: BodySource
}

/**
 * Sends one request. Interrupting the effect before the headers arrive aborts the request.
 *
 * `received`, when given, is called with the response the moment it exists, before the
 * effect succeeds with it: the client uses it to release a response whose hand-over was cut
 * short by an interruption, so no connection is ever orphaned.
 */
export interface Transport {
  /** `timeout`, when given, bounds the wait for the headers (see {@link Timeout}). */
  readonly send: (
    request: TransportRequest,
    timeout: Timeout | undefined,
    received?: (response: TransportResponse) => void
  ) => Effect.Effect<TransportResponse, NetworkError>
}

/**
 * The bound on one wait, decided by the client (`client/deadline.ts`): when `timer` fires
 * after `ms` (> 0) and the wait is still pending, the wait fails with `error()` and the
 * request is aborted, exactly as if the waiting fiber had been interrupted.
 */
export interface Timeout {
  readonly ms: number
  readonly error: () => NetworkError
  readonly timer: Timer
}

/** The content codings this Node can decode, best first: the `Accept-Encoding` volley sends. */
export const acceptEncoding: string = typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === "function"
  ? "gzip, deflate, br, zstd"
  : "gzip, deflate, br"

/** Unread bodies up to this size are drained on release so the connection returns to the pool. */
export const drainLimit = 64 * 1024
