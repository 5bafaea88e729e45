/**
 * `volley fetch --per-host adaptive` and the summary's line for what hosts pushed back with
 * (flag parsing and summary text, no process; the policies themselves: test/virtual/hosts*.test.ts).
 */
import { Either, Option } from "effect"
import { describe, expect, it } from "vitest"
import * as Batch from "../src/Batch.js"
import { type FetchFlags, resolveFlags } from "../src/cli/internal/fetchInput.js"
import { makeStats, summaryJson, summaryText } from "../src/cli/internal/fetchOutput.js"
import { defaultFetchFlags } from "./support/fetchFlags.js"

const flags: FetchFlags = { ...defaultFetchFlags, concurrency: 32 }

describe("volley fetch --per-host", () => {
  it("adaptive: the batch gets perHost adaptive and every connection the concurrency allows", () => {
    const settings = resolveFlags({ ...flags, perHost: Option.some("adaptive") })
    if (typeof settings === "string") throw new Error(settings)
    expect(settings.batch.perHost).toBe("adaptive")
    expect(settings.connections).toBe(32)
  })

  it("a number as before; anything else is a usage error naming the flag", () => {
    const settings = resolveFlags({ ...flags, perHost: Option.some("4") })
    if (typeof settings === "string") throw new Error(settings)
    expect([settings.batch.perHost, settings.connections]).toEqual([4, 4])
    expect(resolveFlags({ ...flags, perHost: Option.some("lots") })).toBe("--per-host must be a whole number or adaptive, got lots")
    expect(resolveFlags({ ...flags, perHost: Option.some("0") })).toBe("--per-host must be at least 1, got 0")
  })
})

describe("volley fetch summary: hosts that pushed back", () => {
  const outcome = (extra: Partial<Batch.Tallied>): Batch.Tallied => ({ result: Either.right(1), bytes: 0, startMs: 0, durationMs: 10, attempts: 1, ...extra })

  it("counts pauses, time waited, budget and breaker refusals; nothing when none happened", () => {
    const summary = Batch.summarize([
      outcome({ pauses: 1, pausedMs: 1000 }),
      outcome({ result: Either.left({ _tag: "StatusError", status: 503 }), retryRefused: "budget" }),
      outcome({ result: Either.left({ _tag: "CircuitOpenError" }) })
    ])
    expect([summary.pauses, summary.pausedMs, summary.budgetRefused, summary.breakerRefused]).toEqual([1, 1000, 1, 1])
    const text = summaryText(summary, makeStats(), 0, false)
    expect(text).toContain("  hosts: 1 pause, 1.00 s waited for pauses and pacing, 1 retry refused by the retry budget, 1 refused by an open circuit breaker\n")
    expect(JSON.parse(summaryJson(summary, makeStats(), 0, false)).hosts).toEqual({ pauses: 1, pausedMs: 1000, budgetRefused: 1, breakerRefused: 1 })
    expect(summaryText(Batch.summarize([outcome({})]), makeStats(), 0, false)).not.toContain("hosts:")
  })

  it("an open-loop run (--rate) says so and gives queue wait and service time apart", () => {
    const summary = Batch.summarize([outcome({ scheduledMs: 0, queueMs: 500, durationMs: 100 })])
    expect(summary.loop).toBe("open")
    const text = summaryText(summary, makeStats(), 0, false)
    expect(text).toContain("(open loop, from each request's scheduled start)")
    expect(text).toContain("  queue: p50 ")
    expect(text).toContain("  service: p50 ")
  })
})
