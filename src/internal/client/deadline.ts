/**
 * The deadline of one attempt and the bound on each wait inside it: whichever fires first of
 * the wait's own timeout (headers, idle body) and the attempt's overall deadline.
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import { NetworkError, type TimeoutPhase } from "../../Errors.js"
import type { Timeout } from "../transport/transport.js"
import type { PreparedRequest } from "./request.js"
import type { CallSettings } from "./settings.js"

/** The clock-based deadline of one attempt, shared by every wait inside it. */
export interface Attempt {
  readonly clock: Clock.Clock
  readonly request: PreparedRequest
  readonly settings: CallSettings
  /** Absolute time (Clock millis) at which the attempt's deadline fires, if any. */
  readonly deadlineAt: number | undefined
  /** The clock is the live one, so transport-armed timers are equivalent to clock sleeps. */
  readonly live: boolean
}

export const timeoutError = (attempt: Attempt, phase: TimeoutPhase): NetworkError =>
  new NetworkError({ reason: "Timeout", phase, method: attempt.request.method, url: attempt.request.redactedUrl })

/**
 * The bound on one wait: whichever fires first of the phase's own timeout and the attempt's
 * deadline, or `undefined` when neither is set.
 */
export const boundFor = (attempt: Attempt, phaseMs: number | undefined, phase: TimeoutPhase): Timeout | undefined => {
  const remaining = attempt.deadlineAt === undefined ? Infinity : attempt.deadlineAt - attempt.clock.unsafeCurrentTimeMillis()
  const usePhase = phaseMs !== undefined && phaseMs < remaining
  const ms = usePhase ? phaseMs : remaining
  if (ms === Infinity) return undefined
  const which: TimeoutPhase = usePhase ? phase : "deadline"
  return { ms: Math.max(0, ms), error: () => timeoutError(attempt, which) }
}

/**
 * Runs one wait under its bound. Firing interrupts the wait, which aborts the transport's
 * request. Under the live clock a transport that arms its own timers does so (a fiber race
 * per wait costs more than a loopback request); under any other clock, `TestClock`
 * included, see {@link within}.
 */
export const bounded = <A>(
  attempt: Attempt,
  bound: Timeout | undefined,
  plain: () => Effect.Effect<A, NetworkError>,
  armed: ((timeout: Timeout) => Effect.Effect<A, NetworkError>) | undefined
): Effect.Effect<A, NetworkError> => {
  if (bound === undefined) return plain()
  if (bound.ms <= 0) return Effect.fail(bound.error())
  if (armed !== undefined && attempt.live) return armed(bound)
  return within(plain(), bound.ms, bound.error)
}

/**
 * `effect`, failing with `error()` once `ms` have passed on the fiber's clock; the effect is
 * interrupted first (its requests aborted). Interrupting the caller interrupts both at once.
 *
 * Not `Effect.timeoutFail`: its race waits for the raced effect uninterruptibly, so a caller
 * interrupted mid-wait (a failed sibling in a fan-out) would only stop once the request
 * answered. Here the effect and the timer run as fibers of this async, which interruption
 * cancels at once.
 */
export const within = <A, E, R, E2>(effect: Effect.Effect<A, E, R>, ms: number, error: () => E2): Effect.Effect<A, E | E2, R> =>
  Effect.flatMap(Effect.runtime<R>(), (runtime) =>
    Effect.async<A, E | E2>((resume) => {
      let settled = false
      const work = Runtime.runFork(runtime)(effect)
      const timer = Runtime.runFork(runtime)(Effect.sleep(ms))
      timer.addObserver((exit) => {
        if (settled || Exit.isFailure(exit)) return
        settled = true
        // The request is aborted before the timeout error is seen, as with an interruption.
        resume(Effect.zipRight(Fiber.interrupt(work), Effect.fail(error())))
      })
      work.addObserver((exit) => {
        timer.unsafeInterruptAsFork(FiberId.none)
        if (settled) return
        settled = true
        resume(exit)
      })
      // Interruption completes once the request is aborted, not merely asked to stop.
      return Effect.sync(() => {
        settled = true
      }).pipe(Effect.zipRight(Fiber.interrupt(timer)), Effect.zipRight(Fiber.interrupt(work)))
    }))
