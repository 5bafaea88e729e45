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
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as FiberStatus from "effect/FiberStatus"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
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
import type { ClientService, RequestOptions, Response } from "../Client.js"
import { internalsOf } from "./client/client.js"
import { type Checked, makeMemory } from "./httpClientRedirect.js"
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

/** The caller's runtime (context, fiber refs, flags): what `Effect.runtime` gives, one step fewer. */
const runtimeOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>, status: FiberStatus.Running): Runtime.Runtime<never> =>
  Runtime.make({ context: fiber.currentContext as Context.Context<never>, fiberRefs: fiber.getFiberRefs(), runtimeFlags: status.runtimeFlags })

/** Builds the `HttpClient` over an existing volley client. */
export const fromClient = (client: ClientService, options: FromClientOptions = {}): PlatformClient.HttpClient => {
  const follow = options.followRedirects ?? true
  const config = internalsOf(client).config
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
    Effect.withFiberRuntime<BridgeResponse, HttpClientError.HttpClientError>((fiber, status) => {
      let checked: Checked = { send: received, chain: undefined }
      if (memory !== undefined) {
        const result = memory.check(received, config.maxRedirects, config.allowHttpsDowngrade)
        if (result instanceof RedirectError) return Effect.fail(requestError(received, result))
        checked = result
        // The combinator drops the 3xx it follows unread: release it now, not at GC.
        if (result.follows !== undefined) superseded.get(result.follows)?.release(false)
      }
      const request = checked.send
      const handed = (response: BridgeResponse) => {
        if (memory !== undefined) {
          const chain = memory.remember(received, checked, response.source.url, response.status, response.source.headers["location"])
          if (chain !== undefined) superseded.set(chain, response)
        }
        return response
      }
      return Effect.async<BridgeResponse, HttpClientError.HttpClientError>((resume) => {
        let done = false
        let head: Response | undefined
        // The exchange runs in a fiber of its own (with the caller's context, clock and
        // tracer) because volley's `execute` releases the body when its callback ends, and a
        // held body must outlive the hand-over. Not `ClientService.open`: its scope and
        // finalizer cost three times the steps of a whole request.
        const holder = Runtime.runFork(runtimeOf(fiber, status))(client.execute(request, (source) => {
          head = source
          const length = source.contentLength
          const bodyless = source.method === "HEAD" || source.status === 204 || source.status === 304
          if (bodyless || (length !== undefined && length <= eagerLimit)) {
            // Read now: what releasing it unread would do anyway (drain), and nothing is held.
            return Effect.map(source.bytes, (bytes) => {
              done = true
              resume(Exit.succeed(handed(new BridgeResponse(request, source, Exit.succeed(bytes), undefined, undefined))))
            })
          }
          const parent = Context.getOption(fiber.currentContext, Scope.Scope)
          const scope = Option.isSome(parent) ? Effect.runSync(Scope.fork(parent.value, ExecutionStrategy.sequential)) : undefined
          return Effect.async<void>((release) => {
            let finished = false
            const finish = (abort: boolean) => {
              if (finished) return
              finished = true
              if (abort) holder.unsafeInterruptAsFork(FiberId.none)
              else release(Effect.void)
            }
            done = true
            resume(Exit.succeed(handed(new BridgeResponse(request, source, undefined, finish, scope))))
          })
        }, requestOptions))
        holder.addObserver((exit) => {
          if (done || Exit.isSuccess(exit)) return
          done = true
          const response = head
          if (response === undefined) return resume(Effect.failCause(Cause.map(exit.cause, (error) => requestError(request, error))))
          // The head arrived, the body read in advance failed: a response whose body is that failure.
          resume(Exit.succeed(handed(BridgeResponse.failedRead(request, response, Cause.squash(exit.cause)))))
        })
        // Interrupting the caller before the hand-over stops the exchange (aborting its socket).
        return Fiber.interrupt(holder)
      })
    })

  return PlatformClient.makeWith(
    (request: Effect.Effect<HttpClientRequest.HttpClientRequest>) => Effect.flatMap(request, send),
    Effect.succeed
  )
}
