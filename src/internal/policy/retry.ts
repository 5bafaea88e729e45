/**
 * The retry policy as the client, Batch and Download run it: `Retry`'s rules and schedule,
 * each retry first taken from the origin's retry budget. The budget is asked when a retry is
 * decided, before its backoff, so retries waiting to be sent count against it.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { NetworkError } from "../../Errors.js"
import * as Retry from "../../Retry.js"
import { timerFor, within } from "../transport/timer.js"
import type { HostState, Hosts } from "./hosts.js"
import type { Call, Policy } from "./policy.js"

/** Why a retry the policy wanted was not made. */
export type Refusal = "budget"

/**
 * Whether the origin's budget allows one more retry (or hedge); on refusal, `refused` is told
 * and the current span says so.
 */
export const allowed = (hosts: Hosts, host: HostState, refused?: (why: Refusal) => void): Effect.Effect<boolean> =>
  Clock.clockWith((clock) => {
    if (hosts.withdraw(host, clock.unsafeCurrentTimeMillis())) return Effect.succeed(true)
    refused?.("budget")
    return Effect.as(Effect.annotateCurrentSpan("volley.retry.refused", "budget"), false)
  })

/** `Retry.retryAfter` with each retry also allowed by `allow` (asked before its backoff). */
export const retryAfter = <A, E, R>(
  policy: Retry.RetryPolicy,
  method: string,
  headers: Readonly<Record<string, string>> | undefined,
  first: E,
  effect: Effect.Effect<A, E, R>,
  allow: Effect.Effect<boolean>
): Effect.Effect<A, E, R> => Retry.retryAfter(policy, method, headers, first, effect, allow)

/**
 * `Effect.catchAll`, in one runtime step on success where `catchAll` takes two: its
 * success-and-failure frame answers a success with a step of its own, a failure-only frame is
 * passed over (`clientSteps` bench: every request passes the retry wrap, few fail). A plain
 * failure goes to `f`; any other cause goes through `Effect.catchAll` itself.
 */
export const catchFailure = <A, E, R, A2, E2, R2>(
  effect: Effect.Effect<A, E, R>,
  f: (error: E) => Effect.Effect<A2, E2, R2>
): Effect.Effect<A | A2, E2, R | R2> =>
  Effect.catchAllCause(effect, (cause) => cause._tag === "Fail" ? f(cause.error) : Effect.catchAll(Effect.failCause(cause), f))

/** What `Retry.retry` does, each retry also allowed by `allow()` (made on the first failure: the success path pays nothing). */
export const retry = <A, E, R>(
  policy: Retry.RetryPolicy,
  method: string,
  headers: Readonly<Record<string, string>> | undefined,
  effect: Effect.Effect<A, E, R>,
  allow: () => Effect.Effect<boolean>
): Effect.Effect<A, E, R> => {
  if (policy.maxAttempts <= 1) return effect
  return catchFailure(effect, (first) =>
    Retry.shouldRetry(policy, method, headers, first) ? retryAfter(policy, method, headers, first, effect, allow()) : Effect.fail(first))
}

/**
 * The retry as a policy: a call whose request can be sent again is retried by its settings'
 * rules, each retry taken from its origin's budget (`refused` is told when it is not), the
 * retries and their backoff ended by the call's deadline when it has one. Off (one attempt,
 * or a body that cannot be replayed), the call goes to `next` as it is.
 */
export const retrying = <C extends Call>(hosts: Hosts, refused?: (call: C, why: Refusal) => void): Policy<C> => (next) => (call, accepted) => {
  const attempts = next(call, accepted)
  const { request, settings } = call
  const policy = settings.retry
  if (!request.replayable || policy.maxAttempts <= 1) return attempts
  const { method, headers } = request
  const allow = (): Effect.Effect<boolean> =>
    allowed(hosts, call.host, refused === undefined ? undefined : (why) => refused(call, why))
  return catchFailure(attempts, (first) => {
    if (!Retry.shouldRetry(policy, method, headers, first)) return Effect.fail(first)
    const deadlineAt = call.deadlineAt
    if (deadlineAt === undefined) return retryAfter(policy, method, headers, first, attempts, allow())
    return Clock.clockWith((clock) => {
      const left = deadlineAt - clock.unsafeCurrentTimeMillis()
      if (left <= 0) return Effect.fail(first)
      const plan = retryAfter(policy, method, headers, first, attempts, allow())
      return within(plan, left, () => new NetworkError({ reason: "Timeout", phase: "deadline", method, url: request.redactedUrl }), timerFor(clock))
    })
  })
}
