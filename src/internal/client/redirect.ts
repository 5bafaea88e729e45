/**
 * Redirects: where a 3xx leads next, or why it may not be followed (too many, a loop, an
 * https -> http downgrade, a body that cannot or must not be sent again). Credentials never
 * cross origins. {@link follow} is the one rule: the client's own hops ({@link nextHop}) and
 * the HttpClient bridge's hops (`../httpClientRedirect.ts`) both ask it.
 */
import { RedirectError } from "../../Errors.js"
import { redactUrl } from "../redact.js"
import type { TransportResponse } from "../../Client.js"
import { originOf } from "../url.js"
import type { PreparedRequest } from "./request.js"

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

/** The request a 3xx answered, as the rules see it. */
export interface Hop {
  readonly method: string
  /** Where it was sent. */
  readonly url: URL
  readonly redactedUrl: string
  /** Names in lower case. */
  readonly headers: Readonly<Record<string, string>>
  /** A one-shot body (a stream) cannot be sent again. */
  readonly body: "none" | "replayable" | "oneShot"
}

/** Where a chain of redirects stands. */
export interface ChainState {
  /** Redirects followed so far. */
  readonly hops: number
  /** `METHOD href` of every request the chain sent. */
  readonly visited: ReadonlySet<string>
  /** The chain left the origin the caller named: its credentials are gone for good. */
  readonly crossed: boolean
}

/** The settings the rules read. */
export interface RedirectSettings {
  readonly maxRedirects: number
  readonly allowHttpsDowngrade: boolean
  /** Extra header names (lower case) dropped across origins. */
  readonly sensitiveHeaders: ReadonlySet<string>
}

/** The request a redirect leads to. */
export interface Next {
  readonly method: string
  readonly url: URL
  readonly headers: Record<string, string>
  /** `false` when the hop became a GET without the body (303, or 301/302 after POST). */
  readonly keepBody: boolean
  /** The chain once this hop is sent. */
  readonly chain: ChainState
}

/** The chain before its first redirect. */
export const startChain = (method: string, url: URL): ChainState => ({ hops: 0, visited: new Set([`${method} ${url.href}`]), crossed: false })

/**
 * Where a 3xx answering `hop` leads: the next request, a `RedirectError` saying why it may
 * not be followed, or `undefined` when there is no Location (the 3xx is a final answer).
 */
export const follow = (
  hop: Hop,
  status: number,
  location: string | undefined,
  chain: ChainState,
  settings: RedirectSettings
): Next | RedirectError | undefined => {
  if (location === undefined) return undefined
  const fail = (reason: RedirectError["reason"], target?: URL) =>
    new RedirectError({
      reason,
      method: hop.method,
      url: hop.redactedUrl,
      location: target !== undefined ? redactUrl(target) : redactUrl(location),
      hops: chain.hops
    })
  let target: URL
  try {
    target = new URL(location, hop.url)
  } catch {
    return fail("InvalidLocation")
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") return fail("InvalidLocation", target)
  target.hash = ""
  if (chain.hops >= settings.maxRedirects) return fail("TooMany", target)
  if (hop.url.protocol === "https:" && target.protocol === "http:" && !settings.allowHttpsDowngrade) {
    return fail("Downgrade", target)
  }
  const toGet = status === 303 ? hop.method !== "HEAD" : (status === 301 || status === 302) && hop.method === "POST"
  const method = toGet ? "GET" : hop.method
  const keepBody = !toGet && hop.body !== "none"
  if (keepBody && hop.body === "oneShot") return fail("BodyNotReplayable", target)
  const key = `${method} ${target.href}`
  if (chain.visited.has(key)) return fail("Loop", target)
  const crossed = chain.crossed || originOf(target) !== originOf(hop.url)
  if (crossed && keepBody) {
    // A 307/308 must resend the same method and body. The fetch spec, browsers, curl -L and
    // Go's net/http all send it to the new origin; volley does not: a body meant for the
    // origin the caller named (a login form, `password=...`, a signed payload) would reach
    // one it did not name, and dropping it would send a different request (an empty POST).
    // Refused: the error names the target, so the caller can send it there deliberately.
    return fail("CrossOriginBody", target)
  }
  const headers: Record<string, string> = {}
  for (const name in hop.headers) {
    // The caller's Host named the first server; the transport derives the right one from the URL.
    if (name === "host") continue
    if (toGet && (name === "content-type" || name === "content-length" || name === "transfer-encoding")) continue
    // Credentials were meant for the origin the caller named, not wherever it points us.
    if (crossed && looksSensitive(name, settings.sensitiveHeaders)) continue
    headers[name] = hop.headers[name]!
  }
  return { method, url: target, headers, keepBody, chain: { hops: chain.hops + 1, visited: new Set([...chain.visited, key]), crossed } }
}

/** The client's next hop (see {@link follow}), with the chain it leaves. */
export const nextHop = (
  current: PreparedRequest,
  response: TransportResponse,
  chain: ChainState,
  settings: RedirectSettings
): { readonly request: PreparedRequest; readonly chain: ChainState } | RedirectError | undefined => {
  const body = current.body === undefined ? "none" : current.replayable ? "replayable" : "oneShot"
  const next = follow({ ...current, body }, response.status, response.headers["location"], chain, settings)
  if (next === undefined || next instanceof RedirectError) return next
  return {
    request: {
      url: next.url,
      method: next.method,
      headers: next.headers,
      body: next.keepBody ? current.body : undefined,
      redactedUrl: redactUrl(next.url),
      replayable: current.replayable,
      decompress: current.decompress
    },
    chain: next.chain
  }
}
