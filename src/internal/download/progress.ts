/**
 * Progress of one download: bytes so far, total when known, and a rate over a short sliding
 * window, reported at most once per interval (plus at start and at the end) so a fast
 * transfer does not drown its observer. Time comes from the Effect clock.
 */
import type * as Clock from "effect/Clock"
import type { Progress } from "../../Download.js"

/** Rate window: long enough to smooth bursts, short enough to follow a change of pace. */
const windowMs = 2_000

export interface Tracker {
  /** A (re)started transfer: `bytes` already on disk, `total` when known. */
  readonly start: (bytes: number, resumedFrom: number, total: number | undefined) => void
  /** `n` more bytes written. Cheap: reports only when the interval has passed. */
  readonly advance: (n: number) => void
  /** The body is complete: always reports. */
  readonly finish: () => void
  readonly bytes: () => number
}

export const makeTracker = (
  clock: Clock.Clock,
  intervalMs: number,
  url: string,
  path: string,
  emit: ((progress: Progress) => void) | undefined
): Tracker => {
  let bytes = 0
  let total: number | undefined
  let resumedFrom = 0
  let startedAt = 0
  let lastAt = 0
  // Ring of (time, bytes) samples, taken at each report.
  const times: Array<number> = []
  const counts: Array<number> = []

  const rate = (now: number): number => {
    while (times.length > 1 && now - times[0]! > windowMs) {
      times.shift()
      counts.shift()
    }
    const t0 = times[0]
    if (t0 === undefined || now <= t0) return 0
    return ((bytes - counts[0]!) * 1000) / (now - t0)
  }

  const report = (now: number, done: boolean) => {
    lastAt = now
    const r = rate(now)
    times.push(now)
    counts.push(bytes)
    emit?.({ url, path, bytes, total, resumedFrom, rate: r, elapsedMs: now - startedAt, done })
  }

  return {
    start: (b, r, t) => {
      bytes = b
      resumedFrom = r
      total = t
      startedAt = clock.unsafeCurrentTimeMillis()
      times.length = 0
      counts.length = 0
      report(startedAt, false)
    },
    advance: (n) => {
      bytes += n
      if (emit === undefined) return
      const now = clock.unsafeCurrentTimeMillis()
      if (now - lastAt >= intervalMs) report(now, false)
    },
    finish: () => report(clock.unsafeCurrentTimeMillis(), true),
    bytes: () => bytes
  }
}
