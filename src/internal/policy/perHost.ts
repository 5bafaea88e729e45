/**
 * The opt-in per-host policies around one attempt: the adaptive concurrency limit and the
 * circuit breaker, both keyed by origin and kept by the client's `Hosts` (so every consumer
 * of one client shares them). Each is on when a call's settings ask for it; off, the call
 * goes to `next` as it is. Their place in the order is in `policy.ts`.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import type { CircuitBreakerOptions } from "../../Client.js"
import { NetworkError, StatusError } from "../../Errors.js"
import * as Adaptive from "./adaptive.js"
import * as Breaker from "./breaker.js"
import type { Hosts, HostState } from "./hosts.js"
import type { Dispatch, Policy } from "./policy.js"

/** The breaker's defaults: open at 50% failures over 10 s with at least 10 calls, 5 s break, 2 probes. */
export const defaultBreaker: Breaker.BreakerOptions = {
  failureRatio: 0.5,
  minThroughput: 10,
  window: Duration.seconds(10),
  breakFor: Duration.seconds(5),
  halfOpenProbes: 2
}

/** The breaker options from the public ones, checked (a `RangeError` names a bad one). */
export const breakerOptions = (options: boolean | CircuitBreakerOptions | undefined): Breaker.BreakerOptions | undefined => {
  if (options === undefined || options === false) return undefined
  const resolved: Breaker.BreakerOptions = options === true ? defaultBreaker : {
    failureRatio: options.failureRatio ?? defaultBreaker.failureRatio,
    minThroughput: options.minThroughput ?? defaultBreaker.minThroughput,
    window: options.window ?? defaultBreaker.window,
    breakFor: options.breakFor ?? defaultBreaker.breakFor,
    halfOpenProbes: options.halfOpenProbes ?? defaultBreaker.halfOpenProbes
  }
  Breaker.unsafeMake(resolved) // checks the options now, where the caller configured them
  return resolved
}

export const metrics = {
  limit: Metric.gauge("volley_host_adaptive_limit", { description: "The adaptive concurrency limit of an origin now" }),
  breaker: Metric.gauge("volley_host_breaker_state", { description: "An origin's circuit breaker: 0 closed, 1 half-open, 2 open" })
}

const stateValue: Record<Breaker.State, number> = { closed: 0, "half-open": 1, open: 2 }

/** A request the host dropped (AIMD's signal): 429, 503, a timeout, a reset. */
const dropped = (error: unknown): boolean =>
  error instanceof StatusError
    ? error.status === 429 || error.status === 503
    : error instanceof NetworkError && (error.reason === "Timeout" || error.reason === "ConnectionReset")

const classifyDrop = <A, E>(exit: Exit.Exit<A, E>): Adaptive.Signal =>
  Exit.isSuccess(exit) ? "ok" : Exit.isInterrupted(exit) ? "ignore" : dropped(Exit.isFailure(exit) ? failureOf(exit) : undefined) ? "drop" : "ok"

const failureOf = <A, E>(exit: Exit.Failure<A, E>): unknown => exit.cause._tag === "Fail" ? exit.cause.error : undefined

/** What a call says about the host's health: 5xx and network failures count, a refusal of ours or the caller's does not. */
const outcomeOf = <A, E>(exit: Exit.Exit<A, E>): Breaker.Outcome => {
  if (Exit.isSuccess(exit)) return "success"
  if (Exit.isInterrupted(exit)) return "interrupted"
  const error = failureOf(exit)
  if (error instanceof StatusError) return error.status >= 500 ? "failure" : "success"
  if (error instanceof NetworkError) return error.reason === "Aborted" ? "interrupted" : "failure"
  return "interrupted" // not the host's doing (a pause it asked for, an invalid request, a decode): not counted
}

/** `effect` (one exchange) under the origin's adaptive limit, which stays within `max`. */
export const limited = <A, E, R>(host: HostState, max: number, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const limit = host.adaptive ??= Adaptive.unsafeMake({ max })
  return Effect.onExit(limit.run(effect, classifyDrop), () => Effect.sync(() => metrics.limit.unsafeUpdate(limit.current(), host.labels)))
}

/** `effect` (the gate and the exchange) through the client's breaker for the origin: refused at once while it is open. */
export const broken = <A, E, R>(
  breaker: Breaker.Breaker,
  host: HostState,
  request: { readonly method: string; readonly url: string },
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | import("../../Errors.js").CircuitOpenError, R> =>
  Effect.acquireUseRelease(
    breaker.enter(host.origin, request),
    () => effect,
    (permit, exit) =>
      Effect.zipRight(
        permit.exit(outcomeOf(exit)),
        Effect.map(breaker.state(host.origin), (state) => metrics.breaker.unsafeUpdate(stateValue[state], host.labels))
      )
  )

/** The circuit breaker as a policy: on when the call's settings carry its options, else not there. */
export const circuitBreaker = (hosts: Hosts): Policy<Dispatch> => (next) => (dispatch, accepted) => {
  const options = dispatch.settings.breaker
  if (options === undefined) return next(dispatch, accepted)
  const { request } = dispatch
  return broken(hosts.breaker(options), dispatch.host, { method: request.method, url: request.redactedUrl }, next(dispatch, accepted))
}

/** The adaptive limit as a policy: on when the call's settings give its maximum, else not there. */
export const adaptiveLimit: Policy<Dispatch> = (next) => (dispatch, accepted) => {
  const max = dispatch.settings.adaptiveMax
  return max === undefined ? next(dispatch, accepted) : limited(dispatch.host, max, next(dispatch, accepted))
}
