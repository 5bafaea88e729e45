/**
 * `<dest>.part.meta`: what a `.part` file's bytes belong to, so a later attempt can resume it.
 *
 * It holds no secret: the URL is stored redacted (for a reader of the folder) next to a
 * sha256 of the full URL, which is what a resume matches on. (An unsalted hash of a URL whose
 * only unknown is a weak password can still be guessed offline; the file is 0600, and the
 * hash only has to tell "same URL" apart.)
 *
 * It is read as untrusted input: a file left by a crash, an older version or anyone with
 * write access to the folder. Anything {@link parse} does not accept (bad JSON, a non-string
 * ETag, a control character in a validator that would become an invalid `If-Range` header,
 * a negative total) means "no usable meta": the `.part` is discarded and the download starts
 * clean. So does a meta written for another file than the `.part` beside it (its inode).
 * Reading it never fails.
 */
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import type { FileSystemError } from "./errors.js"
import * as FileName from "./fileName.js"
import * as Fs from "./fs.js"

export const metaPath = (part: string): string => part + FileName.metaSuffix

/** What `<dest>.part.meta` holds. */
export interface Meta {
  /** The URL, redacted: for a human reading the folder, never matched on. */
  readonly url: string
  /** sha256 (hex) of the full URL as requested: what a resume matches. */
  readonly urlSha256: string
  readonly etag?: string | undefined
  readonly lastModified?: string | undefined
  readonly total?: number | undefined
  /** The bytes were decoded from the served encoding (`decompress`): never resumed. */
  readonly decoded?: true | undefined
  /**
   * The inode of the `.part` this meta was written for: a `.part` and meta that did not come
   * into being together (both planted, say by a server naming its files `x.part` and
   * `x.part.meta`, or copied) are never resumed.
   */
  readonly ino: number
}

// Checked by hand rather than with `effect/Schema`, which the download path would otherwise
// load for these seven fields alone (about 10 MiB): bench row `Download.file peak RSS`.
// test/downloadMeta.test.ts holds the cases.

/** A header value we may send back (`If-Range`): visible ASCII and spaces, bounded. */
const headerValue = /^[\x20-\x7e]{1,1024}$/
const sha256Hex = /^[0-9a-f]{64}$/
const isCount = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= 0
const optional = (u: unknown, valid: (u: unknown) => boolean): boolean => u === undefined || valid(u)
const isHeaderValue = (u: unknown): boolean => typeof u === "string" && headerValue.test(u)
// Strict: a key we did not write means a file we did not write (or an unknown version).
const keys = new Set(["url", "urlSha256", "etag", "lastModified", "total", "decoded", "ino"])

/** The meta in `text`, or `undefined` when it is not one (bad JSON, a wrong or extra field). */
export const parse = (text: string): Meta | undefined => {
  let u: unknown
  try {
    u = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof u !== "object" || u === null || Array.isArray(u)) return undefined
  const o = u as Record<string, unknown>
  for (const key of Object.keys(o)) if (!keys.has(key)) return undefined
  const valid = typeof o["url"] === "string" &&
    typeof o["urlSha256"] === "string" && sha256Hex.test(o["urlSha256"]) &&
    optional(o["etag"], isHeaderValue) &&
    optional(o["lastModified"], isHeaderValue) &&
    optional(o["total"], isCount) &&
    optional(o["decoded"], (d) => d === true) &&
    isCount(o["ino"])
  return valid ? o as unknown as Meta : undefined
}

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
 * The `.part`'s meta: `Missing` when there is none, `Invalid` when there is one {@link parse}
 * refuses (or it cannot be read as a small regular file), never a failure.
 */
export const read = (part: string): Effect.Effect<
  { readonly _tag: "Missing" } | { readonly _tag: "Invalid" } | { readonly _tag: "Valid"; readonly meta: Meta }
> =>
  Effect.map(Fs.readSmall(metaPath(part)), (text) => {
    if (text === undefined) return { _tag: "Missing" } as const
    const meta = parse(text)
    return meta !== undefined ? { _tag: "Valid", meta } as const : { _tag: "Invalid" } as const
  })

/** Writes the meta (private, replacing whatever is at its name). */
export const write = (part: string, meta: Meta): Effect.Effect<void, FileSystemError> =>
  Fs.writeSmall(metaPath(part), JSON.stringify(meta))
