/**
 * What `volley fetch` prints: one NDJSON record or table row per outcome, the live progress
 * text, and the final summary. Pure functions of the outcomes and counters.
 */
import * as Either from "effect/Either"
import type * as Batch from "../../Batch.js"
import type { FetchedBody } from "./fetchBody.js"
import type { FetchItem } from "./fetchInput.js"
import { bytes, count, eta, millis } from "./progress.js"
import { jsonSafe, terminalSafe } from "./terminalText.js"

/** An outcome of the fetch batch (the value is `Batch.Fetched`, or `FetchedBody` with --body / -O). */
export type FetchOutcome = Batch.Outcome<FetchItem, unknown, unknown>

/** The extra record fields the CLI's handler produced (see fetchBody.ts): timings, file, body. */
const valueFields = (value: unknown): string => {
  if (typeof value !== "object" || value === null || !("bodyFields" in value)) return ""
  const v = value as FetchedBody
  let text = ""
  if (v.timing !== undefined) {
    text += `,"ttfbMs":${round(v.timing.ttfbMs)}`
    if (v.timing.connectMs !== undefined) text += `,"connectMs":${round(v.timing.connectMs)}`
  }
  if (v.file !== undefined) text += `,"file":${jsonSafe(v.file)}`
  return text + v.bodyFields
}

/** Bytes of an outcome: what a body handler counted, else the batch's count. */
export const bytesOf = (outcome: FetchOutcome): number => {
  if (Either.isRight(outcome.result)) {
    const value = outcome.result.right
    if (typeof value === "object" && value !== null && "bodyFields" in value) return (value as unknown as { readonly bytes: number }).bytes
  }
  return outcome.bytes
}

const round = (ms: number): number => Math.round(ms * 100) / 100

/** The failure's fields worth a column: tag, network reason and phase, one-line message. */
const errorFields = (error: unknown): Record<string, unknown> => {
  if (typeof error !== "object" || error === null) return { error: "Error", message: String(error) }
  const e = error as { _tag?: unknown; reason?: unknown; phase?: unknown; message?: unknown }
  return {
    error: typeof e._tag === "string" ? e._tag : "Error",
    ...(typeof e.reason === "string" ? { reason: e.reason } : {}),
    ...(typeof e.phase === "string" ? { phase: e.phase } : {}),
    message: typeof e.message === "string" ? e.message : String(error)
  }
}

/**
 * One NDJSON line (with its newline): `line`, `url`, `ok`, `status` when a response
 * arrived, `error`/`reason`/`phase`/`message` on failure, `ms`, `bytes`, `attempts`; on
 * success `ttfbMs` (time to first byte of the last attempt), `connectMs` when that request
 * opened a new connection, `file` (-O) and `body`/`bodyEncoding`/`bodyTruncated` (--body). Built by
 * hand: it runs once per request, and a spread + `JSON.stringify` per line shows in profiles.
 */
export const ndjson = (outcome: FetchOutcome): string => {
  const ok = Either.isRight(outcome.result)
  let text = `{"line":${outcome.item.line},"url":${jsonSafe(outcome.item.url)},"ok":${ok}`
  if (outcome.status !== undefined) text += `,"status":${outcome.status}`
  if (Either.isLeft(outcome.result)) {
    const fields = errorFields(outcome.result.left)
    text += `,"error":${JSON.stringify(fields["error"])}`
    if (fields["reason"] !== undefined) text += `,"reason":${JSON.stringify(fields["reason"])}`
    if (fields["phase"] !== undefined) text += `,"phase":${JSON.stringify(fields["phase"])}`
    text += `,"message":${jsonSafe(String(fields["message"]))}`
  }
  text += `,"ms":${round(outcome.durationMs)},"bytes":${bytesOf(outcome)},"attempts":${outcome.attempts}`
  return Either.isRight(outcome.result) ? `${text}${valueFields(outcome.result.right)}}\n` : `${text}}\n`
}

/** The table's header line. */
export const tableHeader = `${"LINE".padStart(6)}  ${"RESULT".padEnd(18)} ${"TIME".padStart(9)} ${"BYTES".padStart(9)}  URL\n`

/** One table row: line, status or failure, duration, bytes, URL (and the error message). */
export const tableRow = (outcome: FetchOutcome): string => {
  const result = Either.isRight(outcome.result)
    ? String(outcome.status ?? "ok")
    : (() => {
      const fields = errorFields(outcome.result.left)
      if (fields["error"] === "StatusError") return String(outcome.status)
      if (fields["error"] === "NetworkError") return `${String(fields["reason"])}${fields["phase"] !== undefined ? `(${String(fields["phase"])})` : ""}`
      return String(fields["error"])
    })()
  const note = Either.isLeft(outcome.result) ? `  # ${terminalSafe(String(errorFields(outcome.result.left)["message"]))}` : ""
  return `${String(outcome.item.line).padStart(6)}  ${terminalSafe(result).padEnd(18)} ${millis(outcome.durationMs).padStart(9)} ${bytes(bytesOf(outcome)).padStart(9)}  ${
    terminalSafe(outcome.item.url)
  }${note}\n`
}

/** Live counters for the progress line. */
export interface Counters {
  readonly done: number
  readonly failed: number
  readonly invalid: number
  /** Meaningful input lines, once known. */
  readonly total: number | undefined
  readonly elapsedMs: number
  /** Of `done`, those finished before this run started (a durable batch's earlier runs): not in the rate. */
  readonly doneBefore?: number
}

/** `fetch 1,234/10,000  812/s  3 failed  ETA 11s` */
export const progressText = (c: Counters): string => {
  const rate = c.elapsedMs > 0 ? ((c.done - (c.doneBefore ?? 0)) * 1000) / c.elapsedMs : 0
  const total = c.total !== undefined ? `/${count(c.total)}` : ""
  const left = c.total !== undefined ? c.total - c.invalid - c.done : undefined
  const parts = [
    `fetch ${count(c.done)}${total}`,
    `${rate.toFixed(rate < 10 ? 1 : 0)}/s`,
    `${count(c.failed)} failed`,
    ...(c.invalid > 0 ? [`${count(c.invalid)} invalid`] : []),
    ...(left !== undefined && rate > 0 ? [`ETA ${eta(left / rate)}`] : [])
  ]
  return parts.join("  ")
}

/** Upper bounds (ms) of the summary's latency histogram; the last bucket is everything slower. */
const histogramBounds = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000] as const

/** What the summary adds to `Batch.Summary`: the status distribution and a coarse latency histogram. */
export interface Stats {
  readonly add: (outcome: FetchOutcome) => void
  /** Responses per HTTP status (any status, accepted or not). */
  readonly statuses: () => Readonly<Record<string, number>>
  /** Sent requests per latency bucket: `le` is the bucket's upper bound in ms (`null`: slower than the last). */
  readonly histogram: () => ReadonlyArray<{ readonly le: number | null; readonly count: number }>
}

export const makeStats = (): Stats => {
  const statuses: Record<string, number> = {}
  const counts = new Array<number>(histogramBounds.length + 1).fill(0)
  return {
    add: (outcome) => {
      if (outcome.status !== undefined) statuses[outcome.status] = (statuses[outcome.status] ?? 0) + 1
      if (outcome.attempts === 0) return
      let i = 0
      while (i < histogramBounds.length && outcome.durationMs > histogramBounds[i]!) i++
      counts[i]!++
    },
    statuses: () => ({ ...statuses }),
    histogram: () => counts.map((count, i) => ({ le: histogramBounds[i] ?? null, count }))
  }
}

/** The histogram as one text line of its non-empty buckets: `<=1 ms 12  <=2 ms 480  >10 s 1`. */
const histogramText = (stats: Stats): string =>
  stats.histogram()
    .filter((b) => b.count > 0)
    .map((b) => `${b.le === null ? `>${millis(histogramBounds[histogramBounds.length - 1]!)}` : `<=${millis(b.le)}`} ${count(b.count)}`)
    .join("  ")

/** What the hosts pushed back with: pauses they asked for, retries the budget refused, calls an open breaker refused. */
const hostText = (summary: Batch.Summary): string => {
  const parts: Array<string> = []
  if (summary.pauses > 0) parts.push(`${count(summary.pauses)} pause${summary.pauses === 1 ? "" : "s"}`)
  if (summary.pausedMs > 0) parts.push(`${millis(summary.pausedMs)} waited for pauses and pacing`)
  if (summary.budgetRefused > 0) parts.push(`${count(summary.budgetRefused)} retr${summary.budgetRefused === 1 ? "y" : "ies"} refused by the retry budget`)
  if (summary.breakerRefused > 0) parts.push(`${count(summary.breakerRefused)} refused by an open circuit breaker`)
  return parts.join(", ")
}

/** The final report, several lines, each ending in a newline. */
export const summaryText = (summary: Batch.Summary, stats: Stats, invalid: number, interrupted: boolean): string => {
  const head = interrupted ? "volley fetch: interrupted after" : "volley fetch:"
  const rate = summary.throughput.toFixed(summary.throughput < 10 ? 1 : 0)
  const lines = [
    `${head} ${count(summary.total)} request${summary.total === 1 ? "" : "s"} in ${millis(summary.elapsedMs)} (${rate}/s): ` +
    `${count(summary.succeeded)} ok, ${count(summary.failed)} failed` +
    (invalid > 0 ? `, ${count(invalid)} invalid line${invalid === 1 ? "" : "s"} skipped` : "")
  ]
  const outcomes = Object.entries(summary.outcomes).sort((a, b) => b[1] - a[1])
  if (outcomes.length > 0) lines.push(`  outcomes: ${outcomes.map(([key, n]) => `${key} ${count(n)}`).join(", ")}`)
  const statuses = Object.entries(stats.statuses()).sort((a, b) => Number(a[0]) - Number(b[0]))
  if (statuses.length > 0) lines.push(`  statuses: ${statuses.map(([status, n]) => `${status} ${count(n)}`).join(", ")}`)
  const pushedBack = hostText(summary)
  if (pushedBack !== "") lines.push(`  hosts: ${pushedBack}`)
  if (summary.total > 0) {
    const l = summary.latency
    const p = (l: Batch.Latency) => `p50 ${millis(l.p50)}, p90 ${millis(l.p90)}, p99 ${millis(l.p99)}, p99.9 ${millis(l.p999)}, max ${millis(l.max)}`
    if (summary.loop === "open") {
      // Open loop (--rate): from each request's scheduled start, then its two parts.
      lines.push(`  latency: ${p(l)} (open loop, from each request's scheduled start)`)
      lines.push(`  queue: ${p(summary.queue)}`)
      lines.push(`  service: ${p(summary.service)}`)
    } else {
      lines.push(`  latency: ${p(l)}`)
    }
    const histogram = histogramText(stats)
    if (histogram !== "") lines.push(`  histogram: ${histogram}`)
    lines.push(`  received: ${bytes(summary.bytes)}`)
  }
  return `${lines.join("\n")}\n`
}

/** The final report as one JSON object (and a newline), for `--summary json`. */
export const summaryJson = (summary: Batch.Summary, stats: Stats, invalid: number, interrupted: boolean): string =>
  `${
    JSON.stringify({
      total: summary.total,
      succeeded: summary.succeeded,
      failed: summary.failed,
      invalid,
      interrupted,
      elapsedMs: round(summary.elapsedMs),
      throughput: round(summary.throughput),
      bytes: summary.bytes,
      outcomes: summary.outcomes,
      statuses: stats.statuses(),
      loop: summary.loop,
      hosts: {
        pauses: summary.pauses,
        pausedMs: round(summary.pausedMs),
        budgetRefused: summary.budgetRefused,
        breakerRefused: summary.breakerRefused
      },
      latency: {
        p50: round(summary.latency.p50),
        p90: round(summary.latency.p90),
        p99: round(summary.latency.p99),
        p999: round(summary.latency.p999),
        max: round(summary.latency.max),
        mean: round(summary.latency.mean)
      },
      histogram: stats.histogram()
    })
  }\n`
