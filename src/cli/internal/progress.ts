/**
 * A live one-line progress display on stderr, redrawn in place (`\r` + erase-line) when
 * stderr is a terminal, and entirely silent otherwise — so logs and pipes never see control
 * characters. Other output goes through `print`, which lifts the line out of the way first.
 * Redraws are timed on the Effect clock; the line is erased when the scope closes.
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"

/** The live line's handle. */
export interface ProgressLine {
  /** Whether a line is being drawn (stderr is a TTY). */
  readonly live: boolean
  /**
   * Writes `text` to `stream` (stderr by default) without garbling the progress line: the
   * line is erased first and redrawn on the next tick.
   */
  readonly print: (text: string, stream?: NodeJS.WriteStream) => void
  /** Erases the line now (before a final report) and stops redrawing it. */
  readonly stop: () => void
}

const ERASE = "\r\x1b[K"

/**
 * Starts a progress line showing `render()` every `intervalMs` (default 200 ms) while the
 * scope is open. With `enabled: false` or a non-TTY stderr it draws nothing.
 */
export const make = (
  render: () => string,
  options: { readonly intervalMs?: number; readonly enabled?: boolean; readonly stderr?: NodeJS.WriteStream } = {}
): Effect.Effect<ProgressLine, never, Scope.Scope> =>
  Effect.gen(function*() {
    const stderr = options.stderr ?? process.stderr
    const live = (options.enabled ?? true) && stderr.isTTY === true
    let drawn = false
    let stopped = false
    const erase = () => {
      if (drawn) stderr.write(ERASE)
      drawn = false
    }
    const draw = () => {
      if (stopped) return
      const columns = stderr.columns > 1 ? stderr.columns - 1 : 79
      stderr.write(`\r${render().slice(0, columns)}\x1b[K`)
      drawn = true
    }
    const line: ProgressLine = {
      live,
      print: (text, stream = stderr) => {
        if (live && (stream === stderr || stream.isTTY === true)) erase()
        stream.write(text)
      },
      stop: () => {
        stopped = true
        erase()
      }
    }
    if (!live) return line
    yield* Effect.addFinalizer(() => Effect.sync(line.stop))
    yield* Effect.forkScoped(Effect.repeat(Effect.sync(draw), Schedule.spaced(options.intervalMs ?? 200)))
    return line
  })

/**
 * `1234` -> `"1,234"`. By hand: the first `toLocaleString` call loads ICU's locale data, which
 * cost 0.1-0.2 s of a one-URL `volley fetch`.
 */
export const count = (n: number): string => {
  const digits = String(Math.abs(Math.round(n)))
  let out = ""
  for (let i = 0; i < digits.length; i++) {
    if (i > 0 && (digits.length - i) % 3 === 0) out += ","
    out += digits[i]
  }
  return n < 0 && out !== "0" ? `-${out}` : out
}

/** Seconds as a short duration: `"42s"`, `"3m07s"`, `"1h02m"`. */
export const eta = (seconds: number): string => {
  if (!Number.isFinite(seconds) || seconds < 0) return "?"
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
}

/** A byte count in binary units: `"512 B"`, `"1.5 KiB"`, `"3.2 MiB"`. */
export const bytes = (n: number): string => {
  if (n < 1024) return `${n} B`
  const units = ["KiB", "MiB", "GiB", "TiB"]
  let value = n / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`
}

/** Milliseconds for people: `"0.42 ms"`, `"12 ms"`, `"2.35 s"`. */
export const millis = (ms: number): string => {
  if (ms < 1) return `${ms.toFixed(2)} ms`
  if (ms < 10) return `${ms.toFixed(1)} ms`
  if (ms < 1000) return `${Math.round(ms)} ms`
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
}
