/**
 * URL redaction for errors, logs, NDJSON and files: a URL volley prints or stores must not
 * leak the credentials or tokens it carried.
 *
 * Query (and fragment, and `;matrix`) values are redacted by default; only names on a short
 * allowlist of presentation and paging parameters keep their values. Why not a blocklist of
 * secret-looking names, as before: it leaked `pass`, `pw`, `jwt`, `sid`, `PHPSESSID`, `creds`,
 * `bearer`, and every service invents more (`X-Amz-Credential`, `sv`/`sig`, `hash`, `otp`…).
 * A secret the list misses is in a log or on disk for good; a harmless value masked costs a
 * little debugging, and the URL's shape (path, names) still says which request it was.
 * Security by default, as the project's owner wants.
 *
 * Names are matched after percent-decoding (`p%61ssword` is `password`), case-insensitively.
 * Userinfo becomes `***`. Path segments are masked where a token is recognisable: a JWT, a
 * well-known token prefix (GitHub, Slack, Stripe, AWS key ids, Google API keys, Telegram
 * bots), or the segment after one named like a secret (`/token/<x>`, `/api_key/<x>`).
 */

/** Query names whose values are kept: paging, sorting, formatting, search. Never credentials. */
const safeNames: ReadonlySet<string> = new Set([
  "page", "per_page", "perpage", "page_size", "pagesize", "limit", "offset", "count", "size",
  "sort", "sort_by", "sortby", "order", "order_by", "orderby", "dir", "direction",
  "format", "fmt", "lang", "locale", "hl", "q", "query", "search", "fields", "include", "expand",
  "v", "version", "api-version", "view", "mode", "type", "width", "height", "w", "h",
  "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"
])

/** A path segment that is a token by its look. */
const tokenSegment =
  /^(?:eyJ[\w-]*\.[\w-]+\.[\w-]*|gh[pousr]_\w{20,}|github_pat_\w{20,}|xox[abprs]-[\w-]{10,}|[sr]k_(?:live|test)_\w{10,}|AKIA[0-9A-Z]{16}|AIza[\w-]{30,}|bot\d+:[\w-]{30,})$/
/** A path segment named like a secret: the segment after it is masked. */
const secretSegment = /^(?:token|tokens|access[_-]?token|api[_-]?key|apikey|key|keys|secret|secrets|password|passwd|auth|session|sig|signature)$/i
/** Cheap pre-check for the fast path: could any path segment need masking? */
const pathHint = /eyJ|gh[pousr]_|github_pat_|xox[abprs]-|k_(?:live|test)_|AKIA|AIza|\/bot\d|token|key|secret|pass|auth|session|sig|;/i

const mask = "***"

const decode = (text: string): string => {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "))
  } catch {
    return text // malformed escapes: match on the raw text
  }
}

/** A name that decoding, trimming and lower-casing would change: only such a name needs them. */
const needsNormalising = /[%+A-Z\s]/

const isSafeName = (name: string): boolean =>
  safeNames.has(name) || (needsNormalising.test(name) && safeNames.has(decode(name).trim().toLowerCase()))

/**
 * `a=1&b=2` with every value not on the allowlist replaced; names and separators kept as
 * written. One pass with no arrays: every request's URL with a query is redacted once
 * (`Batch.settle` 10k x 50 ms row, whose URL has a query: split, map and join were 2.8% of
 * the CPU profile).
 */
const redactParams = (text: string, separator: string): string => {
  let out = ""
  let start = 0
  // The next "=" at or after `start` (text.length when none): found once and kept while the
  // pairs before it are bare names, so a long run of them is not scanned again per pair.
  let eq = -1
  for (;;) {
    const at = text.indexOf(separator, start)
    const end = at < 0 ? text.length : at
    if (eq < start) {
      eq = text.indexOf("=", start)
      if (eq < 0) eq = text.length
    }
    // A bare name (`?debug`) carries no value.
    if (eq >= end) out += text.slice(start, end)
    else {
      const name = text.slice(start, eq)
      out += isSafeName(name) ? text.slice(start, end) : `${name}=${mask}`
    }
    if (at < 0) return out
    out += separator
    start = at + 1
  }
}

const redactPath = (pathname: string): string => {
  if (!pathHint.test(pathname)) return pathname
  const segments = pathname.split("/")
  for (let i = 0; i < segments.length; i++) {
    let segment = segments[i]!
    // `;jsessionid=…` matrix parameters: redacted like a query.
    const semi = segment.indexOf(";")
    if (semi >= 0) segment = `${segment.slice(0, semi)};${redactParams(segment.slice(semi + 1), ";")}`
    const bare = semi >= 0 ? segment.slice(0, semi) : segment
    if (tokenSegment.test(decode(bare)) || (i > 0 && secretSegment.test(decode(segments[i - 1]!)) && bare !== "")) {
      segment = semi >= 0 ? `${mask}${segment.slice(semi)}` : mask
    }
    segments[i] = segment
  }
  return segments.join("/")
}

/** `#frag`: key=value pairs as a query (OAuth puts `access_token` there); a token masked; an anchor kept. */
const redactHash = (hash: string): string => {
  if (hash.length <= 1) return hash
  const body = hash.slice(1)
  if (body.includes("=")) return `#${redactParams(body, "&")}`
  return /^[\w.:~-]{1,64}$/.test(body) && !tokenSegment.test(body) ? hash : `#${mask}`
}

/**
 * Redaction of text that does not parse as a URL (it is echoed in an error): userinfo, query
 * and fragment values. The userinfo is everything from `//` to the last `@`: a password may
 * hold `/`, `?`, `#` or `@` unescaped (which is often why the URL did not parse).
 */
const redactText = (text: string): string => {
  const withoutUser = text.replace(/\/\/\S*@/, `//${mask}@`)
  const hashAt = withoutUser.indexOf("#")
  const beforeHash = hashAt < 0 ? withoutUser : withoutUser.slice(0, hashAt)
  const hash = hashAt < 0 ? "" : redactHash(withoutUser.slice(hashAt))
  const queryAt = beforeHash.indexOf("?")
  return queryAt < 0
    ? redactPath(beforeHash) + hash
    : `${redactPath(beforeHash.slice(0, queryAt))}?${redactParams(beforeHash.slice(queryAt + 1), "&")}${hash}`
}

/**
 * Returns the URL with userinfo replaced by `***`, every query, fragment and `;matrix` value
 * not on the allowlist replaced by `***`, and recognisable path tokens masked (see the module
 * notes). Text that does not parse as a URL is redacted as text, the same way.
 */
export const redactUrl = (input: string | URL): string => {
  let url: URL
  if (typeof input === "string") {
    try {
      url = new URL(input)
    } catch {
      return redactText(input)
    }
  } else url = input
  const { hash, password, pathname, search, username } = url
  // Nothing to hide (the common case): skips every string built below, on every request.
  if (username === "" && password === "" && search === "" && hash === "" && !pathHint.test(pathname)) return url.href
  const userinfo = username !== "" || password !== "" ? `${mask}@` : ""
  const query = search === "" ? "" : `?${redactParams(search.slice(1), "&")}`
  // `host` is empty for schemes without one; `protocol//` is how the href starts for http(s).
  return `${url.protocol}//${userinfo}${url.host}${redactPath(pathname)}${query}${redactHash(hash)}`
}
