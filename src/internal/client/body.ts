/**
 * Reading a response body above the transport: whole (with a size limit), as a stream, chunk
 * by chunk, or a short snippet for an error message. Every wait for more of the body is
 * bounded by the idle timeout and the attempt's deadline.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { BodyTooLargeError, type NetworkError } from "../../Errors.js"
import type { BodySource } from "../../Client.js"
import { type Attempt, boundFor } from "./deadline.js"

export const snippetBytes = 1024

const empty = new Uint8Array(0)

/** Waits for more of the body, bounded by the idle timeout and the deadline. */
const waitBody = (attempt: Attempt, body: BodySource): Effect.Effect<void, NetworkError> => {
  const bound = boundFor(attempt, attempt.settings.idleTimeoutMs, "body")
  if (bound !== undefined && bound.ms <= 0) return Effect.fail(bound.error())
  return body.wait(bound)
}

/** The body exceeded `limit` bytes. */
export const tooLarge = (attempt: Attempt, body: BodySource, limit: number): BodyTooLargeError =>
  new BodyTooLargeError({ method: attempt.request.method, url: attempt.request.redactedUrl, limit, contentLength: body.contentLength })

/**
 * Reads the whole body into memory, failing fast once it exceeds `limit`, and gives `as` of
 * its bytes. Starts reading when called: call it when the effect runs.
 */
export const readAll = <A>(
  attempt: Attempt,
  body: BodySource,
  limit: number,
  as: (bytes: Uint8Array) => A
): Effect.Effect<A, NetworkError | BodyTooLargeError> => {
  if (body.contentLength !== undefined && body.contentLength > limit) return Effect.fail(tooLarge(attempt, body, limit))
  // Most bodies this small arrive in one chunk: the array is made only for a second one (a
  // per-request array literal is a site V8 may pretenure: see `hotPath.ts`).
  let first: Uint8Array = empty
  let more: Array<Uint8Array> | undefined
  let size = 0
  return eachChunk(attempt, body, limit, (chunk) => {
    if (size === 0 && more === undefined) first = chunk
    else (more ??= [first]).push(chunk)
    size += chunk.length
    return undefined
  }, () => Effect.sync(() => as(more === undefined ? first : concat(more, size))))
}

/** The body as a stream of chunks, each pull bounded by the idle timeout and the deadline. */
export const streamBody = (attempt: Attempt, body: BodySource, limit: number): Stream.Stream<Uint8Array, NetworkError | BodyTooLargeError> => {
  let size = 0
  const pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<NetworkError | BodyTooLargeError>> = Effect.suspend(() => {
    const taken: Array<Uint8Array> = []
    for (;;) {
      const chunk = body.poll()
      if (chunk === undefined) break
      if (chunk === null) {
        return taken.length > 0 ? Effect.succeed(Chunk.unsafeFromArray(taken)) : Effect.fail(Option.none())
      }
      size += chunk.length
      if (size > limit) {
        return Effect.fail(Option.some(tooLarge(attempt, body, limit)))
      }
      taken.push(chunk)
    }
    if (taken.length > 0) return Effect.succeed(Chunk.unsafeFromArray(taken))
    return Effect.flatMap(Effect.mapError(waitBody(attempt, body), Option.some), () => pull)
  })
  return Stream.repeatEffectChunkOption(pull)
}

/**
 * The body handed to `onChunk` one chunk at a time, with no Stream in between: chunks already
 * received are taken in a plain loop, and the only Effect per chunk is the wait for the next
 * one (or what `onChunk` returns: `undefined` to go on at once, an Effect to run first). At
 * the end, `onEnd`. Each wait is bounded by the idle timeout and the deadline; past `limit`
 * bytes it fails. Starts reading when called: call it when the effect runs.
 */
export const eachChunk = <A, E>(
  attempt: Attempt,
  body: BodySource,
  limit: number,
  onChunk: (chunk: Uint8Array) => Effect.Effect<void, E> | undefined,
  onEnd: () => Effect.Effect<A>
): Effect.Effect<A, E | NetworkError | BodyTooLargeError> => {
  let size = 0
  const loop = (): Effect.Effect<A, E | NetworkError | BodyTooLargeError> => {
    for (;;) {
      const chunk = body.poll()
      if (chunk === null) return onEnd()
      if (chunk === undefined) return Effect.flatMap(waitBody(attempt, body), loop)
      size += chunk.length
      if (size > limit) return Effect.fail(tooLarge(attempt, body, limit))
      const next = onChunk(chunk)
      if (next !== undefined) return Effect.flatMap(next, loop)
    }
  }
  return loop()
}

export const concat = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

export const utf8 = new TextDecoder("utf-8")

/** The longest a diagnostic snippet waits for more of an error body: it must not delay the error. */
export const snippetWaitMs = 1_000

/** Reads at most `max` bytes of the body for an error message; never fails, never waits long. */
export const snippet = (attempt: Attempt, body: BodySource, max: number): Effect.Effect<string> => {
  const idle = attempt.settings.idleTimeoutMs
  const brief = { ...attempt, settings: { ...attempt.settings, idleTimeoutMs: Math.min(idle ?? snippetWaitMs, snippetWaitMs) } }
  const chunks: Array<Uint8Array> = []
  let size = 0
  const loop = (): Effect.Effect<void, NetworkError> => {
    while (size < max) {
      const chunk = body.poll()
      if (chunk === null) return Effect.void
      if (chunk === undefined) return Effect.flatMap(waitBody(brief, body), loop)
      chunks.push(chunk)
      size += chunk.length
    }
    return Effect.void
  }
  return loop().pipe(
    Effect.ignore,
    Effect.map(() => utf8.decode(concat(chunks, size).subarray(0, max)).replace(/\uFFFD$/, ""))
  )
}
