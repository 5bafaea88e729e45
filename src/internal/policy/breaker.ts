/**
 * A circuit breaker per origin: stop sending to a host that keeps failing, and let a few probes
 * find out when it is back.
 *
 * - **closed**: calls go through; each outcome is counted in a sliding window (`window`, in
 *   ten buckets, as Polly and resilience4j's time-based windows do). When the window holds at
 *   least `minThroughput` outcomes and the failed share reaches `failureRatio`, it opens.
 * - **open**: `enter` fails at once with a {@link CircuitOpenError} carrying the rest of the
 *   break, for `breakFor`.
 * - **half-open**: after the break, up to `halfOpenProbes` calls go through as probes (more
 *   fail at once). When that many probes have succeeded it closes with an empty window; any
 *   probe failure opens it again for a full `breakFor`.
 *
 * Interruption is never an outcome: an interrupted call is not counted, and an interrupted
 * probe gives its place back, so a cancelled probe cannot leave the breaker half-open with
 * nobody probing. Outcomes of calls admitted before the last transition are ignored (a slow
 * success from before the break must not close it, nor an old failure re-open it).
 *
 * What counts as a failure is the caller's call (`Permit.exit` / `run`'s `classify`): typically
 * 5xx and network failures, not 4xx. Time is the fiber's `Clock`, so it runs under `TestClock`.
 * State lives in the breaker value (one per client), keyed by origin; an origin's entry stays
 * for the breaker's lifetime (a few hundred bytes each).
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { CircuitOpenError } from "../../Errors.js"
import { redactUrl } from "../redact.js"

export type State = "closed" | "open" | "half-open"

/** How an admitted call ended. `interrupted` counts as nothing. */
export type Outcome = "success" | "failure" | "interrupted"

export interface BreakerOptions {
  /** The failed share of the window, in (0, 1], that opens the breaker. */
  readonly failureRatio: number
  /** The fewest outcomes in the window before the ratio counts. */
  readonly minThroughput: number
  /** The sliding window outcomes are counted in. */
  readonly window: Duration.DurationInput
  /** How long it stays open before probing. */
  readonly breakFor: Duration.DurationInput
  /** How many probes a half-open breaker lets through (and how many must succeed to close it). */
  readonly halfOpenProbes: number
}

/** An admitted call. Exit it exactly once (later calls do nothing). */
export interface Permit {
  /** Whether this call is a half-open probe. */
  readonly probe: boolean
  readonly exit: (outcome: Outcome) => Effect.Effect<void>
}

export interface Breaker {
  /**
   * Admits a call to `origin` or fails at once. `request` (method and URL, redacted here) only
   * goes into the error.
   */
  readonly enter: (
    origin: string,
    request?: { readonly method: string; readonly url: string }
  ) => Effect.Effect<Permit, CircuitOpenError>
  /** Runs `effect` through the breaker: an interruption is `interrupted`, any other exit is `classify`'s. */
  readonly run: <A, E, R>(
    origin: string,
    effect: Effect.Effect<A, E, R>,
    classify: (exit: Exit.Exit<A, E>) => "success" | "failure",
    request?: { readonly method: string; readonly url: string }
  ) => Effect.Effect<A, E | CircuitOpenError, R>
  /** The state of `origin` now (an open breaker whose break has ended reads `half-open`). */
  readonly state: (origin: string) => Effect.Effect<State>
}

const BUCKETS = 10

interface Bucket {
  index: number
  successes: number
  failures: number
}

interface Circuit {
  state: State
  /** Bumped at each transition; a permit from an older generation exits without effect. */
  generation: number
  buckets: Array<Bucket>
  openUntil: number
  probesOut: number
  probesSucceeded: number
}

/**
 * A new breaker. Throws a `RangeError` naming the option for invalid options (options are
 * code, checked where the caller's configuration is decoded).
 */
export const unsafeMake = (options: BreakerOptions): Breaker => {
  const { failureRatio, halfOpenProbes, minThroughput } = options
  if (!(failureRatio > 0 && failureRatio <= 1)) {
    throw new RangeError(`circuit breaker: failureRatio must be in (0, 1], got ${failureRatio}`)
  }
  for (const [name, value] of [["minThroughput", minThroughput], ["halfOpenProbes", halfOpenProbes]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`circuit breaker: ${name} must be a whole number >= 1, got ${value}`)
  }
  const windowMs = Duration.toMillis(Duration.decode(options.window))
  const breakMs = Duration.toMillis(Duration.decode(options.breakFor))
  if (!(windowMs > 0 && Number.isFinite(windowMs))) throw new RangeError(`circuit breaker: window must be a positive, finite duration`)
  if (!(breakMs > 0 && Number.isFinite(breakMs))) throw new RangeError(`circuit breaker: breakFor must be a positive, finite duration`)
  const bucketMs = windowMs / BUCKETS

  const circuits = new Map<string, Circuit>()
  const circuitOf = (origin: string): Circuit => {
    let circuit = circuits.get(origin)
    if (circuit === undefined) {
      circuit = { state: "closed", generation: 0, buckets: [], openUntil: 0, probesOut: 0, probesSucceeded: 0 }
      circuits.set(origin, circuit)
    }
    return circuit
  }

  const transition = (circuit: Circuit, state: State, now: number) => {
    circuit.state = state
    circuit.generation++
    circuit.probesOut = 0
    circuit.probesSucceeded = 0
    if (state === "open") circuit.openUntil = now + breakMs
    if (state === "closed") circuit.buckets = []
  }

  /** Counts an outcome in the window and says whether the window now calls for opening. */
  const record = (circuit: Circuit, failed: boolean, now: number): boolean => {
    const index = Math.floor(now / bucketMs)
    let bucket = circuit.buckets[index % BUCKETS]
    if (bucket === undefined || bucket.index !== index) {
      bucket = { index, successes: 0, failures: 0 }
      circuit.buckets[index % BUCKETS] = bucket
    }
    if (failed) bucket.failures++
    else bucket.successes++
    if (!failed) return false
    let total = 0
    let failures = 0
    for (const b of circuit.buckets) {
      if (b === undefined || b.index <= index - BUCKETS) continue
      total += b.successes + b.failures
      failures += b.failures
    }
    return total >= minThroughput && failures >= failureRatio * total
  }

  const permit = (circuit: Circuit, probe: boolean): Permit => {
    const generation = circuit.generation
    let done = false
    return {
      probe,
      exit: (outcome) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => {
            if (done) return
            done = true
            if (circuit.generation !== generation) return
            if (!probe) {
              if (outcome !== "interrupted" && record(circuit, outcome === "failure", now)) transition(circuit, "open", now)
              return
            }
            circuit.probesOut--
            if (outcome === "failure") transition(circuit, "open", now)
            else if (outcome === "success" && ++circuit.probesSucceeded >= halfOpenProbes) transition(circuit, "closed", now)
          }))
    }
  }

  const enter: Breaker["enter"] = (origin, request) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.suspend(() => {
        const circuit = circuitOf(origin)
        if (circuit.state === "closed") return Effect.succeed(permit(circuit, false))
        if (circuit.state === "open" && now >= circuit.openUntil) transition(circuit, "half-open", now)
        if (circuit.state === "half-open" && circuit.probesOut + circuit.probesSucceeded < halfOpenProbes) {
          circuit.probesOut++
          return Effect.succeed(permit(circuit, true))
        }
        return Effect.fail(
          new CircuitOpenError({
            origin,
            state: circuit.state === "open" ? "open" : "half-open",
            retryAfter: Duration.millis(circuit.state === "open" ? circuit.openUntil - now : 0),
            method: request?.method,
            url: request === undefined ? undefined : redactUrl(request.url)
          })
        )
      }))

  const run: Breaker["run"] = (origin, effect, classify, request) =>
    Effect.acquireUseRelease(
      enter(origin, request),
      () => effect,
      (permit, exit) => permit.exit(Exit.isInterrupted(exit) ? "interrupted" : classify(exit))
    )

  const state = (origin: string): Effect.Effect<State> =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const circuit = circuits.get(origin)
      if (circuit === undefined) return "closed"
      return circuit.state === "open" && now >= circuit.openUntil ? "half-open" : circuit.state
    })

  return { enter, run, state }
}

/** {@link unsafeMake} as an Effect (invalid options are a defect). */
export const make = (options: BreakerOptions): Effect.Effect<Breaker> => Effect.sync(() => unsafeMake(options))
