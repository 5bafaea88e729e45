/**
 * Telling the live clock from any other (a `TestClock`). Under the live clock, code on a hot
 * path may use Node's timers and `performance.now()` directly, which is equivalent and cheaper;
 * under any other clock it must go through that clock, so tests drive it.
 */
import * as Clock from "effect/Clock"

const liveClockPrototype: unknown = Object.getPrototypeOf(Clock.make())

/** Whether `clock` is Effect's live clock (real time), not a test or custom one. */
export const isLiveClock = (clock: Clock.Clock): boolean => Object.getPrototypeOf(clock) === liveClockPrototype
