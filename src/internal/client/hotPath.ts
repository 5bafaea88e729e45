/**
 * The orchestration-level shortcuts that reach into a response built by this client, each
 * with the `npm run bench` figure that keeps it. Everything else above the transport is
 * written plainly; where a runtime step is saved (`VOLLEY_BENCH=clientSteps npm run bench`),
 * the comment there says so. The transport's own optimisations (chunk buffer, boolean
 * backpressure, drain-or-abort release) live in `../transport/undici.ts`; `PlainGet`
 * (`request.ts`) keeps `@effect/platform`'s request module and `effect/Schema` out of programs
 * that only download (bench row `Download.file peak RSS`).
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Response } from "../../Client.js"
import type { BodyTooLargeError, NetworkError } from "../../Errors.js"
import { ScopedResponse } from "./response.js"

/**
 * Reads a response's body chunk by chunk without a Stream: the download's hot path, where a
 * Stream pull per 64 KiB chunk cost more CPU than the rest of the read (the figure: `npm run
 * bench`'s download target "volley >= 1.0x hand-written undici pipeline"). Same rules as `stream`: once per response, each wait bounded
 * by the idle timeout and the deadline. A response not built by this client is read through
 * its `stream`.
 */
export const forEachChunk = <E>(
  response: Response,
  onChunk: (chunk: Uint8Array) => Effect.Effect<void, E> | undefined
): Effect.Effect<void, E | NetworkError | BodyTooLargeError> =>
  response instanceof ScopedResponse
    ? response.eachChunk(onChunk)
    : Stream.runForEach(response.stream, (chunk) => onChunk(chunk) ?? Effect.void)

/**
 * The whole body as `as` of its bytes, decoded in the read: Batch's default handler, two
 * runtime steps fewer per item than `Effect.map(response.bytes, as)` (`clientSteps` bench,
 * `Batch.settle` row). A response not built by this client is read through its `bytes`.
 */
export const bytesAs = <A>(response: Response, as: (bytes: Uint8Array) => A): Effect.Effect<A, NetworkError | BodyTooLargeError> =>
  response instanceof ScopedResponse ? response.bytesAs(as) : Effect.map(response.bytes, as)
