/**
 * An adaptive concurrency limit for one origin: how many requests may be in flight to it now.
 *
 * Two signals move the limit, each as the systems that proved them do:
 *
 * - **Drops** (AIMD, as Netflix concurrency-limits' `AIMDLimit` and TCP): a request the caller
 *   classifies as dropped (429, 503, a timeout, a reset) cuts the limit to `limit * backoff`.
 *   One cut per flight, as TCP cuts once per window: only a drop from a request sent under the
 *   current limit cuts it again, so a burst of 50 rejections answered to one over-full flight
 *   is one cut, not 50 (which would crash the limit to `min` for a single event).
 * - **Latency** (a gradient, as Envoy's adaptive concurrency filter and Netflix's Gradient2):
 *   successes are collected in windows (at least `window` long and `windowSamples` samples);
 *   at each window's close, with `sample` its p90 RTT and `minRtt` the host's unloaded RTT,
 *   `gradient = clamp((minRtt * (1 + buffer)) / sample, 0.5, 1)` and
 *   `limit = gradient * limit + sqrt(limit)`. The buffer absorbs noise (no cut until the RTT is
 *   `buffer` above the minimum); the `sqrt(limit)` headroom is the additive increase that
 *   probes for more while the RTT stays flat; the 0.5 floor bounds one window's cut. The
 *   headroom is skipped while the caller does not use half the limit (Gradient2's
 *   "app-limited" rule): a limit that is never reached learns nothing by growing.
 *
 * `minRtt` is the least window minimum seen. A standing queue would keep every later sample
 * above it and let it drift up if it were re-learned from ordinary traffic, so every
 * `minRttInterval` it is measured afresh as Envoy does: the limit is pinned to a quarter
 * (at least `min`) until `windowSamples` requests sent under the pin complete, their minimum
 * becomes `minRtt`, and the limit returns to what it was.
 *
 * The limit stays within [`min`, `max`] (`max` is the caller's `concurrency`). Interruption is
 * never a signal: a slot released with `"ignore"` frees its place and changes nothing else,
 * and an interrupted `acquire` leaves no waiter and no slot behind.
 *
 * Waiting is a FIFO permit count (`permits.ts`: interruptible `take`, and `resize`, which lets
 * the limit fall below the permits in use; new takes then wait until enough are back), not
 * Effect's `Semaphore`, whose release wakes every waiter (the reason is in that module).
 * Time is read from the fiber's `Clock` only, so the same code runs under `TestClock`; RTTs
 * are taken in nanoseconds, as a whole-millisecond RTT of a fast host reads 0 and 1 at random
 * and the gradient would take that for a doubling.
 *
 * Shape: `make(options)` gives an {@link AdaptiveLimit}; `run(effect, classify)` wraps one
 * request (acquire, time it, classify its exit, release; an interrupted run is `"ignore"`),
 * or `acquire` + `Slot.release(signal, rttMs)` for callers that time the exchange themselves
 * (acquire under a mask, e.g. `Effect.acquireUseRelease`, so an interruption between the two
 * cannot lose the slot).
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Permits from "./permits.js"

/** What one finished request says about the host: succeeded (with its RTT), dropped, or nothing (interrupted). */
export type Signal = "ok" | "drop" | "ignore"

export interface AdaptiveOptions {
  /** The most requests in flight, ever: the caller's `concurrency`. */
  readonly max: number
  /** The least the limit falls to. Default 1. */
  readonly min?: number | undefined
  /** The limit to start from. Default `min(max, 20)` (Gradient2's initial limit), at least `min`. */
  readonly initial?: number | undefined
  /** The factor a drop cuts the limit by, in (0, 1). Default 0.8. */
  readonly backoff?: number | undefined
  /** How far above the minimum RTT a sample may be before it cuts the limit, as a fraction. Default 0.25 (Envoy's). */
  readonly buffer?: number | undefined
  /** The shortest sample window. Default 100 ms (Envoy's update interval). */
  readonly window?: Duration.DurationInput | undefined
  /** The fewest samples a window needs before it closes (also the size of a min-RTT measurement). Default 8. */
  readonly windowSamples?: number | undefined
  /** How long a measured minimum RTT is trusted before it is measured again. Default 30 s. */
  readonly minRttInterval?: Duration.DurationInput | undefined
}

/** One place in flight. Release it exactly once (later calls do nothing). */
export interface Slot {
  readonly release: (signal: Signal, rttMs: number) => Effect.Effect<void>
}

export interface AdaptiveLimit {
  /** Waits while `inFlight() >= current()`; interruptible, and an interrupted wait leaves nothing behind. */
  readonly acquire: Effect.Effect<Slot>
  /**
   * Runs one request in a slot: its RTT is the Clock time from the slot to its exit, `classify`
   * turns the exit into a signal, and an interruption releases the slot as `"ignore"`.
   */
  readonly run: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    classify: (exit: Exit.Exit<A, E>) => Signal
  ) => Effect.Effect<A, E, R>
  /** The limit now (a whole number in [min, max]). */
  readonly current: () => number
  /** Slots held now. */
  readonly inFlight: () => number
  /** The minimum RTT it measures against, in ms; `undefined` before the first window closed. */
  readonly minRtt: () => number | undefined
}

const positiveInt = (name: string, value: number): number => {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`adaptive limit: ${name} must be a whole number >= 1, got ${value}`)
  return value
}

const fraction = (name: string, value: number, low: number, high: number): number => {
  if (!(value > low && value < high)) throw new RangeError(`adaptive limit: ${name} must be in (${low}, ${high}), got ${value}`)
  return value
}

/**
 * A new limit. Throws a `RangeError` naming the option for invalid options (`max` not a whole
 * number >= 1, `min` above `max`, `backoff` outside (0, 1)...): options are code, checked where
 * the caller's configuration is decoded.
 */
export const unsafeMake = (options: AdaptiveOptions): AdaptiveLimit => {
  const max = positiveInt("max", options.max)
  const min = positiveInt("min", options.min ?? 1)
  if (min > max) throw new RangeError(`adaptive limit: min (${min}) must not exceed max (${max})`)
  const initial = positiveInt("initial", options.initial ?? Math.max(min, Math.min(max, 20)))
  if (initial < min || initial > max) throw new RangeError(`adaptive limit: initial (${initial}) must be within [${min}, ${max}]`)
  const backoff = fraction("backoff", options.backoff ?? 0.8, 0, 1)
  const buffer = options.buffer ?? 0.25
  if (!(buffer >= 0 && Number.isFinite(buffer))) throw new RangeError(`adaptive limit: buffer must be a finite number >= 0, got ${buffer}`)
  const windowMs = Duration.toMillis(Duration.decode(options.window ?? Duration.millis(100)))
  const windowSamples = positiveInt("windowSamples", options.windowSamples ?? 8)
  const minRttIntervalMs = Duration.toMillis(Duration.decode(options.minRttInterval ?? Duration.seconds(30)))

  const permits = Permits.make(initial)
  const clamp = (n: number) => Math.max(min, Math.min(max, n))
  let limit = initial // fractional; the permits are its whole part
  let held = 0
  // Bumped at every cut and at the start of a min-RTT measurement: a slot remembers the epoch
  // it was taken in, so a drop cuts only once per flight and a measurement ignores older slots.
  let epoch = 0
  let samples: Array<number> = []
  let windowStart: number | undefined
  let peakHeld = 0
  let minRtt: number | undefined
  let minRttAt = 0
  // While measuring the min RTT: the limit to return to and what the measurement saw so far.
  let measuring: { readonly saved: number; readonly epoch: number; seen: Array<number> } | undefined

  // The state changes are synchronous (the permits resize at once): a slot settles in one
  // step, which keeps the opt-in limit's cost per request down.
  const setLimit = (next: number): void => {
    const before = Math.floor(limit)
    limit = clamp(next)
    if (Math.floor(limit) !== before) permits.resize(Math.floor(limit))
  }

  const openWindow = (now: number) => {
    samples = []
    windowStart = now
    peakHeld = held
  }

  const closeWindow = (now: number): void => {
    const sorted = samples.sort((a, b) => a - b)
    const p90 = sorted[Math.ceil(sorted.length * 0.9) - 1]!
    const low = sorted[0]!
    const appLimited = peakHeld < limit / 2
    openWindow(now)
    if (minRtt === undefined || low < minRtt) {
      minRtt = low
      minRttAt = now
    }
    if (now - minRttAt >= minRttIntervalMs) {
      epoch++
      measuring = { saved: limit, epoch, seen: [] }
      return setLimit(Math.max(min, Math.floor(limit / 4)))
    }
    const target = minRtt * (1 + buffer)
    const gradient = p90 <= target ? 1 : Math.max(0.5, target / p90)
    const headroom = appLimited ? 0 : Math.sqrt(limit)
    setLimit(gradient * limit + headroom)
  }

  const onSample = (slotEpoch: number, rttMs: number, now: number): void => {
    if (measuring !== undefined) {
      if (slotEpoch < measuring.epoch) return // sent before the pin: may have queued
      measuring.seen.push(rttMs)
      if (measuring.seen.length < windowSamples) return
      minRtt = Math.min(...measuring.seen)
      minRttAt = now
      const saved = measuring.saved
      measuring = undefined
      openWindow(now)
      return setLimit(saved)
    }
    if (windowStart === undefined) openWindow(now)
    samples.push(rttMs)
    if (now - windowStart! >= windowMs && samples.length >= windowSamples) closeWindow(now)
  }

  const onDrop = (slotEpoch: number): void => {
    if (slotEpoch !== epoch) return // this flight was already cut for
    epoch++
    if (measuring !== undefined) {
      measuring = { ...measuring, saved: clamp(measuring.saved * backoff), epoch }
      return
    }
    samples = []
    windowStart = undefined
    setLimit(limit * backoff)
  }

  /** Takes a place (its permit already held); `settle` gives it back once, with what the request said. */
  const takeSlot = (): { readonly settle: (signal: Signal, rttMs: number, now: number) => void } => {
    const slotEpoch = epoch
    let released = false
    held++
    if (held > peakHeld) peakHeld = held
    return {
      settle: (signal, rttMs, now) => {
        if (released) return
        released = true
        held--
        if (signal === "ok") onSample(slotEpoch, Math.max(0, rttMs), now)
        else if (signal === "drop") onDrop(slotEpoch)
        permits.release()
      }
    }
  }

  // The permit and the slot are taken together without an interruption point between them.
  const acquire: Effect.Effect<Slot> = Effect.uninterruptibleMask((restore) =>
    Effect.map(restore(permits.take), () => {
      const slot = takeSlot()
      return {
        release: (signal, rttMs) => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => slot.settle(signal, rttMs, now)))
      }
    })
  )

  const run = <A, E, R>(effect: Effect.Effect<A, E, R>, classify: (exit: Exit.Exit<A, E>) => Signal) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(permits.take), () =>
        Effect.clockWith((clock) => {
          const slot = takeSlot()
          const start = preciseMillis(clock)
          return Effect.onExit(restore(effect), (exit) =>
            Effect.sync(() =>
              Exit.isInterrupted(exit)
                ? slot.settle("ignore", 0, 0)
                : slot.settle(classify(exit), preciseMillis(clock) - start, clock.unsafeCurrentTimeMillis())
            ))
        }))
    )

  return {
    acquire,
    run,
    current: () => Math.floor(limit),
    inFlight: () => held,
    minRtt: () => minRtt
  }
}

/**
 * The clock's time in ms, to the nanosecond where it has it: the live clock's milliseconds are
 * whole (Date.now), so a fast host's RTT would read 0 or 1 at random. TestClock's nanoseconds
 * die on a fractional instant (a `BigInt` of a fraction), and its milliseconds are exact anyway.
 */
const preciseMillis = (clock: Clock.Clock): number => {
  const ms = clock.unsafeCurrentTimeMillis()
  return Number.isInteger(ms) ? Number(clock.unsafeCurrentTimeNanos()) / 1e6 : ms
}

/** {@link unsafeMake} as an Effect (invalid options are a defect). */
export const make = (options: AdaptiveOptions): Effect.Effect<AdaptiveLimit> => Effect.sync(() => unsafeMake(options))
