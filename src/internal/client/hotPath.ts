/**
 * The orchestration-level shortcuts that reach into a response built by this client, each
 * with the `npm run bench` figure that keeps it. Everything else above the transport is
 * written plainly; where a runtime step is saved (`VOLLEY_BENCH=clientSteps npm run bench`),
 * the comment there says so. The transport's own optimisations (chunk buffer, boolean
 * backpressure, drain-or-abort release, no canceler on the wait for the headers) live in
 * `../transport/undici.ts`; `PlainGet`
 * (`request.ts`) keeps `@effect/platform`'s request module and `effect/Schema` out of programs
 * that only download (bench row `Download.file peak RSS`).
 *
 * Per-request records are class instances, not object literals (each such class points here),
 * and the transport's chunk buffer is emptied in place. V8 pretenures an object literal's
 * allocation site (allocates it straight in old space) once most of its objects are alive at a
 * young collection, which 64 requests in flight can make true. A record so allocated is garbage
 * in old space once its request ends, but until the next full collection it keeps the young
 * objects it points to alive; they are copied, then promoted, and the sites that made them cross
 * the threshold in turn. `new` has no allocation site, so it stops the cascade. Measured over
 * 40,000 loopback GETs (Batch.settle, c=64, one process): promoted bytes 60 MB to 4 MB,
 * scavenge time 330 ms to 100 ms, CPU -17%. Outcomes and `Fetched` stay literals: they live to
 * the end of the batch anyway.
 *
 * Finding which sites V8 tenured: `node --no-compact --trace-pretenuring-statistics` prints
 * each site's address as it decides "=> tenure"; with the process held before it exits,
 * `gdb -p PID -batch -ex 'call (void)_Z25_v8_internal_Print_ObjectPv((void*)ADDRESS)'` prints
 * the site: its literal's boilerplate (the property names) or "Array allocation" (an empty `[]`
 * or `new Array()`), and its dependent code, whose inlined functions name the caller. Then
 * `%InYoungGeneration` (`--allow-natives-syntax`) on the suspect object confirms the fix.
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
