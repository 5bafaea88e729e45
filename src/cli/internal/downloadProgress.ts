/**
 * What `volley download` shows while it works. On a terminal: one bar per active download and
 * a total line (bytes, rate, ETA), redrawn in place, with finished files printed above them.
 * Otherwise: one plain log line per start, finish and failure. Rendering is a pure function
 * of the state, so it is tested without a terminal.
 */
import * as path from "node:path"
import type { Outcome, Progress } from "../../Download.js"
import { nameFromUrl } from "../../Download.js"
import { terminalSafe } from "./terminalText.js"

/** One download in flight. */
export interface Active {
  readonly index: number
  label: string
  bytes: number
  total: number | undefined
  rate: number
  resumedFrom: number
}

/** Everything the display knows. */
export interface State {
  readonly files: number
  readonly active: Map<number, Active>
  succeeded: number
  failed: number
  /** Files finished by other workers of a durable batch (`--db`). */
  others: number
  /** Body bytes received in this run (resumed bytes excluded), finished downloads included. */
  transferred: number
  /** Per active download: transferred bytes already counted in `transferred`. */
  readonly counted: Map<number, number>
}

export const makeState = (files: number): State => ({
  files,
  active: new Map(),
  succeeded: 0,
  failed: 0,
  others: 0,
  transferred: 0,
  counted: new Map()
})

const KiB = 1024
const MiB = KiB * 1024
const GiB = MiB * 1024

/** `532 B`, `12.3 KiB`, `4.0 MiB`, `1.25 GiB`. */
export const formatBytes = (n: number): string => {
  if (n < KiB) return `${Math.round(n)} B`
  if (n < MiB) return `${(n / KiB).toFixed(1)} KiB`
  if (n < GiB) return `${(n / MiB).toFixed(1)} MiB`
  return `${(n / GiB).toFixed(2)} GiB`
}

export const formatRate = (bytesPerSecond: number): string => `${formatBytes(bytesPerSecond)}/s`

/** `7s`, `3m05s`, `2h01m`; `--` when unknown. */
export const formatEta = (seconds: number | undefined): string => {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "--"
  const s = Math.ceil(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
}

export const formatDuration = (ms: number): string => ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`

const fit = (text: string, width: number): string => {
  if (text.length <= width) return text.padEnd(width)
  return width <= 1 ? text.slice(0, width) : `${text.slice(0, width - 1)}…`
}

const bar = (fraction: number, width: number): string => {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)))
  return `${"#".repeat(filled)}${"-".repeat(width - filled)}`
}

/** Applies a progress report to the state. */
export const applyProgress = (state: State, index: number, progress: Progress): void => {
  let active = state.active.get(index)
  if (active === undefined) {
    active = { index, label: path.basename(progress.path), bytes: 0, total: undefined, rate: 0, resumedFrom: 0 }
    state.active.set(index, active)
  }
  active.label = path.basename(progress.path)
  active.bytes = progress.bytes
  active.total = progress.total
  active.rate = progress.rate
  active.resumedFrom = progress.resumedFrom
  const now = Math.max(0, progress.bytes - progress.resumedFrom)
  state.transferred += now - (state.counted.get(index) ?? 0)
  state.counted.set(index, now)
}

/** Applies an outcome: the download leaves the active set. */
export const applyOutcome = (state: State, outcome: Outcome): void => {
  state.active.delete(outcome.index)
  state.counted.delete(outcome.index)
  if (outcome._tag === "Success") state.succeeded++
  else state.failed++
}

/** One bar line: `name  [####----]  45%  12.3 MiB/27.0 MiB  8.1 MiB/s  ETA 2s`. */
export const renderBar = (active: Active, width: number): string => {
  const size = active.total !== undefined ? `${formatBytes(active.bytes)}/${formatBytes(active.total)}` : formatBytes(active.bytes)
  const eta = active.total !== undefined && active.rate > 0 ? (active.total - active.bytes) / active.rate : undefined
  const percent = active.total !== undefined && active.total > 0 ? `${String(Math.floor((active.bytes / active.total) * 100)).padStart(3)}%` : "   ?"
  // Columns of fixed width, so every bar of a frame has the same length and the columns align.
  const tail = `${percent}  ${size.padStart(21)}  ${formatRate(active.rate).padStart(12)}  ETA ${formatEta(eta).padEnd(6)}`
  const labelWidth = Math.max(8, Math.min(32, width - tail.length - 16))
  const barWidth = Math.max(0, width - labelWidth - tail.length - 6)
  const fraction = active.total !== undefined && active.total > 0 ? active.bytes / active.total : 0
  const line = `${fit(active.label, labelWidth)}  ${barWidth >= 5 ? `[${bar(fraction, barWidth)}]  ` : ""}${tail}`
  return line.slice(0, width)
}

/** The total line: files done, bytes this run, aggregate rate, ETA of what is in flight. */
export const renderTotal = (state: State, width: number): string => {
  const rate = [...state.active.values()].reduce((sum, a) => sum + a.rate, 0)
  const unknown = [...state.active.values()].some((a) => a.total === undefined)
  const remaining = [...state.active.values()].reduce((sum, a) => sum + Math.max(0, (a.total ?? a.bytes) - a.bytes), 0)
  const queued = state.files - state.succeeded - state.failed - state.others - state.active.size
  const eta = unknown || rate <= 0 ? undefined : remaining / rate
  const failed = state.failed > 0 ? `, ${state.failed} failed` : ""
  const others = state.others > 0 ? `, ${state.others} by other workers` : ""
  const waiting = queued > 0 ? `, ${queued} queued` : ""
  return `total  ${state.succeeded + state.failed + state.others}/${state.files} files${failed}${others}${waiting}  ${formatBytes(state.transferred)}  ${formatRate(rate)}  ETA ${formatEta(eta)}`
    .slice(0, width)
}

/** The bars and the total line, at most `maxBars` bars (the rest summarized). */
export const renderBars = (state: State, width: number, maxBars = 12): ReadonlyArray<string> => {
  const active = [...state.active.values()].sort((a, b) => a.index - b.index)
  const lines = active.slice(0, maxBars).map((a) => renderBar(a, width))
  if (active.length > maxBars) lines.push(`… and ${active.length - maxBars} more`.slice(0, width))
  lines.push(renderTotal(state, width))
  return lines
}

/** A terminal or plain-log display of a download run. */
export interface Display {
  readonly start: (index: number, url: string) => void
  readonly progress: (index: number, progress: Progress) => void
  /** `line` is the finished/failed message to keep on screen. */
  readonly outcome: (outcome: Outcome, line: string) => void
  /** Redraw (terminal only; called on a timer). */
  readonly tick: () => void
  /** Removes the bars, leaving only the permanent lines. */
  readonly close: () => void
  /** How many files other workers of a durable batch finished (shown in the total line). */
  readonly others: (count: number) => void
}

/**
 * A display writing to `write` (stderr). On a TTY it redraws the bars in place with ANSI
 * cursor moves; otherwise it writes one line per event.
 */
export const makeDisplay = (options: {
  readonly files: number
  readonly tty: boolean
  readonly columns: () => number
  readonly write: (text: string) => void
}): Display => {
  const state = makeState(options.files)
  const width = () => Math.max(40, options.columns() - 1)
  const pad = String(options.files).length
  const tag = (index: number) => `[${String(index + 1).padStart(pad)}/${options.files}]`
  if (!options.tty) {
    return {
      start: (index, url) => options.write(`${tag(index)} start ${terminalSafe(url)}\n`),
      progress: (index, progress) => applyProgress(state, index, progress),
      outcome: (outcome, line) => {
        applyOutcome(state, outcome)
        options.write(`${tag(outcome.index)} ${terminalSafe(line)}\n`)
      },
      tick: () => {},
      close: () => {},
      others: (count) => void (state.others = count)
    }
  }
  let drawn = 0
  let pending: Array<string> = []
  const redraw = (bars: boolean) => {
    // Up to the first bar line, clear everything below, print the permanent lines, then the bars.
    let out = drawn > 0 ? `\x1b[${drawn}F\x1b[J` : ""
    for (const line of pending) out += `${line.slice(0, width())}\n`
    pending = []
    const lines = bars ? renderBars(state, width()) : []
    for (const line of lines) out += `${line}\n`
    drawn = lines.length
    if (out !== "") options.write(out)
  }
  return {
    start: (index, url) => {
      if (!state.active.has(index)) {
        state.active.set(index, { index, label: nameFromUrl(url), bytes: 0, total: undefined, rate: 0, resumedFrom: 0 })
      }
    },
    progress: (index, progress) => applyProgress(state, index, progress),
    outcome: (outcome, line) => {
      applyOutcome(state, outcome)
      pending.push(`${tag(outcome.index)} ${terminalSafe(line)}`)
    },
    tick: () => redraw(true),
    close: () => redraw(false),
    others: (count) => void (state.others = count)
  }
}
