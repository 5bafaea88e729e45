/**
 * volley's redirect rules for hops that `@effect/platform`'s `HttpClient.followRedirects`
 * makes, when the bridge hands 3xx responses back (`followRedirects: false`).
 *
 * That combinator re-sends the same request (same method, headers object and body) with
 * `setUrl(request, new URL(location, response.request.url))`, keeping every header across
 * origins and POST after a 303. The bridge remembers each 3xx it returned, with what volley's
 * own rule (`client/redirect.ts`, the same function the client's hops ask) makes of it; when
 * that exact request comes back aimed at the Location, it sends that hop instead, or fails
 * with the rule's `RedirectError`.
 */
import type * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { RedirectError } from "../Errors.js"
import { type ChainState, follow, type Next, type RedirectSettings, startChain } from "./client/redirect.js"
import { redactUrl } from "./redact.js"

/** A 3xx the bridge handed back, waiting for the combinator's follow-up. */
export interface Pending {
  /** The method and body the combinator re-sends (its own request, never our rewrite). */
  readonly method: string
  readonly body: HttpBody.HttpBody
  /** The body of the hop that was sent (kept on a 307/308). */
  readonly sentBody: HttpBody.HttpBody
  /** What volley's rule makes of the 3xx: the next hop, or why it may not be followed. */
  readonly next: Next | RedirectError
}

/** Remembered 3xx per request headers object (which `setUrl` keeps), bounded per object. */
const maxRemembered = 64

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

const bodyKind = (body: HttpBody.HttpBody): "none" | "replayable" | "oneShot" =>
  body._tag === "Empty" ? "none" : body._tag === "Stream" ? "oneShot" : "replayable"

/** A request to send: the one received, or its rewrite as the next hop of a chain. */
export interface Checked {
  readonly send: HttpClientRequest.HttpClientRequest
  /** The chain `send` continues, when it is a hop of one. */
  readonly chain: ChainState | undefined
  /** The remembered 3xx this request follows up (it can be released). */
  readonly follows?: Pending | undefined
}

export interface RedirectMemory {
  /**
   * Whether `request` is the follow-up of a 3xx handed back earlier: if so, the request to
   * send under volley's rules, or the `RedirectError` they refuse it with.
   */
  readonly check: (request: HttpClientRequest.HttpClientRequest) => Checked | RedirectError
  /**
   * Records a 3xx answer to `received` (sent as `checked.send` to `url`), so its follow-up is
   * known; `undefined` for an answer the combinator does not follow.
   */
  readonly remember: (
    received: HttpClientRequest.HttpClientRequest,
    checked: Checked,
    url: URL,
    status: number,
    location: string | undefined
  ) => Pending | undefined
}

export const makeMemory = (settings: RedirectSettings): RedirectMemory => {
  const byHeaders = new WeakMap<object, Map<string, Pending>>()

  const check: RedirectMemory["check"] = (request) => {
    const pendings = byHeaders.get(request.headers)
    const href = pendings === undefined ? undefined : targetOf(request)
    const pending = href === undefined ? undefined : pendings!.get(href)
    if (pending === undefined || pending.method !== request.method || pending.body !== request.body) return { send: request, chain: undefined }
    pendings!.delete(href!)
    const next = pending.next
    if (next instanceof RedirectError) return next
    const send = HttpClientRequest.make(next.method as HttpClientRequest.HttpClientRequest["method"])(request.url, {
      headers: next.headers,
      urlParams: request.urlParams,
      ...(next.keepBody ? { body: pending.sentBody } : {})
    })
    return { send, chain: next.chain, follows: pending }
  }

  const remember: RedirectMemory["remember"] = (received, checked, url, status, location) => {
    // The combinator follows any 3xx with a Location (300 and 305 too), so every one of them
    // goes through the rule; the client would hand those back as final answers.
    if (location === undefined || status < 300 || status >= 400) return undefined
    const sent = checked.send
    // Resolved as the combinator resolves it (against the request's own URL), so its
    // follow-up is matched even where that differs from the URL sent (a fragment-only Location).
    let target: URL
    try {
      target = new URL(location, sent.url)
    } catch {
      return undefined // the combinator's own `new URL` fails the same way: no follow-up comes
    }
    target.hash = ""
    const hop = { method: sent.method, url, redactedUrl: redactUrl(url), headers: sent.headers, body: bodyKind(sent.body) }
    const next = follow(hop, status, location, checked.chain ?? startChain(sent.method, url), settings)
    if (next === undefined) return undefined
    const pending: Pending = { method: received.method, body: received.body, sentBody: sent.body, next }
    let pendings = byHeaders.get(received.headers)
    if (pendings === undefined) byHeaders.set(received.headers, pendings = new Map())
    if (pendings.size >= maxRemembered) pendings.delete(pendings.keys().next().value!)
    pendings.set(target.href, pending)
    return pending
  }

  return { check, remember }
}
