/**
 * What `volley fetch` prints: one NDJSON record or table row per outcome, the live progress
 * text, and the final summary. Pure functions of the outcomes and counters.
 */
import * as Either from "effect/Either"
import type * as Batch from "../../Batch.js"
import type { FetchItem } from "./fetchInput.js"
import { bytes, count, eta, millis } from "./progress.js"
import { jsonSafe, terminalSafe } from "./terminalText.js"

/** An outcome of the fetch batch. */
export type FetchOutcome = Batch.Outcome<FetchItem, Batch.Fetched, never>

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
 * arrived, `error`/`reason`/`phase`/`message` on failure, `ms`, `bytes`, `attempts`. Built by
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
  return `${text},"ms":${round(outcome.durationMs)},"bytes":${outcome.bytes},"attempts":${outcome.attempts}}\n`
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
  return `${String(outcome.item.line).padStart(6)}  ${terminalSafe(result).padEnd(18)} ${millis(outcome.durationMs).padStart(9)} ${bytes(outcome.bytes).padStart(9)}  ${
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
}

/** `fetch 1,234/10,000  812/s  3 failed  ETA 11s` */
export const progressText = (c: Counters): string => {
  const rate = c.elapsedMs > 0 ? (c.done * 1000) / c.elapsedMs : 0
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

/** The final report, several lines, each ending in a newline. */
export const summaryText = (summary: Batch.Summary, invalid: number, interrupted: boolean): string => {
  const head = interrupted ? "volley fetch: interrupted after" : "volley fetch:"
  const rate = summary.throughput.toFixed(summary.throughput < 10 ? 1 : 0)
  const lines = [
    `${head} ${count(summary.total)} request${summary.total === 1 ? "" : "s"} in ${millis(summary.elapsedMs)} (${rate}/s): ` +
    `${count(summary.succeeded)} ok, ${count(summary.failed)} failed` +
    (invalid > 0 ? `, ${count(invalid)} invalid line${invalid === 1 ? "" : "s"} skipped` : "")
  ]
  const outcomes = Object.entries(summary.outcomes).sort((a, b) => b[1] - a[1])
  if (outcomes.length > 0) lines.push(`  outcomes: ${outcomes.map(([key, n]) => `${key} ${count(n)}`).join(", ")}`)
  if (summary.total > 0) {
    const l = summary.latency
    lines.push(`  latency: p50 ${millis(l.p50)}, p90 ${millis(l.p90)}, p99 ${millis(l.p99)}, max ${millis(l.max)}`)
    lines.push(`  received: ${bytes(summary.bytes)}`)
  }
  return `${lines.join("\n")}\n`
}
