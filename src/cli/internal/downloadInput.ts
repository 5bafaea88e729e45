/**
 * What `volley download` reads: the list of URLs (`URL [algo:HEX] [NAME]` per line), a
 * `sha256sum`-style checksum file, and the human-friendly sizes and durations of its flags.
 * Pure functions, so every rule is unit-tested without a process.
 */
import * as Either from "effect/Either"
import * as Download from "../../Download.js"
import type { Checksum } from "../../Download.js"
import { redactUrl } from "../../Errors.js"

const { algorithmForLength } = Download
const parseChecksum = (input: string): Checksum | string => Either.merge(Download.parseChecksum(input))
const FileName = { sanitize: Download.sanitizeName, fromUrl: Download.nameFromUrl }

/** One entry of the list: its URLs (mirrors, tried in turn), optional checksum, file name and headers. */
export interface Entry {
  /** 1-based line number, for messages. */
  readonly line: number
  /** The first URL. */
  readonly url: string
  /** Every URL of the line, the first included, in the order to try them. */
  readonly mirrors: ReadonlyArray<string>
  readonly checksum: Checksum | undefined
  readonly name: string | undefined
  readonly headers: Readonly<Record<string, string>> | undefined
}

/** A line that could not be used, reported as `FILE:LINE: message` and skipped. */
export interface LineError {
  readonly line: number
  readonly message: string
}

const checksumToken = /^[a-z0-9-]+:[0-9a-z]+$/i
const optionToken = /^(out|checksum|header)=(.*)$/s
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** Checks an http(s) URL token: the error, or undefined when fine. */
const urlProblem = (token: string): string | undefined => {
  let url: URL
  try {
    url = new URL(token)
  } catch {
    // Echoed redacted: a rejected line may still carry a password or a token.
    return `not a URL: ${JSON.stringify(redactUrl(token))}`
  }
  return url.protocol === "http:" || url.protocol === "https:" ? undefined : `unsupported scheme ${url.protocol.slice(0, -1)} (http or https)`
}

interface Building {
  line: number
  mirrors: Array<string>
  checksum: Checksum | undefined
  name: string | undefined
  headers: Record<string, string> | undefined
  failed: boolean
}

/** Applies an aria2-style option (`out=`, `checksum=`, `header=`); returns the error, if any. */
const applyOption = (entry: Building, key: string, value: string): string | undefined => {
  if (key === "out") {
    if (value.trim() === "") return "out= needs a file name"
    entry.name = value.trim()
    return undefined
  }
  if (key === "checksum") {
    // aria2 writes `sha-256=HEX`; volley's own form is `sha256:HEX`.
    const parsed = parseChecksum(value.trim().replace(/^([a-z0-9-]+)=/i, (_, algo: string) => `${algo.replace("-", "")}:`))
    if (typeof parsed === "string") return parsed
    entry.checksum = parsed
    return undefined
  }
  const colon = value.indexOf(":")
  const name = colon < 0 ? "" : value.slice(0, colon).trim()
  // Only the name is echoed: the value may be a credential.
  if (!headerName.test(name)) return `header= must be "Name: value", got ${colon < 0 ? "no colon" : `the name ${JSON.stringify(name)}`}`
  entry.headers = { ...entry.headers, [name.toLowerCase()]: value.slice(colon + 1).trim() }
  return undefined
}

/**
 * Parses the list. Blank lines and `#` comments are ignored. Each line holds one or more URLs
 * (mirrors of one file, tried in turn), then optionally `algo:HEX`, then options
 * (`out=NAME`, `checksum=ALGO=HEX`, `header=Name:value`) and/or a file name (the rest of the
 * line, so it may hold spaces). As in aria2's input files, an indented line right after an
 * entry holds one more option for it, whose value may hold spaces (`  header=X-Key: a b`).
 */
export const parseList = (text: string): { readonly entries: ReadonlyArray<Entry>; readonly errors: ReadonlyArray<LineError> } => {
  const entries: Array<Entry> = []
  const errors: Array<LineError> = []
  let current: Building | undefined
  const flush = () => {
    if (current !== undefined && !current.failed) {
      const { line, mirrors, checksum, name, headers } = current
      entries.push({ line, url: mirrors[0]!, mirrors, checksum, name, headers })
    }
    current = undefined
  }
  const fail = (entry: Building | undefined, line: number, message: string) => {
    if (entry !== undefined) entry.failed = true
    errors.push({ line, message })
  }
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1
    const trimmed = raw.trim()
    if (trimmed === "" || trimmed.startsWith("#")) return
    const option = optionToken.exec(trimmed)
    if (/^\s/.test(raw) && option === null && /^[a-z][a-z0-9-]*=/i.test(trimmed)) {
      return fail(current, line, `unknown option ${JSON.stringify(trimmed.slice(0, trimmed.indexOf("=")))} (out, checksum, header)`)
    }
    if (/^\s/.test(raw) && option !== null) {
      if (current === undefined) return fail(undefined, line, `option ${option[1]}= without a URL line before it`)
      const problem = applyOption(current, option[1]!, option[2]!)
      if (problem !== undefined) fail(current, line, problem)
      return
    }
    flush()
    const tokens = trimmed.split(/\s+/)
    const entry: Building = { line, mirrors: [], checksum: undefined, name: undefined, headers: undefined, failed: false }
    const first = urlProblem(tokens[0]!)
    if (first !== undefined) return fail(undefined, line, first)
    while (tokens.length > 0 && /^[a-z][a-z0-9+.-]*:\/\//i.test(tokens[0]!)) {
      const problem = urlProblem(tokens[0]!)
      if (problem !== undefined) return fail(undefined, line, problem)
      entry.mirrors.push(tokens.shift()!)
    }
    if (tokens.length > 0 && checksumToken.test(tokens[0]!)) {
      const parsed = parseChecksum(tokens[0]!)
      if (typeof parsed === "string") return fail(undefined, line, parsed)
      entry.checksum = parsed
      tokens.shift()
    }
    const nameParts: Array<string> = []
    for (const token of tokens) {
      const inline = optionToken.exec(token)
      if (inline === null) {
        nameParts.push(token)
        continue
      }
      const problem = applyOption(entry, inline[1]!, inline[2]!)
      if (problem !== undefined) return fail(undefined, line, problem)
    }
    if (nameParts.length > 0) entry.name = nameParts.join(" ")
    current = entry
  })
  flush()
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
