/**
 * Policies: what runs around the exchange (send, follow redirects, check the status, release
 * under the mask, bound every wait by the deadline). Each is a value `(next) => next'` over a
 * call step, composed once per client (or per batch), never per request. A policy that is off
 * for a call hands it to `next` as it is: no effect step, no allocation.
 *
 * Order, outermost first (Polly / Microsoft.Extensions.Http.Resilience): concurrency limit,
 * total or item deadline, retry, circuit breaker, the host's pause gate, the adaptive limit,
 * the attempt (its own deadline) and its exchange.
 */
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type { BodySource, Response } from "../../Client.js"
import type { HttpError } from "../../Errors.js"
import type { Attempt } from "../client/deadline.js"
import type { PreparedRequest } from "../client/request.js"
import type { CallSettings } from "../client/settings.js"
import type { HostState } from "./hosts.js"

/** Makes the caller's part of a masked region interruptible again. */
export type Restore = <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>

/**
 * What receives an accepted response, still masked (`restore` makes its part interruptible):
 * it must release `body` exactly once, however it ends.
 */
export type Accepted<A, E, R> = (
  response: Response,
  body: Pick<BodySource, "release">,
  restore: Restore
) => Effect.Effect<A, E | HttpError, R>

/** A call step: runs `call` to an accepted response, which goes to `accepted`. */
export interface Step<C> {
  <A, E, R>(call: C, accepted: Accepted<A, E, R>): Effect.Effect<A, E | HttpError, R>
}

/** A policy: a step around a step. */
export type Policy<C> = (next: Step<C>) => Step<C>

/** One call, as the policies above its attempts see it (retry): shared by all its attempts. */
export interface Call {
  readonly request: PreparedRequest
  readonly settings: CallSettings
  /** Its origin's state in the client's `Hosts`. */
  readonly host: HostState
  /** How many attempts it has started. */
  started: number
  /**
   * When the whole call must end (Clock ms), if a policy above set one (Batch's item
   * deadline): every attempt is bounded by it, and so is the retry's backoff.
   */
  deadlineAt: number | undefined
  /**
   * Called as each attempt starts, before its deadline is set, in the attempt's own runtime
   * step: what a caller counts per attempt (Batch's item state and item deadline), or a
   * failure that ends the attempt unsent. A hook rather than a policy of its own, which would
   * take a runtime step per attempt (`clientSteps` bench, `Batch.settle` row: 20 to 19).
   */
  readonly starting?: ((call: Call, fiber: Fiber.RuntimeFiber<unknown, unknown>) => Effect.Effect<never, HttpError> | undefined) | undefined
}

/** One attempt, as the policies around its exchange see it (breaker, gate, adaptive limit). */
export interface Dispatch extends Attempt {
  /** Its origin's state in the client's `Hosts`. */
  readonly host: HostState
}

/** The policy that is off. */
export const identity = <C>(next: Step<C>): Step<C> => next

/** The policies, outermost first, as one. */
export const compose = <C>(...policies: ReadonlyArray<Policy<C>>): Policy<C> => (next) => {
  let step = next
  for (let i = policies.length - 1; i >= 0; i--) step = policies[i]!(step)
  return step
}
