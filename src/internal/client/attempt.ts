/**
 * One attempt: send (bounded by the headers timeout and the deadline), follow redirects,
 * and release the body however the caller's use of it ends.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { BodyTooLargeError, type HttpError, InvalidRequestError, NetworkError, RedirectError } from "../../Errors.js"
import type { BodySource, Transport, TransportResponse } from "../../Client.js"
import * as observe from "../observe.js"
import { type Attempt, boundFor } from "./deadline.js"
import { type ChainState, nextHop, redirectStatuses, startChain } from "./redirect.js"
import type { PreparedRequest } from "./request.js"
import { Acquired } from "./response.js"

/**
 * undici's codes for a request it refuses to send (an argument it rejects, a feature it lacks):
 * the caller's error, not the network's, so never retried.
 */
const refusedCodes: ReadonlySet<string | undefined> = new Set(["UND_ERR_INVALID_ARG", "UND_ERR_NOT_SUPPORTED"])

const callerError = (error: NetworkError, request: PreparedRequest): NetworkError | InvalidRequestError =>
  // A proxy's refusal is the proxy's failure, whatever code undici gave it.
  error.reason !== "Proxy" && refusedCodes.has(error.code)
    ? new InvalidRequestError({
      method: request.method,
      url: request.redactedUrl,
      detail: `refused by the transport [${error.code}]: ${error.cause instanceof Error ? error.cause.message : "invalid argument"}`,
      cause: error.cause
    })
    : error

/** Sends one request, bounded by the headers timeout and the deadline. */
const sendBounded = (
  transport: Transport,
  attempt: Attempt,
  received: (response: TransportResponse) => void,
  takeAbort: (abort: () => void) => void
): Effect.Effect<TransportResponse, NetworkError> => {
  const bound = boundFor(attempt, attempt.settings.headersTimeoutMs, "headers")
  if (bound !== undefined && bound.ms <= 0) return Effect.fail(bound.error())
  return transport.send(attempt.request, bound, received, takeAbort)
}

/**
 * Sends the request and follows redirects, then continues with the final response
 * (`acquired`: a continuation rather than a result saves a flatMap's two runtime steps per
 * request, `clientSteps` bench). Must run with interruption masked: only the transport waits
 * are made interruptible (`restore`), so an intermediate response is always released, the
 * final one is always handed to `acquired`, which must release it, and a request whose wait
 * for its headers fails (an interruption among others) is aborted here, when the transport
 * took `takeAbort`.
 */
export const sendFollowing = <A, E, R>(
  transport: Transport,
  attempt: Attempt,
  restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>,
  acquired: (acquired: Acquired) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | HttpError, R> => {
  const settings = attempt.settings
  let chain: ChainState | undefined
  const hop = (request: PreparedRequest, redirects: number): Effect.Effect<A, E | HttpError, R> => {
    // The transport reports its response the moment it has one. If this wait then ends in
    // anything but handing it over (an interruption crossing the headers, a timer firing at
    // the same instant), the response would be dropped with its connection: release it.
    // (Already masked, so a plain match does what `Effect.onExit` would, in fewer steps.)
    let received: TransportResponse | undefined
    // The transport's abort, when it lets this wait own it (see `Transport.send`'s `takeAbort`):
    // called below for any failure, where it is a no-op unless the request is still pending.
    let abort: (() => void) | undefined
    // Tracing and metrics (span per exchange, traceparent): synchronous, no step of its own.
    const observed = observe.start(attempt.fiber, attempt.clock, request, redirects, attempt.retry)
    const sending = observed.request
    const sent = restore(sendBounded(transport, sending === attempt.request ? attempt : { ...attempt, request: sending }, (r) => {
      received = observed.wrap(r)
    }, (a) => {
      abort = a
    }))
    return Effect.matchCauseEffect(sent, {
      onFailure: (cause) => {
        const failed = Cause.map(cause, (error) => callerError(error, request))
        if (received !== undefined) received.body.release(true)
        else {
          observed.fail(failed)
          abort?.()
        }
        return Effect.failCause(failed)
      },
      onSuccess: (raw) => {
        const response = received ?? observed.wrap(raw)
        if (!settings.followRedirects || !redirectStatuses.has(response.status)) {
          return acquired(new Acquired(response, request, redirects))
        }
        const next = nextHop(request, response, chain ??= startChain(attempt.request.method, attempt.request.url), settings)
        if (next === undefined) return acquired(new Acquired(response, request, redirects))
        response.body.release(false)
        if (next instanceof RedirectError) return Effect.fail(next)
        chain = next.chain
        return hop(next.request, redirects + 1)
      }
    })
  }
  return hop(attempt.request, 0)
}

/** Errors after which the connection is in an unknown state: close it rather than drain it. */
export const mustAbort = (exit: Exit.Exit<unknown, unknown>): boolean => Exit.isFailure(exit) && mustAbortCause(exit.cause)

export const mustAbortCause = (cause: Cause.Cause<unknown>): boolean => {
  if (Cause.isInterrupted(cause)) return true
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return true // a defect
  return failure.value instanceof NetworkError || failure.value instanceof BodyTooLargeError
}

/**
 * Runs `effect` (already made interruptible by the caller's `restore`), then releases the
 * body however it ended. Must run masked: what `Effect.onExit` does, in fewer steps.
 */
export const releasing = <A, E, R>(effect: Effect.Effect<A, E, R>, body: Pick<BodySource, "release">): Effect.Effect<A, E, R> =>
  Effect.matchCauseEffect(effect, {
    onFailure: (cause) => {
      body.release(mustAbortCause(cause))
      return Effect.failCause(cause)
    },
    onSuccess: (value) => {
      body.release(false)
      return Effect.succeed(value)
    }
  })
