/**
 * Redirects: where a 3xx leads next, or why it may not be followed (too many, a loop, an
 * https -> http downgrade, a body that cannot be sent again). Credentials never cross origins.
 */
import { RedirectError } from "../../Errors.js"
import { redactUrl } from "../redact.js"
import type { TransportResponse } from "../../Client.js"
import { originOf } from "../url.js"
import type { PreparedRequest } from "./request.js"
import type { CallSettings } from "./settings.js"

export const redirectStatuses: ReadonlySet<number> = new Set([301, 302, 303, 307, 308])

/**
 * Headers that never follow a redirect to another origin. A blocklist, not an allowlist: Go's
 * net/http, curl and the fetch spec all forward ordinary headers (tracing ids, Accept, custom
 * non-secret headers) across origins and callers rely on that, while an allowlist would
 * silently strip them. The gap of a blocklist (an API-key header nobody listed) is closed
 * twice: by {@link looksSensitive}, which matches the words such headers are named with, and
 * by the `sensitiveHeaders` option, which adds the caller's own names.
 */
export const sensitiveHeaders: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "cookie2",
  "www-authenticate",
  "x-api-key",
  "api-key",
  "apikey",
  "x-auth-token",
  "x-access-token",
  "x-csrf-token",
  "x-xsrf-token",
  "x-amz-security-token",
  "x-goog-api-key",
  "private-token",
  "x-vault-token"
])

/** Names built from the words credentials are called by (`X-Shopify-Access-Token`, `X-Session-Id`, `Client-Secret`...). */
const sensitivePattern = /auth|token|secret|passw|api[-_]?key|session|cookie|csrf|xsrf|signature|credential/

/** Whether a (lower-case) header name must not cross origins. */
export const looksSensitive = (name: string, extra: ReadonlySet<string>): boolean =>
  sensitiveHeaders.has(name) || extra.has(name) || sensitivePattern.test(name)

/** Where a redirect goes next, or why it may not. */
export const nextHop = (
  current: PreparedRequest,
  response: TransportResponse,
  hops: number,
  visited: Set<string>,
  settings: CallSettings
): PreparedRequest | RedirectError | undefined => {
  const location = response.headers["location"]
  if (location === undefined) return undefined // a 3xx without Location is a final answer
  const fail = (reason: RedirectError["reason"], target?: URL) =>
    new RedirectError({
      reason,
      method: current.method,
      url: current.redactedUrl,
      location: target !== undefined ? redactUrl(target) : redactUrl(location),
      hops
    })
  let target: URL
  try {
    target = new URL(location, current.url)
  } catch {
    return fail("InvalidLocation")
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") return fail("InvalidLocation", target)
  target.hash = ""
  if (hops >= settings.maxRedirects) return fail("TooMany", target)
  if (current.url.protocol === "https:" && target.protocol === "http:" && !settings.allowHttpsDowngrade) {
    return fail("Downgrade", target)
  }
  const status = response.status
  const toGet = status === 303 ? current.method !== "HEAD" : (status === 301 || status === 302) && current.method === "POST"
  const method = toGet ? "GET" : current.method
  if (!toGet && current.body !== undefined && !current.replayable) return fail("BodyNotReplayable", target)
  const key = `${method} ${target.href}`
  if (visited.has(key)) return fail("Loop", target)
  visited.add(key)
  const crossOrigin = originOf(target) !== originOf(current.url)
  if (crossOrigin && !toGet && current.body !== undefined) {
    // A 307/308 must resend the same method and body. Sending it to an origin the caller did
    // not name may leak it (a login form, a signed payload); dropping it would send a
    // different request than asked (an empty POST). Refuse: the error names the target, so
    // the caller can send it there deliberately.
    return fail("CrossOriginBody", target)
  }
  const headers: Record<string, string> = { ...current.headers }
  // The caller's Host named the first server; undici derives the right one from the URL.
  delete headers["host"]
  if (toGet) {
    delete headers["content-type"]
    delete headers["content-length"]
    delete headers["transfer-encoding"]
  }
  if (crossOrigin) {
    // Credentials were meant for the origin the caller named, not wherever it points us.
    for (const name in headers) {
      if (looksSensitive(name, settings.sensitiveHeaders)) delete headers[name]
    }
  }
  return {
    url: target,
    method,
    headers,
    body: toGet ? undefined : current.body,
    redactedUrl: redactUrl(target),
    replayable: current.replayable,
    decompress: current.decompress
  }
}
