/**
 * Resuming a download: whether the `.part` left by an earlier attempt may be continued (its
 * meta binds it to this file and names this URL and a validator), and whether the server's
 * `206` continues it.
 */
import * as Effect from "effect/Effect"
import type { FileSystemError } from "./errors.js"
import * as Fs from "./fs.js"
import * as Meta from "./meta.js"

export interface ResumeState {
  readonly offset: number
  readonly meta: Meta.Meta
  /** The value sent as `If-Range`. */
  readonly validator: string
}

/** A strong ETag (weak ones may not be used with If-Range, RFC 9110 §13.1.5). */
export const strongEtag = (value: string | undefined): string | undefined =>
  value !== undefined && value.startsWith("\"") ? value : undefined

/** What the `.part` at `part` may resume `url` from: its size, its meta and the validator to send; `undefined` to start over. */
export const resumeState = (part: string, url: string): Effect.Effect<ResumeState | undefined, FileSystemError> =>
  Effect.gen(function*() {
    const stats = yield* Fs.statOrUndefined(part)
    // A link (symbolic or hard) is never resumed: the fresh start replaces it.
    if (stats === undefined || !Fs.isOwnFile(stats) || stats.size === 0) return undefined
    const found = yield* Meta.read(part)
    if (found._tag === "Invalid") {
      // Not a meta we wrote (or a torn one): its .part cannot be trusted to be any URL's prefix.
      yield* discardPart(part)
      return undefined
    }
    if (found._tag === "Valid" && !Meta.bindsTo(found.meta, stats)) {
      // Not the meta of this .part (planted beside it, or copied): its bytes are nobody's prefix.
      yield* discardPart(part)
      return undefined
    }
    // Decoded bytes are no prefix of any representation a Range could continue.
    if (found._tag !== "Valid" || !Meta.matches(found.meta, url) || found.meta.decoded === true) return undefined
    const meta = found.meta
    const validator = strongEtag(meta.etag) ?? meta.lastModified
    if (validator === undefined) return undefined
    if (meta.total !== undefined && stats.size > meta.total) return undefined
    return { offset: stats.size, meta, validator }
  })

/** Removes the `.part` and its meta: its bytes can never become the right file. */
export const discardPart = (part: string): Effect.Effect<void> =>
  Effect.ignore(Effect.zipRight(Fs.remove(Meta.metaPath(part)), Fs.remove(part)))

/** Parses `Content-Range`: `bytes a-b/total`, or `bytes (star)/total` on a 416. */
export const parseContentRange = (value: string | undefined) => {
  const match = value === undefined ? null : /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(value.trim())
  if (match === null) return undefined
  return {
    start: match[1] === undefined ? undefined : Number(match[1]),
    end: match[2] === undefined ? undefined : Number(match[2]),
    total: match[3] === "*" || match[3] === undefined ? undefined : Number(match[3])
  }
}

/**
 * Whether a 206 continues the `.part` it answers: it starts at our offset, and agrees with
 * itself (its end inside its total, its Content-Length the range's length) and with what was
 * recorded (the same total: a file changed under the same validator has another size).
 */
export const continues = (
  range: ReturnType<typeof parseContentRange>,
  state: ResumeState,
  contentLength: number | undefined
): range is { readonly start: number; readonly end: number; readonly total: number | undefined } =>
  range !== undefined && range.start === state.offset && range.end !== undefined && range.end >= range.start &&
  (range.total === undefined || range.end < range.total) &&
  (range.total === undefined || state.meta.total === undefined || range.total === state.meta.total) &&
  (contentLength === undefined || contentLength === range.end - range.start + 1)
