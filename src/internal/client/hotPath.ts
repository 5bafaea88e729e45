/**
 * The orchestration-level shortcut that survives, with the `npm run bench` figure that keeps
 * it. Everything else above the transport is written plainly (the attempt reads its clock
 * with `Effect.clockWith`: one runtime step in effect 3.22, measured with
 * `VOLLEY_BENCH=clientSteps npm run bench`, 27.0 / 33.1 steps per request either way). The
 * transport's own optimisations (chunk buffer, boolean backpressure, drain-or-abort release)
 * live in `../transport/undici.ts`. (`PlainGet` in `request.ts` no longer pays: see there.)
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
