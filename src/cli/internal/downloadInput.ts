/**
 * What `volley download` reads: the list of URLs (`URL [algo:HEX] [NAME]` per line), a
 * `sha256sum`-style checksum file, and the human-friendly sizes and durations of its flags.
 * Pure functions, so every rule is unit-tested without a process.
 */
import * as Either from "effect/Either"
import * as Download from "../../Download.js"
import type { Checksum } from "../../Download.js"

const { algorithmForLength } = Download
const parseChecksum = (input: string): Checksum | string => Either.merge(Download.parseChecksum(input))
const FileName = { sanitize: Download.sanitizeName, fromUrl: Download.nameFromUrl }
import { redactUrl } from "../../Errors.js"

/** One line of the list: a URL, its optional checksum and file name. */
export interface Entry {
  /** 1-based line number, for messages. */
  readonly line: number
  readonly url: string
  readonly checksum: Checksum | undefined
  readonly name: string | undefined
}

/** A line that could not be used, reported as `FILE:LINE: message` and skipped. */
export interface LineError {
  readonly line: number
  readonly message: string
}

const checksumToken = /^[a-z0-9-]+:[0-9a-z]+$/i

/**
 * Parses the list. Blank lines and `#` comments are ignored. Each line is a URL, then
 * optionally `algo:HEX`, then optionally a file name (the rest of the line, so it may hold
 * spaces).
 */
export const parseList = (text: string): { readonly entries: ReadonlyArray<Entry>; readonly errors: ReadonlyArray<LineError> } => {
  const entries: Array<Entry> = []
  const errors: Array<LineError> = []
  const lines = text.split(/\r?\n/)
  lines.forEach((raw, i) => {
    const line = i + 1
    const trimmed = raw.trim()
    if (trimmed === "" || trimmed.startsWith("#")) return
    const [urlToken, ...rest] = trimmed.split(/\s+/)
    let url: URL
    try {
      url = new URL(urlToken!)
    } catch {
      // Echoed redacted: a rejected line may still carry a password or a token.
      return void errors.push({ line, message: `not a URL: ${JSON.stringify(redactUrl(urlToken!))}` })
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return void errors.push({ line, message: `unsupported scheme ${url.protocol.slice(0, -1)} (http or https)` })
    }
    let checksum: Checksum | undefined
    if (rest.length > 0 && checksumToken.test(rest[0]!)) {
      const parsed = parseChecksum(rest[0]!)
      if (typeof parsed === "string") return void errors.push({ line, message: parsed })
      checksum = parsed
      rest.shift()
    }
    const nameText = rest.join(" ").trim()
    const name = nameText === "" ? undefined : nameText
    entries.push({ line, url: urlToken!, checksum, name })
  })
  return { entries, errors }
}

/**
 * Parses `sha256sum`-style output: `HEX  name` (text mode) or `HEX *name` (binary mode),
 * also `sha512sum`/`sha1sum`/`md5sum` (the digest length says which), and BSD-style
 * `SHA256 (name) = HEX`. Names map to their last path segment, as files land in one folder.
 */
export const parseChecksums = (text: string): { readonly sums: ReadonlyMap<string, Checksum>; readonly errors: ReadonlyArray<LineError> } => {
  const sums = new Map<string, Checksum>()
  const errors: Array<LineError> = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1
    const trimmed = raw.trim()
    if (trimmed === "" || trimmed.startsWith("#")) return
    const gnu = /^\\?([0-9a-fA-F]+) [ *](.+)$/.exec(trimmed)
    const bsd = /^([A-Za-z0-9-]+) \((.+)\) = ([0-9a-fA-F]+)$/.exec(trimmed)
    let checksum: Checksum | string
    let name: string
    if (gnu !== null) {
      const hex = gnu[1]!.toLowerCase()
      const algorithm = algorithmForLength(hex.length)
      checksum = algorithm === undefined ? `a digest of ${hex.length} hex digits matches no supported algorithm` : { algorithm, hex }
      name = gnu[2]!
    } else if (bsd !== null) {
      checksum = parseChecksum(`${bsd[1]!}:${bsd[3]!}`)
      name = bsd[2]!
    } else {
      return void errors.push({ line, message: "expected `HEX  name`, `HEX *name` or `ALGO (name) = HEX`" })
    }
    if (typeof checksum === "string") return void errors.push({ line, message: checksum })
    sums.set(FileName.sanitize(name), checksum)
  })
  return { sums, errors }
}

/** The name a list entry will be looked up by in a checksum file: its own, or the URL's. */
export const lookupName = (entry: Entry): string =>
  entry.name !== undefined ? FileName.sanitize(entry.name) : FileName.fromUrl(entry.url)

const units: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4
}

/** `1048576`, `512K`, `100MiB`, `1.5G`, `2GB` (K/M/G alone are binary). */
export const parseSize = (text: string): number | undefined => {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim())
  if (match === null) return undefined
  const unit = units[match[2]!.toLowerCase()]
  if (unit === undefined) return undefined
  const n = Math.floor(Number(match[1]) * unit)
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

const durationUnits: Readonly<Record<string, number>> = { ms: 1, s: 1000, "": 1000, m: 60_000, h: 3_600_000 }

/** `30` (seconds), `500ms`, `30s`, `2m`, `1h`; milliseconds, or undefined when invalid. */
export const parseDuration = (text: string): number | undefined => {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|)$/i.exec(text.trim())
  if (match === null) return undefined
  const ms = Number(match[1]) * durationUnits[match[2]!.toLowerCase()]!
  return Number.isFinite(ms) && ms > 0 ? ms : undefined
}

/** A positive integer flag value, or undefined. */
export const parsePositiveInt = (text: string): number | undefined => {
  if (!/^\d+$/.test(text.trim())) return undefined
  const n = Number(text)
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}
