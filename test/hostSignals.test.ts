/**
 * Reading a server's load signals from response headers (pure parsing, no I/O).
 */
import { describe, expect, it } from "vitest"
import { mayCarrySignal, quotaOf } from "../src/internal/policy/signals.js"
import { Budget } from "../src/internal/policy/budget.js"

describe("rate-limit headers", () => {
  const now = 1_700_000_000_000

  it("IETF draft (up to -06): RateLimit: limit, remaining, reset", () => {
    expect(quotaOf({ ratelimit: "limit=100, remaining=0, reset=1" }, now)).toEqual({ remaining: 0, resetMs: 1000 })
    expect(quotaOf({ ratelimit: "limit=100, remaining=37, reset=12" }, now)).toEqual({ remaining: 37, resetMs: 12_000 })
  })

  it("IETF draft (-07 on): structured RateLimit with r and t; the tightest policy wins", () => {
    expect(quotaOf({ ratelimit: "\"default\";r=50;t=30" }, now)).toEqual({ remaining: 50, resetMs: 30_000 })
    expect(quotaOf({ ratelimit: "\"burst\";r=5;t=1, \"day\";r=900;t=3600" }, now)).toEqual({ remaining: 5, resetMs: 1000 })
  })

  it("early drafts' separate fields, and X-RateLimit-* in seconds or epoch seconds", () => {
    expect(quotaOf({ "ratelimit-remaining": "3", "ratelimit-reset": "7" }, now)).toEqual({ remaining: 3, resetMs: 7000 })
    expect(quotaOf({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": "20" }, now)).toEqual({ remaining: 0, resetMs: 20_000 })
    // GitHub: epoch seconds.
    expect(quotaOf({ "x-ratelimit-remaining": "10", "x-ratelimit-reset": String(now / 1000 + 90) }, now)).toEqual({ remaining: 10, resetMs: 90_000 })
  })

  it("no signal, or one that does not parse, is nothing", () => {
    expect(quotaOf({}, now)).toBeUndefined()
    expect(quotaOf({ ratelimit: "garbage" }, now)).toBeUndefined()
    expect(quotaOf({ "x-ratelimit-remaining": "lots" }, now)).toBeUndefined()
    expect(mayCarrySignal(200, { "content-type": "text/plain" })).toBe(false)
    expect(mayCarrySignal(429, {})).toBe(true)
    expect(mayCarrySignal(200, { "x-ratelimit-remaining": "1" })).toBe(true)
  })
})

describe("retry budget", () => {
  it("20% of the requests of the last 10 s plus 1 per second; old requests slide out", () => {
    const budget = new Budget({ percent: 0.2, minPerSecond: 1, ttlMs: 10_000 })
    for (let i = 0; i < 100; i++) budget.deposit(0)
    let granted = 0
    while (budget.withdraw(500)) granted++
    expect(granted).toBe(30) // 20 + a floor of 10
    // Eleven seconds later the window holds neither those requests nor those retries.
    granted = 0
    while (budget.withdraw(11_500)) granted++
    expect(granted).toBe(10)
  })
})
