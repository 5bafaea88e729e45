/**
 * Where deadlines get their time: a timer source derived from the fiber's `Clock`. Every
 * timeout in volley (headers, idle body, an attempt's deadline, a batch item's deadline) is
 * armed through one of these, by the undici transport, the virtual transport and `within`
 * alike, so live and virtual time differ only here:
 *
 * - the live clock: Node's `setTimeout` (a fiber per wait would cost more than a loopback
 *   request), firing after the socket reads already due (see `live`);
 * - any other clock (a `TestClock`): a sleep on that clock, so `TestClock.adjust` fires it.
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import type { Timer } from "../../Transport.js"
import { isLiveClock } from "../liveClock.js"


/**
 * Node's `setTimeout`, firing only once the I/O already waiting has been read. Node's event loop
 * runs due timers before it polls sockets, so after a busy stretch (a long synchronous step, a
 * process starved of CPU) a timer that fell due during it would fire before a response that
 * arrived in time is read: a headers timeout for headers sitting in the socket. Firing from
 * `setImmediate` (the check phase, right after that poll) lets the wait end first; a wait that
 * really ran out fires one loop turn later. Seen as `volley download --idle-timeout 400ms`
 * reporting `timeout (headers)` for a server that had answered in 10 ms (test/cli-download.test.ts
 * on a loaded machine); pinned by test/downloadBusyLoop.test.ts.
 */
const live: Timer = (ms, fire) => {
  let immediate: ReturnType<typeof setImmediate> | undefined
  const handle = setTimeout(() => {
    immediate = setImmediate(fire)
  }, ms)
  return () => {
    clearTimeout(handle)
    if (immediate !== undefined) clearImmediate(immediate)
  }
}

/**
 * A timer on `clock`: a sleep on it, in a fiber of its own (nothing of the waiting fiber's is
 * needed), interrupted when the timer is cancelled.
 */
const onClock = (clock: Clock.Clock): Timer => (ms, fire) => {
  const at = clock.unsafeCurrentTimeMillis() + ms
  let cancelled = false
  // Measured from `at` when the fiber starts, so the instant is exact however it is scheduled.
  const sleeper = Effect.runFork(Effect.suspend(() => clock.sleep(Duration.millis(Math.max(0, at - clock.unsafeCurrentTimeMillis())))))
  sleeper.addObserver((exit) => {
    if (!cancelled && Exit.isSuccess(exit)) fire()
  })
  return () => {
    if (cancelled) return
    cancelled = true
    sleeper.unsafeInterruptAsFork(FiberId.none)
  }
}

const timers = new WeakMap<Clock.Clock, Timer>()

/** The timer source for `clock`: `setTimeout` for the live clock, clock sleeps for any other. */
export const timerFor = (clock: Clock.Clock): Timer => {
  if (isLiveClock(clock)) return live
  let timer = timers.get(clock)
  if (timer === undefined) {
    timer = onClock(clock)
    timers.set(clock, timer)
  }
  return timer
}

/**
 * `effect`, failing with `error()` once `ms` have passed on `timer`; the effect is interrupted
 * first (its requests aborted). For deadlines over whole effects (the virtual transport's
 * exchange, a batch item's retry plan); a transport's own waits arm the timer directly.
 *
 * Not `Effect.timeoutFail`: in effect 3.22 a fiber waiting inside it is not reached by
 * `Effect.forEach`'s fail-fast interruption until the timeout's race ends on its own (a hung
 * request would hold a failed batch back for its whole deadline). The closest upstream
 * change is Effect-TS/effect#4189 ("ensure Effect.timeoutTo sleep is interrupted");
 * `test/upstream.test.ts` fails once the primitive is good enough to replace this.
 * Here the effect runs as a fiber of this `async`, which interruption cancels at once.
 */
export const within = <A, E, R, E2>(effect: Effect.Effect<A, E, R>, ms: number, error: () => E2, timer: Timer): Effect.Effect<A, E | E2, R> =>
  Effect.flatMap(Effect.runtime<R>(), (runtime) =>
    Effect.async<A, E | E2>((resume) => {
      let settled = false
      const work = Runtime.runFork(runtime)(effect)
      const cancel = timer(ms, () => {
        if (settled) return
        settled = true
        // The request is aborted before the timeout error is seen, as with an interruption.
        resume(Effect.zipRight(Fiber.interrupt(work), Effect.fail(error())))
      })
      work.addObserver((exit) => {
        cancel()
        if (settled) return
        settled = true
        resume(exit)
      })
      // Interruption completes once the request is aborted, not merely asked to stop.
      return Effect.sync(() => {
        settled = true
        cancel()
      }).pipe(Effect.zipRight(Fiber.interrupt(work)))
    }))
