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
export const credentialHeaders = ["authorization", "cookie", "proxy-authorization"] as const

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
  const headers: Record<string, string> = { ...current.headers }
  if (toGet) {
    delete headers["content-type"]
    delete headers["content-length"]
    delete headers["transfer-encoding"]
  }
  if (originOf(target) !== originOf(current.url)) {
    // Credentials were meant for the origin the caller named, not wherever it points us.
    for (const name of credentialHeaders) delete headers[name]
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
