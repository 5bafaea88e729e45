/**
 * The deadline of one attempt and the bound on each wait inside it: whichever fires first of
 * the wait's own timeout (headers, idle body) and the attempt's overall deadline. This is
 * the one place that decides which timeout a wait gets and what error it fails with; the
 * transport arms it on the timer source of the fiber's clock (see `../transport/timer.ts`).
 */
import type * as Clock from "effect/Clock"
import type * as Fiber from "effect/Fiber"
import { NetworkError, type TimeoutPhase } from "../../Errors.js"
import type { Timer } from "../../Client.js"
import type { Timeout } from "../../Client.js"
import type { PreparedRequest } from "./request.js"
import type { CallSettings } from "./settings.js"

/** The clock-based deadline of one attempt, shared by every wait inside it. */
export interface Attempt {
  readonly clock: Clock.Clock
  readonly request: PreparedRequest
  readonly settings: CallSettings
  /** Absolute time (Clock millis) at which the attempt's deadline fires, if any. */
  readonly deadlineAt: number | undefined
  /** The timer source of `clock`, on which every wait of the attempt is bounded. */
  readonly timer: Timer
  /** The fiber running the attempt: its tracer, span and settings drive `observe`. */
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  /** Which attempt of its call this is: 0 for the first, then one more per retry. */
  readonly retry: number
}

export const timeoutError = (attempt: Attempt, phase: TimeoutPhase): NetworkError =>
  new NetworkError({ reason: "Timeout", phase, method: attempt.request.method, url: attempt.request.redactedUrl })

/**
 * The bound on one wait: whichever fires first of the phase's own timeout and the attempt's
 * deadline, or `undefined` when neither is set. A bound of 0 ms means the deadline already
 * passed: the caller fails at once rather than start the wait.
 */
export const boundFor = (attempt: Attempt, phaseMs: number | undefined, phase: TimeoutPhase): Timeout | undefined => {
  const remaining = attempt.deadlineAt === undefined ? Infinity : attempt.deadlineAt - attempt.clock.unsafeCurrentTimeMillis()
  const usePhase = phaseMs !== undefined && phaseMs < remaining
  const ms = usePhase ? phaseMs : remaining
  if (ms === Infinity) return undefined
  const which: TimeoutPhase = usePhase ? phase : "deadline"
  return new Bound(Math.max(0, ms), attempt, which)
}

/**
 * One wait's bound. A class, not an object literal: an armed timer keeps it for the wait, and
 * V8 then pretenures a literal's allocation site (see `hotPath.ts`).
 */
class Bound implements Timeout {
  readonly timer: Timer
  /** A bound function: transports may pass it on (`Timeout` is public). */
  readonly error: () => NetworkError
  constructor(readonly ms: number, attempt: Attempt, phase: TimeoutPhase) {
    this.timer = attempt.timer
    this.error = () => timeoutError(attempt, phase)
  }
}
