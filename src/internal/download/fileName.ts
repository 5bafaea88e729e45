/**
 * File names for downloads: derived from the URL path (default) or a server's
 * `Content-Disposition` (only when asked), always sanitized so that no name a server or a URL
 * suggests can leave the target folder, hide itself, or trip a reserved device name.
 */
import * as path from "node:path"

/** The name used when nothing usable is left after sanitizing. */
export const fallbackName = "download"

/**
 * Longest name, in UTF-8 bytes. Most file systems allow 255; the rest leaves room for the
 * ` (n)` collision suffix and the `.part.meta` companion file.
 */
export const maxNameBytes = 200

/**
 * Controls (C0, DEL, C1: category Cc), format characters (Cf: bidi overrides such as U+202E,
 * which makes `exe.txt` read as `txt.exe`, the Arabic letter mark U+061C, zero-width spaces
 * and joiners, the BOM, the soft hyphen) and line and paragraph separators (Zl, Zp): each
 * hides or reorders what a reader sees.
 */
const unsafeChars = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu

/**
 * The suffixes of a download's side files (`<name>.part`, `<name>.part.meta`), defined once
 * here: a suggested name ending in one could plant a staging file for a later download.
 */
export const partSuffix = ".part"
export const metaSuffix = ".meta"
const sidecarName = /\.part(?:\.meta)?$/i
/** Characters Windows forbids in names; replaced everywhere so a folder can be copied across systems. */
const windowsForbidden = /[<>:"|?*]/g
const windowsReserved = /^(con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³])$/i

const utf8 = new TextEncoder()
const byteLength = (s: string): number => utf8.encode(s).length

/** Cuts `s` to at most `max` UTF-8 bytes without splitting a code point. */
const truncateBytes = (s: string, max: number): string => {
  if (byteLength(s) <= max) return s
  let out = ""
  let used = 0
  for (const ch of s) {
    const n = byteLength(ch)
    if (used + n > max) break
    out += ch
    used += n
  }
  return out
}

/** Leading dots and whitespace (no hidden files, no `..`), trailing dots and whitespace (Windows drops them). */
const trimEdges = (s: string): string => s.replace(/^[\s.]+/, "").replace(/[\s.]+$/, "")

/**
 * Splits a name into stem and extension, keeping compound `.tar.*` extensions whole:
 * `a.tar.gz` -> [`a`, `.tar.gz`]. A name without a dot (or only a leading one) has none.
 */
export const splitExtension = (name: string): readonly [stem: string, ext: string] => {
  const tar = /^(.+?)(\.tar\.[a-z0-9]{1,5})$/i.exec(name)
  if (tar !== null) return [tar[1]!, tar[2]!]
  const dot = name.lastIndexOf(".")
  return dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""]
}

/**
 * Makes any suggested name safe as a single file name inside a folder:
 * - only the last path segment is kept (`../../x` -> `x`, `/etc/passwd` -> `passwd`, `a\b` -> `b`);
 * - control, format (bidi overrides, zero-width) and line-separator characters become `_`, as do `<>:"|?*`;
 * - leading dots/spaces and trailing dots/spaces are trimmed (no `..`, no hidden files);
 * - Windows device names (`CON`, `nul.txt`, `COM1`…) get a `_` prefix;
 * - the length is bounded to {@link maxNameBytes} UTF-8 bytes, keeping the extension;
 * - a name ending in `.part` or `.part.meta` (a download's side files) gets a `_` appended;
 * - an empty result becomes {@link fallbackName}.
 */
export const sanitize = (raw: string): string => {
  let name = raw.normalize("NFC").replace(unsafeChars, "_")
  const segments = name.split(/[\\/]/).filter((s) => trimEdges(s) !== "")
  name = segments.length > 0 ? segments[segments.length - 1]! : ""
  name = trimEdges(name.replace(windowsForbidden, "_"))
  if (name === "") return fallbackName
  // Windows treats `CON`, `con.txt`, `con .tar.gz` alike: the part before the first dot counts.
  if (windowsReserved.test(name.split(".")[0]!.trim())) name = `_${name}`
  if (byteLength(name) > maxNameBytes) {
    const [s, e] = splitExtension(name)
    const keepExt = byteLength(e) <= 24 ? e : ""
    name = trimEdges(truncateBytes(keepExt === "" ? name : s, maxNameBytes - byteLength(keepExt))) + keepExt
    name = trimEdges(name)
  }
  if (name === "") return fallbackName
  // Never a side file's name: `x.part` from one server must not be resumed as another's `x`.
  return sidecarName.test(name) ? `${name}_` : name
}

/** The last segment of the URL's path, percent-decoded (when valid) and sanitized. */
export const fromUrl = (url: URL | string): string => {
  let pathname: string
  try {
    pathname = (typeof url === "string" ? new URL(url) : url).pathname
  } catch {
    return fallbackName
  }
  const segments = pathname.split("/").filter((s) => s !== "")
  const last = segments[segments.length - 1] ?? ""
  let decoded = last
  try {
    decoded = decodeURIComponent(last)
  } catch {
    // Malformed escapes: keep the raw segment.
  }
  return sanitize(decoded)
}

/** Splits header parameters on `;`, honouring quoted strings with backslash escapes. */
const parseParams = (header: string): Map<string, string> => {
  const params = new Map<string, string>()
  let i = header.indexOf(";")
  if (i < 0) return params
  const n = header.length
  while (i < n) {
    // Skip separators and whitespace.
    while (i < n && (header[i] === ";" || header[i] === " " || header[i] === "\t")) i++
    const eq = header.indexOf("=", i)
    const semi = header.indexOf(";", i)
    if (eq < 0 || (semi >= 0 && semi < eq)) {
      i = semi < 0 ? n : semi // a bare token: no value
      continue
    }
    const key = header.slice(i, eq).trim().toLowerCase()
    i = eq + 1
    while (i < n && (header[i] === " " || header[i] === "\t")) i++
    let value = ""
    if (header[i] === "\"") {
      i++
      while (i < n && header[i] !== "\"") {
        if (header[i] === "\\" && i + 1 < n) i++
        value += header[i]
        i++
      }
      i++ // closing quote
      const next = header.indexOf(";", i)
      i = next < 0 ? n : next
    } else {
      const end = header.indexOf(";", i)
      value = header.slice(i, end < 0 ? n : end).trim()
      i = end < 0 ? n : end
    }
    if (key !== "" && !params.has(key)) params.set(key, value)
  }
  return params
}

const latin1Decoder = new TextDecoder("latin1")
const utf8Strict = new TextDecoder("utf-8", { fatal: true })

/** Decodes an RFC 5987 `ext-value`: `charset'lang'pct-encoded`. */
const decodeExtValue = (value: string): string | undefined => {
  const match = /^([^']*)'[^']*'(.*)$/.exec(value)
  if (match === null) return undefined
  const charset = match[1]!.toLowerCase()
  const encoded = match[2]!
  const bytes: Array<number> = []
  for (let i = 0; i < encoded.length; i++) {
    const c = encoded[i]!
    if (c === "%" && /^[0-9a-f]{2}$/i.test(encoded.slice(i + 1, i + 3))) {
      bytes.push(parseInt(encoded.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      const code = c.charCodeAt(0)
      if (code > 0xff) return undefined
      bytes.push(code)
    }
  }
  const buffer = Uint8Array.from(bytes)
  try {
    if (charset === "utf-8" || charset === "utf8") return utf8Strict.decode(buffer)
    if (charset === "iso-8859-1" || charset === "latin1") return latin1Decoder.decode(buffer)
  } catch {
    return undefined
  }
  return undefined
}

/**
 * Headers reach us decoded as Latin-1; a server that put raw UTF-8 in `filename="…"` then
 * shows up as mojibake. Re-decode when the bytes are valid UTF-8.
 */
const repairUtf8 = (value: string): string => {
  if (!/[\u0080-\u00ff]/.test(value) || /[^\u0000-\u00ff]/.test(value)) return value
  try {
    return utf8Strict.decode(Uint8Array.from(value, (c) => c.charCodeAt(0)))
  } catch {
    return value
  }
}

/**
 * The file name a `Content-Disposition` header suggests, unsanitized: `filename*` (RFC 5987,
 * UTF-8 or ISO-8859-1) wins over `filename`. `undefined` when it names none.
 */
export const parseContentDisposition = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined
  const params = parseParams(header)
  const extended = params.get("filename*")
  if (extended !== undefined) {
    const decoded = decodeExtValue(extended)
    if (decoded !== undefined && decoded !== "") return decoded
  }
  const plain = params.get("filename")
  return plain === undefined || plain === "" ? undefined : repairUtf8(plain)
}

/** The sanitized name a `Content-Disposition` header suggests, or `undefined`. */
export const fromContentDisposition = (header: string | undefined): string | undefined => {
  const raw = parseContentDisposition(header)
  return raw === undefined ? undefined : sanitize(raw)
}

/**
 * The absolute path of `name` inside `dir`, or `undefined` when it would resolve anywhere
 * else (the last check, after sanitizing, that nothing escapes the folder).
 */
export const resolveInside = (dir: string, name: string): string | undefined => {
  const base = path.resolve(dir)
  const full = path.resolve(base, name)
  const prefix = base.endsWith(path.sep) ? base : base + path.sep
  return full.startsWith(prefix) && full.length > prefix.length && path.dirname(full) === base ? full : undefined
}

/** `name (n)` with the counter before the extension: `report (1).pdf`, `a (2).tar.gz`. */
export const withCounter = (name: string, n: number): string => {
  const [stem, ext] = splitExtension(name)
  return `${stem} (${n})${ext}`
}

/**
 * Hands out unique names within one run, in the order they are claimed: the first `name`
 * keeps it, the next get `name (1)`, `name (2)`… Names compare case-insensitively, so the
 * result is also safe on case-insensitive file systems. With `sidecars` (e.g. `.part`), a
 * claim also takes `name + sidecar` for each, so no claimed name is another's side file.
 */
export interface NameAllocator {
  readonly claim: (name: string) => string
}

/** A fresh {@link NameAllocator}. */
export const makeAllocator = (sidecars: ReadonlyArray<string> = []): NameAllocator => {
  const taken = new Set<string>()
  const free = (candidate: string) => {
    const key = candidate.toLowerCase()
    return !taken.has(key) && sidecars.every((suffix) => !taken.has(key + suffix.toLowerCase()))
  }
  return {
    claim: (name) => {
      let candidate = name
      for (let n = 1; !free(candidate); n++) candidate = withCounter(name, n)
      taken.add(candidate.toLowerCase())
      for (const suffix of sidecars) taken.add((candidate + suffix).toLowerCase())
      return candidate
    }
  }
}
