/**
 * `@effect/platform`'s `HttpClient.HttpClient` over volley's client: each request is one call
 * of the client's core (same pool, deadlines, limits and rules as volley's own API), run in
 * the caller's fiber; the accepted response is handed over with its body read (small) or held
 * until a read, the end of a stream, the caller's scope or the garbage collector releases it.
 */
import * as PlatformClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { type HttpError, InvalidRequestError, InvalidUrlError, isVolleyError, RedirectError } from "../Errors.js"
import type { FromClientOptions } from "../HttpClient.js"
import type { ClientService, RequestOptions } from "../Client.js"
import { mustAbortCause } from "./client/attempt.js"
import { coreOf } from "./client/core.js"
import type { Accepted } from "./policy/policy.js"
import * as RetryPolicy from "./policy/retry.js"
import { RequestError as RedactedRequestError } from "./httpClientError.js"
import { makeMemory, type RedirectMemory } from "./httpClientRedirect.js"
import { BridgeResponse } from "./httpClientResponse.js"
import { drainLimit } from "./transport/transport.js"

/** Bodies up to this size (with a known length) are read before the hand-over: see `BridgeResponse`. */
const eagerLimit = drainLimit

/** `@effect/platform` hands every status back as a response; filtering is the caller's choice. */
const acceptAll = (_status: number): boolean => true

/** volley's message without the method and URL that `HttpClientError` prints after it. */
const describe = (error: HttpError): string => {
  const message = error.message
  if (!("method" in error)) return message
  const prefix = `${error.method} ${error.url}`
  return message.startsWith(prefix) ? message.slice(prefix.length).replace(/^:?\s*/, "") : message
}

/**
 * The `RequestError` for a volley error raised before a response was handed over. Only
 * `Transport` is what platform's `retryTransient` retries, so the caller's and the server's
 * permanent refusals get the other reasons: a refused redirect is `InvalidUrl` (the server
 * pointed somewhere volley will not go), a malformed request (a header with CR/LF) `Encode`.
 */
const requestError = (request: HttpClientRequest.HttpClientRequest, error: unknown): HttpClientError.RequestError => {
  if (!isHttpError(error)) return new RedactedRequestError({ request, reason: "Transport", cause: error })
  const reason = error instanceof InvalidUrlError || error instanceof RedirectError
    ? "InvalidUrl"
    : error instanceof InvalidRequestError
    ? "Encode"
    : "Transport"
  return new RedactedRequestError({ request, reason, cause: error, description: describe(error) })
}

/** Every error a volley call fails with is an `HttpError`; the mark says it is volley's. */
const isHttpError = (error: unknown): error is HttpError => isVolleyError(error)

/** volley's error behind an `HttpClientError`, when volley raised it. */
export const volleyError = (error: HttpClientError.HttpClientError): Option.Option<HttpError> =>
  isHttpError(error.cause) ? Option.some(error.cause) : Option.none()

/** Builds the `HttpClient` over an existing volley client. */
export const fromClient = (client: ClientService, options: FromClientOptions = {}): PlatformClient.HttpClient => {
  const follow = options.followRedirects ?? true
  const core = coreOf(client)
  const requestOptions: RequestOptions = { accept: acceptAll, followRedirects: follow }
  // The client's step below its retry, with the retry composed on only when asked: by default
  // an @effect/platform pipeline retries (`HttpClient.retry`), so volley's must not as well.
  const step = options.retryRequests === true ? RetryPolicy.retrying(core.hosts)(core.attempts) : core.attempts
  // Only when 3xx are handed back can a pipeline's `followRedirects` make hops of its own.
  const memory = follow ? undefined : makeMemory(core.config)
  /** The 3xx each remembered chain last answered, released once its follow-up is sent. */
  const superseded = new WeakMap<object, BridgeResponse>()

  /**
   * The exchange runs in the caller's fiber, like any volley request, and hands its accepted
   * response over with the body unreleased: read now when small (what releasing it unread
   * would do anyway), else held by the response until it is read, streamed, its scope closes,
   * or the garbage collector takes it. No fiber and no scope of its own per request.
   */
  const accept = (request: HttpClientRequest.HttpClientRequest): Accepted<BridgeResponse, never, never> =>
  (source, body, restore) => {
    const length = source.contentLength
    const bodyless = source.method === "HEAD" || source.status === 204 || source.status === 304
    if (bodyless || (length !== undefined && length <= eagerLimit)) {
      // Released however the read ends (what `releasing` does, in the same match).
      return Effect.matchCauseEffect(restore(source.bytes), {
        onSuccess: (bytes) => {
          body.release(false)
          return Effect.succeed(new BridgeResponse(request, source, Exit.succeed(bytes), undefined, undefined))
        },
        // The head arrived, the body read in advance failed: a response whose body is that
        // failure. An interruption stays one.
        onFailure: (cause) => {
          body.release(mustAbortCause(cause))
          return Cause.isInterrupted(cause) ? Effect.failCause(cause) : Effect.succeed(BridgeResponse.failedRead(request, source, Cause.squash(cause)))
        }
      })
    }
    return Effect.flatMap(Effect.serviceOption(Scope.Scope), (scope) => {
      if (Option.isNone(scope)) return Effect.succeed(new BridgeResponse(request, source, undefined, body, undefined))
      // A scope of its own inside the caller's, so a long-lived scope does not collect finalizers.
      return Effect.flatMap(Scope.fork(scope.value, ExecutionStrategy.sequential), (owned) => {
        const response = new BridgeResponse(request, source, undefined, body, owned)
        return Effect.as(Scope.addFinalizer(owned, Effect.suspend(() => response.releaseWith(false))), response)
      })
    })
  }

  const exchange = (request: HttpClientRequest.HttpClientRequest): Effect.Effect<BridgeResponse, HttpClientError.HttpClientError> =>
    Effect.mapError(
      core.prepared(request, requestOptions, (prepared, settings, host) =>
        step({ request: prepared, settings, host, started: 0, deadlineAt: undefined }, accept(request))),
      (error) => requestError(request, error)
    )

  /** With 3xx handed back: the pipeline's redirect hops checked and remembered (see httpClientRedirect.ts). */
  const sendRemembering = (memory: RedirectMemory) => (received: HttpClientRequest.HttpClientRequest) =>
    Effect.suspend(() => {
      const checked = memory.check(received)
      if (checked instanceof RedirectError) return Effect.fail(requestError(received, checked))
      // The combinator drops the 3xx it follows unread: release it now, not at GC.
      if (checked.follows !== undefined) superseded.get(checked.follows)?.release(false)
      return Effect.map(exchange(checked.send), (response) => {
        const chain = memory.remember(received, checked, response.source.url, response.status, response.source.headers["location"])
        if (chain !== undefined) superseded.set(chain, response)
        return response
      })
    })

  const send = memory === undefined ? exchange : sendRemembering(memory)

  return PlatformClient.makeWith(
    // A request as it was built (not through a `mapRequestEffect`) is sent without a step to unwrap it.
    (request: Effect.Effect<HttpClientRequest.HttpClientRequest>) =>
      Exit.isExit(request) && Exit.isSuccess(request) ? send(request.value as HttpClientRequest.HttpClientRequest) : Effect.flatMap(request, send),
    Effect.succeed
  )
}
