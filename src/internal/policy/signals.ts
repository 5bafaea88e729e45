/**
 * What a server says about its own load, read from a response's headers: a pause
 * (`Retry-After` on 429/503) and the quota left in the current window (the IETF httpapi
 * rate-limit headers, in their older and newer forms, and the common `X-RateLimit-*`).
 */

/** The quota a response announced: `remaining` requests until `resetMs` from now. */
export interface Quota {
  readonly remaining: number
  readonly resetMs: number
}

/** Epoch seconds are told from a delta by size: no window lasts 30 years. */
const epochThreshold = 1e9

const number = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const n = Number(value.trim())
  return Number.isFinite(n) && n >= 0 ? n : undefined
}

/** A `reset` in seconds, as a delta or (X-RateLimit) epoch seconds, to ms from `nowMs`. */
const resetMs = (seconds: number, nowMs: number): number =>
  seconds >= epochThreshold ? Math.max(0, seconds * 1000 - nowMs) : seconds * 1000

/**
 * A `RateLimit` field: `limit=100, remaining=0, reset=1` (drafts up to -06) or the structured
 * `"default";r=0;t=1` (draft -07 on). With several policies listed, the tightest one counts.
 */
const rateLimitField = (value: string, nowMs: number): Quota | undefined => {
  let remaining: number | undefined
  let reset: number | undefined
  // Older form: one dictionary of limit/remaining/reset.
  if (/\bremaining\s*=/.test(value)) {
    for (const part of value.split(",")) {
      const eq = part.indexOf("=")
      if (eq < 0) continue
      const key = part.slice(0, eq).trim().toLowerCase()
      const n = number(part.slice(eq + 1).split(";")[0])
      if (key === "remaining") remaining = n
      else if (key === "reset") reset = n
    }
    return remaining === undefined ? undefined : { remaining, resetMs: resetMs(reset ?? 1, nowMs) }
  }
  // Structured form: a list of policies, each with r (remaining) and t (reset seconds).
  let tightest: Quota | undefined
  for (const item of value.split(",")) {
    let r: number | undefined
    let t: number | undefined
    for (const param of item.split(";").slice(1)) {
      const eq = param.indexOf("=")
      if (eq < 0) continue
      const key = param.slice(0, eq).trim()
      if (key === "r") r = number(param.slice(eq + 1))
      else if (key === "t") t = number(param.slice(eq + 1))
    }
    if (r === undefined) continue
    const quota = { remaining: r, resetMs: resetMs(t ?? 1, nowMs) }
    if (tightest === undefined || quota.remaining < tightest.remaining) tightest = quota
  }
  return tightest
}

/**
 * The quota announced by these headers (lower-case names), if any: `RateLimit`, the separate
 * `RateLimit-Remaining` / `RateLimit-Reset` of early drafts, or `X-RateLimit-Remaining` /
 * `X-RateLimit-Reset` (seconds, or epoch seconds as GitHub sends).
 */
export const quotaOf = (headers: Readonly<Record<string, string>>, nowMs: number): Quota | undefined => {
  const field = headers["ratelimit"]
  if (field !== undefined) {
    const quota = rateLimitField(field, nowMs)
    if (quota !== undefined) return quota
  }
  const remaining = number(headers["ratelimit-remaining"] ?? headers["x-ratelimit-remaining"])
  if (remaining === undefined) return undefined
  const reset = number(headers["ratelimit-reset"] ?? headers["x-ratelimit-reset"])
  return { remaining, resetMs: reset === undefined ? 1000 : resetMs(reset, nowMs) }
}

/** Whether these headers may carry a signal at all: one lookup per response on the common path. */
export const mayCarrySignal = (status: number, headers: Readonly<Record<string, string>>): boolean =>
  status === 429 || status === 503 || headers["ratelimit"] !== undefined ||
  headers["x-ratelimit-remaining"] !== undefined || headers["ratelimit-remaining"] !== undefined
