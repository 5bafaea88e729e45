/**
 * `<dest>.part.meta`: what a `.part` file's bytes belong to, so a later attempt can resume it.
 *
 * It holds no secret: the URL is stored redacted (for a reader of the folder) next to a
 * sha256 of the full URL, which is what a resume matches on. (An unsalted hash of a URL whose
 * only unknown is a weak password can still be guessed offline; the file is 0600, and the
 * hash only has to tell "same URL" apart.)
 *
 * It is read as untrusted input: a file left by a crash, an older version or anyone with
 * write access to the folder. Anything the schema does not accept (bad JSON, a non-string
 * ETag, a control character in a validator that would become an invalid `If-Range` header,
 * a negative total) means "no usable meta": the `.part` is discarded and the download starts
 * clean. So does a meta written for another file than the `.part` beside it (its inode).
 * Reading it never fails.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import type { FileSystemError } from "./errors.js"
import * as FileName from "./fileName.js"
import * as Fs from "./fs.js"

export const metaPath = (part: string): string => part + FileName.metaSuffix

/** A header value we may send back (`If-Range`): visible ASCII and spaces, bounded. */
const HeaderValue = Schema.String.pipe(Schema.pattern(/^[\x20-\x7e]{1,1024}$/))

const MetaSchema = Schema.Struct({
  /** The URL, redacted: for a human reading the folder, never matched on. */
  url: Schema.String,
  /** sha256 (hex) of the full URL as requested: what a resume matches. */
  urlSha256: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)),
  etag: Schema.optional(HeaderValue),
  lastModified: Schema.optional(HeaderValue),
  total: Schema.optional(Schema.NonNegativeInt),
  /** The bytes were decoded from the served encoding (`decompress`): never resumed. */
  decoded: Schema.optional(Schema.Literal(true)),
  /**
   * The inode of the `.part` this meta was written for: a `.part` and meta that did not come
   * into being together (both planted, say by a server naming its files `x.part` and
   * `x.part.meta`, or copied) are never resumed.
   */
  ino: Schema.NonNegativeInt
})

/** What `<dest>.part.meta` holds. */
export type Meta = typeof MetaSchema.Type

// Strict: a key we did not write means a file we did not write (or an unknown version).
const decode = Schema.decodeUnknownEither(Schema.parseJson(MetaSchema), { onExcessProperty: "error" })

export const urlSha256 = (url: string): string => createHash("sha256").update(url, "utf8").digest("hex")

/** The meta for a `.part` of `url` (full, unredacted: it is hashed, not stored). */
export const make = (
  url: string,
  redactedUrl: string,
  validators: {
    readonly etag: string | undefined
    readonly lastModified: string | undefined
    readonly total: number | undefined
    readonly decoded?: boolean | undefined
  },
  ino: number
): Meta => ({
  url: redactedUrl,
  urlSha256: urlSha256(url),
  ...(validators.etag !== undefined ? { etag: validators.etag } : {}),
  ...(validators.lastModified !== undefined ? { lastModified: validators.lastModified } : {}),
  ...(validators.total !== undefined ? { total: validators.total } : {}),
  ...(validators.decoded === true ? { decoded: true as const } : {}),
  ino
})

/** Whether `meta` was written for the `.part` whose `lstat` is `stats` (the same inode). */
export const bindsTo = (meta: Meta, stats: { readonly ino: number }): boolean => meta.ino === stats.ino

/** Whether `meta` describes a `.part` of `url`. */
export const matches = (meta: Meta, url: string): boolean => meta.urlSha256 === urlSha256(url)

/**
 * The `.part`'s meta: `Missing` when there is none, `Invalid` when there is one the schema
 * refuses (or it cannot be read as a small regular file), never a failure.
 */
export const read = (part: string): Effect.Effect<
  { readonly _tag: "Missing" } | { readonly _tag: "Invalid" } | { readonly _tag: "Valid"; readonly meta: Meta }
> =>
  Effect.map(Fs.readSmall(metaPath(part)), (text) => {
    if (text === undefined) return { _tag: "Missing" } as const
    const decoded = decode(text)
    return Either.isRight(decoded) ? { _tag: "Valid", meta: decoded.right } as const : { _tag: "Invalid" } as const
  })

/** Writes the meta (private, replacing whatever is at its name). */
export const write = (part: string, meta: Meta): Effect.Effect<void, FileSystemError> =>
  Fs.writeSmall(metaPath(part), JSON.stringify(meta))
