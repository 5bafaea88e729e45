/**
 * The client's logic above the transport: deadlines, redirects, status checks, body reads
 * with limits, scoped release, retries. Shared by the real and the test transports.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import type { ClientService, RequestInput, RequestOptions, Response } from "../../Client.js"
import type { HttpError, InvalidUrlError } from "../../Errors.js"
import * as Retry from "../../Retry.js"
import { timerFor } from "../transport/timer.js"
import type { Transport } from "../transport/transport.js"
import { mustAbort, releasing, sendFollowing } from "./attempt.js"
import type { Attempt } from "./deadline.js"
import { type AnyRequestInput, type PlainGet, type PreparedRequest, prepare, prepareGet } from "./request.js"
import { makeResponse, statusError } from "./response.js"
import { type CallSettings, type ResolvedConfig, settingsFor } from "./settings.js"

/**
 * Builds the client over a transport.
 */
export const make = (transport: Transport, config: ResolvedConfig): ClientService => {
  /** Prepares the request, then continues with it; a plain URL takes no effect step. */
  const withPrepared = <A, E, R>(
    input: AnyRequestInput,
    settings: CallSettings,
    f: (request: PreparedRequest) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | InvalidUrlError, R> => {
    if (typeof input === "string" || input instanceof URL) {
      const prepared = prepareGet(input, config.userAgent, settings.decompress)
      return Either.isRight(prepared) ? f(prepared.right) : Effect.fail(prepared.left)
    }
    return Effect.flatMap(prepare(input, config.userAgent, settings.decompress), f)
  }

  /** Starts an attempt: reads the fiber's clock (one step, where `Effect.clockWith` takes two). */
  const begin = <A, E, R>(request: PreparedRequest, settings: CallSettings, f: (attempt: Attempt) => Effect.Effect<A, E, R>) =>
    Effect.withFiberRuntime<A, E, R>((fiber) => {
      const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
      const deadlineAt = settings.deadlineMs === undefined ? undefined : clock.unsafeCurrentTimeMillis() + settings.deadlineMs
      return f({ clock, request, settings, deadlineAt, timer: timerFor(clock) })
    })

  const attemptOnce = <A, E, R>(
    request: PreparedRequest,
    settings: CallSettings,
    use: (response: Response) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | HttpError, R> =>
    begin(request, settings, (attempt) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(sendFollowing(transport, attempt, restore), (acquired) => {
          const final: Attempt = acquired.request === request ? attempt : { ...attempt, request: acquired.request }
          const { response } = acquired
          const run: Effect.Effect<A, E | HttpError, R> = settings.accept(response.status)
            ? use(makeResponse(final, acquired))
            : statusError(final, response, acquired.request.url, acquired.request.method)
          return releasing(restore(run), response.body)
        })
      ))

  const execute = <A, E, R>(
    input: RequestInput,
    use: (response: Response) => Effect.Effect<A, E, R>,
    options?: RequestOptions
  ): Effect.Effect<A, E | HttpError, R> => {
    const settings = settingsFor(config, options)
    return withPrepared(input, settings, (request) => {
      const once = attemptOnce(request, settings, use)
      return request.replayable ? Retry.retry(settings.retry, request.method, request.headers)(once) : once
    })
  }

  const open = (input: AnyRequestInput, options?: RequestOptions): Effect.Effect<Response, HttpError, Scope.Scope> => {
    const settings = settingsFor(config, options)
    const attemptScoped = (request: PreparedRequest): Effect.Effect<Response, HttpError, Scope.Scope> =>
      begin(request, settings, (attempt) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(sendFollowing(transport, attempt, restore), (acquired) => {
            const final: Attempt = acquired.request === request ? attempt : { ...attempt, request: acquired.request }
            const { response } = acquired
            if (!settings.accept(response.status)) {
              // Released now, not with the caller's scope: a retry must not hold this connection.
              return releasing(restore(statusError(final, response, acquired.request.url, acquired.request.method)), response.body)
            }
            return Effect.as(
              Effect.addFinalizer((exit) => Effect.sync(() => response.body.release(mustAbort(exit)))),
              makeResponse(final, acquired)
            )
          })
        ))
    return withPrepared(input, settings, (request) => {
      const once = attemptScoped(request)
      return request.replayable ? Retry.retry(settings.retry, request.method, request.headers)(once) : once
    })
  }

  const service: ClientService = { config, execute, open }
  plainOpeners.set(service, open)
  return service
}

type Open = (input: AnyRequestInput, options?: RequestOptions) => Effect.Effect<Response, HttpError, Scope.Scope>

/** The `open` of each service built by `make`, which also takes a {@link PlainGet}. */
const plainOpeners = new WeakMap<ClientService, Open>()

/**
 * `client.open` for a {@link PlainGet}. A service not built by `make` (a hand-written stub)
 * gets the equivalent `HttpClientRequest`, whose module is loaded then.
 */
export const openPlain = (client: ClientService, request: PlainGet, options?: RequestOptions): Effect.Effect<Response, HttpError, Scope.Scope> => {
  const open = plainOpeners.get(client)
  if (open !== undefined) return open(request, options)
  return Effect.flatMap(
    Effect.promise(() => import("@effect/platform/HttpClientRequest")),
    (HttpClientRequest) => client.open(HttpClientRequest.get(request.url, { headers: request.headers }), options)
  )
}
