/**
 * Durations as the client's timers take them. One parser, one meaning, for every option
 * that takes a duration: a positive, finite number of milliseconds, or `undefined` for
 * "off" (`"none"`, zero, negative or infinite).
 */
import * as Duration from "effect/Duration"

/** A duration option: anything `Duration.decode` takes, or `"none"` to turn it off. */
export type DurationOption = Duration.DurationInput | "none"

/** Milliseconds of `input` when positive and finite; `undefined` (off) otherwise. */
export const millis = (input: DurationOption): number | undefined => {
  if (input === "none") return undefined
  const ms = Duration.toMillis(Duration.decode(input))
  return Number.isFinite(ms) && ms > 0 ? ms : undefined
}

/** {@link millis} of an option, or `fallback` when the option was not given. */
export const millisOr = (input: DurationOption | undefined, fallback: number | undefined): number | undefined =>
  input === undefined ? fallback : millis(input)
