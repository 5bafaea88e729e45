/**
 * volley's redirect rules for hops that `@effect/platform`'s `HttpClient.followRedirects`
 * makes, when the bridge hands 3xx responses back (`followRedirects: false`).
 *
 * That combinator re-sends the same request (same method, headers object and body) with
 * `setUrl(request, new URL(location, response.request.url))`, keeping every header across
 * origins and POST after a 303. The bridge remembers each 3xx it returned, so when that
 * exact request comes back aimed at the Location, it knows the hop and applies the rules
 * volley's own client applies: credentials dropped once the chain leaves the first origin,
 * https -> http refused, 303 (and 301/302 after POST) become GET, loops and one-shot bodies
 * refused, the hop count bounded.
 */
import * as Headers from "@effect/platform/Headers"
import type * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { RedirectError } from "../Errors.js"
import { redactUrl } from "./redact.js"

/** Where a redirect chain stands after a 3xx the bridge handed back. */
export interface Chain {
  /** The method and body the combinator re-sends (its own request, never our rewrite). */
  readonly method: string
  readonly body: HttpBody.HttpBody
  /** What the last hop was actually sent as. */
  readonly sentMethod: string
  readonly from: URL
  readonly status: number
  /** Redirects answered so far. */
  readonly hops: number
  readonly visited: ReadonlySet<string>
  /** The chain left its first origin: credentials are gone for good. */
  readonly crossed: boolean
}

/** Remembered 3xx per request headers object (which `setUrl` keeps), bounded per object. */
const maxRemembered = 64

const credentialHeaders = ["authorization", "cookie", "proxy-authorization"]

const originOf = (url: URL): string => `${url.protocol}//${url.host}`

/** The absolute URL a request goes to (for matching only; volley's own parse checks it). */
const targetOf = (request: HttpClientRequest.HttpClientRequest): string | undefined => {
  try {
    const url = new URL(request.url)
    for (const [key, value] of request.urlParams) url.searchParams.append(key, value)
    url.hash = ""
    return url.href
  } catch {
    return undefined
  }
}

/** A request to send: the one received, or its rewrite as the next hop of `chain`. */
export interface Checked {
  readonly send: HttpClientRequest.HttpClientRequest
  readonly chain: Chain | undefined
  /** The remembered chain this request follows up (its last 3xx can be released). */
  readonly follows?: Chain | undefined
}

export interface RedirectMemory {
  /**
   * Whether `request` is the follow-up of a 3xx handed back earlier: if so, the request to
   * send under volley's rules, or the `RedirectError` they refuse it with.
   */
  readonly check: (request: HttpClientRequest.HttpClientRequest, maxRedirects: number, allowDowngrade: boolean) => Checked | RedirectError
  /**
   * Records a 3xx answer to `received` (sent as `checked.send` to `url`), so its follow-up is
   * known: the chain as it now stands, or `undefined` for an answer that is not a redirect.
   */
  readonly remember: (
    received: HttpClientRequest.HttpClientRequest,
    checked: Checked,
    url: URL,
    status: number,
    location: string | undefined
  ) => Chain | undefined
}

export const makeMemory = (): RedirectMemory => {
  const byHeaders = new WeakMap<object, Map<string, Chain>>()

  const check: RedirectMemory["check"] = (request, maxRedirects, allowDowngrade) => {
    const chains = byHeaders.get(request.headers)
    const href = chains === undefined ? undefined : targetOf(request)
    const chain = href === undefined ? undefined : chains!.get(href)
    if (chain === undefined || chain.method !== request.method || chain.body !== request.body) return { send: request, chain: undefined }
    chains!.delete(href!)
    const target = new URL(href!)
    const fail = (reason: RedirectError["reason"]) =>
      new RedirectError({ reason, method: chain.sentMethod, url: redactUrl(chain.from), location: redactUrl(target), hops: chain.hops - 1 })
    if (chain.hops > maxRedirects) return fail("TooMany")
    if (chain.from.protocol === "https:" && target.protocol === "http:" && !allowDowngrade) return fail("Downgrade")
    const previous = chain.sentMethod
    const toGet = chain.status === 303 ? previous !== "HEAD" : (chain.status === 301 || chain.status === 302) && previous === "POST"
    const method = toGet ? "GET" : previous
    if (chain.visited.has(`${method} ${target.href}`)) return fail("Loop")
    if (!toGet && method !== "GET" && request.body._tag === "Stream") return fail("BodyNotReplayable")
    const crossed = chain.crossed || originOf(target) !== originOf(chain.from)
    let send = request
    if (method !== request.method || crossed) {
      let headers = request.headers
      if (method !== request.method) headers = Headers.remove(headers, ["content-type", "content-length", "transfer-encoding"])
      if (crossed) headers = Headers.remove(headers, credentialHeaders)
      send = HttpClientRequest.make(method as HttpClientRequest.HttpClientRequest["method"])(request.url, {
        headers,
        urlParams: request.urlParams,
        ...(method === request.method ? { body: request.body } : {})
      })
    }
    return { send, chain: { ...chain, crossed }, follows: chain }
  }

  const remember: RedirectMemory["remember"] = (received, checked, url, status, location) => {
    if (location === undefined || status < 300 || status >= 400) return undefined
    let target: URL
    try {
      target = new URL(location, url)
    } catch {
      return undefined
    }
    target.hash = ""
    const sentMethod = checked.send.method
    const here = `${sentMethod} ${url.href}`
    const chain: Chain = checked.chain === undefined
      ? { method: received.method, body: received.body, sentMethod, from: url, status, hops: 1, visited: new Set([here]), crossed: false }
      : { ...checked.chain, sentMethod, from: url, status, hops: checked.chain.hops + 1, visited: new Set([...checked.chain.visited, here]) }
    let chains = byHeaders.get(received.headers)
    if (chains === undefined) byHeaders.set(received.headers, chains = new Map())
    if (chains.size >= maxRemembered) chains.delete(chains.keys().next().value!)
    chains.set(target.href, chain)
    return chain
  }

  return { check, remember }
}
