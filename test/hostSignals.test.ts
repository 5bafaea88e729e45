/**
 * Reading a server's load signals from response headers (pure parsing, no I/O).
 */
import { describe, expect, it } from "vitest"
import { mayCarrySignal, quotaOf } from "../src/internal/policy/signals.js"
import { Budget } from "../src/internal/policy/budget.js"
import { Hosts } from "../src/internal/policy/hosts.js"

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

describe("a quota heard from concurrent answers", () => {
  const quota = (remaining: number) => ({ ratelimit: `limit=100, remaining=${remaining}, reset=1` })
  /** An origin to which 64 requests were sent at once (numbers 1..64). */
  const burst = () => {
    const hosts = new Hosts(undefined)
    const host = hosts.state("https://api.test")
    host.sent = 64
    return { hosts, host }
  }

  it("requests sent after the one answered come off what it says remains", () => {
    const { host, hosts } = burst()
    // The first request sent is answered first: the server counted it alone, 63 more are on their way.
    hosts.observe(host, 200, quota(99), 10, 1)
    expect(host.quota).toBe(99 - 63)
  })

  it("an answer to a request sent before one already heard is stale: its larger count is not believed", () => {
    const { host, hosts } = burst()
    hosts.observe(host, 200, quota(36), 10, 64) // the last one sent, counted after all the others
    // The others arrive later, in any order: none of them starts a new window or adds quota.
    for (let seq = 1; seq <= 63; seq++) hosts.observe(host, 200, quota(100 - seq), 10 + seq, seq)
    expect(host.quota).toBe(36)
    expect(host.windowEnd).toBe(1010)
  })

  it("an older request the server counted later (it serves connections in any order) says the newer state", () => {
    const { host, hosts } = burst()
    hosts.observe(host, 200, quota(60), 100, 40)
    expect(host.quota).toBe(60 - 24)
    // The 10th sent was counted after 50 others: all sent after it may be uncounted, so it bounds the quota.
    hosts.observe(host, 200, quota(50), 120, 10)
    expect(host.quota).toBe(50 - 54)
    expect(host.windowEnd).toBe(1100)
  })

  it("a later request that finds more remaining marks a new window", () => {
    const { host, hosts } = burst()
    hosts.observe(host, 200, quota(0), 990, 64)
    host.sent = 65
    hosts.observe(host, 200, quota(99), 1010, 65)
    expect(host.quota).toBe(99)
    expect(host.windowEnd).toBe(2010)
  })
})
