/**
 * `@effect/platform`'s `HttpClient.HttpClient` over volley's client: each request goes
 * through `ClientService.open` (same pool, deadlines, limits and rules as volley's own API),
 * in a scope of its own that the response's body reads, or the caller's scope, close.
 */
import * as PlatformClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import {
  BodyTooLargeError,
  DecodeError,
  type HttpError,
  InvalidUrlError,
  NetworkError,
  RedirectError,
  StatusError
} from "../Errors.js"
import type { FromClientOptions } from "../HttpClient.js"
import type { ClientService, RequestOptions } from "./client.js"
import { type Checked, makeMemory } from "./httpClientRedirect.js"
import { BridgeResponse } from "./httpClientResponse.js"

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
 * The `RequestError` for a volley error raised before a response was handed over. A refused
 * redirect is `InvalidUrl` (the server pointed somewhere volley will not go), not `Transport`,
 * so `retryTransient` does not send the same refused chain again.
 */
const requestError = (request: HttpClientRequest.HttpClientRequest, error: unknown): HttpClientError.RequestError => {
  if (!isVolleyError(error)) return new HttpClientError.RequestError({ request, reason: "Transport", cause: error })
  const reason = error instanceof InvalidUrlError || error instanceof RedirectError ? "InvalidUrl" : "Transport"
  return new HttpClientError.RequestError({ request, reason, cause: error, description: describe(error) })
}

const isVolleyError = (error: unknown): error is HttpError =>
  error instanceof NetworkError || error instanceof StatusError || error instanceof DecodeError ||
  error instanceof BodyTooLargeError || error instanceof RedirectError || error instanceof InvalidUrlError

/** volley's error behind an `HttpClientError`, when volley raised it. */
export const volleyError = (error: HttpClientError.HttpClientError): Option.Option<HttpError> =>
  isVolleyError(error.cause) ? Option.some(error.cause) : Option.none()

/** Builds the `HttpClient` over an existing volley client. */
export const fromClient = (client: ClientService, options: FromClientOptions = {}): PlatformClient.HttpClient => {
  const follow = options.followRedirects ?? true
  const requestOptions: RequestOptions = {
    accept: acceptAll,
    followRedirects: follow,
    ...(options.retryRequests === true ? {} : { retry: false as const })
  }
  // Only when 3xx are handed back can a pipeline's `followRedirects` make hops of its own.
  const memory = follow ? undefined : makeMemory()
  /** The 3xx each remembered chain last answered, released once its follow-up is sent. */
  const superseded = new WeakMap<object, BridgeResponse>()

  const send = (received: HttpClientRequest.HttpClientRequest) =>
    Effect.withFiberRuntime<BridgeResponse, HttpClientError.HttpClientError>((fiber) => {
      let checked: Checked = { send: received, chain: undefined }
      let previous: BridgeResponse | undefined
      if (memory !== undefined) {
        const result = memory.check(received, client.config.maxRedirects, client.config.allowHttpsDowngrade)
        if (result instanceof RedirectError) return Effect.fail(requestError(received, result))
        checked = result
        // The combinator drops the 3xx it follows unread: release it now, not at GC.
        if (result.follows !== undefined) previous = superseded.get(result.follows)
      }
      const request = checked.send
      // The caller's scope (`HttpClient.withScope`, `Effect.scoped`) owns the response if
      // there is one; otherwise reading the body ends it (or, unread, the garbage collector).
      const parent = Context.getOption(fiber.currentContext, Scope.Scope)
      const owned = Option.isSome(parent)
      const scope = owned ? Scope.fork(parent.value, ExecutionStrategy.sequential) : Scope.make()
      const start = previous === undefined ? scope : Effect.zipRight(previous.discard, scope)
      return Effect.flatMap(start, (scope) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.matchCauseEffect(restore(Effect.provideService(client.open(request, requestOptions), Scope.Scope, scope)), {
            onFailure: (cause) =>
              Effect.zipRight(
                Scope.close(scope, Exit.void),
                Effect.failCause(Cause.map(cause, (error) => requestError(request, error)))
              ),
            onSuccess: (source) => {
              const response = new BridgeResponse(request, source, scope, owned)
              if (memory !== undefined) {
                const chain = memory.remember(received, checked, source.url, source.status, source.headers["location"])
                if (chain !== undefined) superseded.set(chain, response)
              }
              return Effect.succeed(response)
            }
          })
        ))
    })

  return PlatformClient.makeWith(
    (request: Effect.Effect<HttpClientRequest.HttpClientRequest>) => Effect.flatMap(request, send),
    Effect.succeed
  )
}
