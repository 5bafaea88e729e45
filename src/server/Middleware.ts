/**
 * Request-level guards for `@effect/platform` HTTP apps: a deadline per request, a bound on
 * concurrent requests, and the 503 + Retry-After answer both use.
 *
 * Each is a plain function from `HttpApp` to `HttpApp`, so it works on a whole app
 * (`HttpServer.serve(withDeadline("5 seconds")(app))`), as `HttpServer.serve` middleware, or
 * per route with `HttpRouter.use`.
 *
 * A note on interruption: `@effect/platform` runs every request in an uninterruptible region
 * and only `HttpRouter` routes opt back in. A raw `HttpApp` is therefore *not* stopped when
 * its client disconnects or when a shutdown deadline passes; wrap it with {@link interruptible}.
 *
 * @since 0.1.0
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import { isTimeout } from "../Errors.js"

/**
 * A handler's call to an upstream service timed out. Failing with it (or with a volley
 * `NetworkError` whose reason is `Timeout`) under {@link withDeadline} answers 504 Gateway
 * Timeout: the upstream was slow, not this server.
 *
 * @since 0.1.0
 */
export class UpstreamTimeout extends Data.TaggedError("UpstreamTimeout")<{
  /** What timed out, for the log (a service name or a redacted URL). */
  readonly upstream: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `upstream ${this.upstream} timed out`
  }
}

/**
 * Whether an error means "an upstream call timed out": an {@link UpstreamTimeout}, or a
 * volley `NetworkError` with reason `Timeout`.
 *
 * @since 0.1.0
 */
export const isUpstreamTimeout = (error: unknown): boolean => Predicate.isTagged(error, "UpstreamTimeout") || isTimeout(error)

/**
 * `Retry-After` in whole seconds, rounded up and at least 1, as RFC 9110 wants delay-seconds.
 *
 * @since 0.1.0
 */
export const retryAfterSeconds = (retryAfter: Duration.DurationInput): string =>
  String(Math.max(1, Math.ceil(Duration.toMillis(retryAfter) / 1000)))

/**
 * A 503 Service Unavailable answer, with `Retry-After` when a wait is given: what to send
 * when the server sheds load (a full job queue, the concurrency limit).
 *
 * @since 0.1.0
 */
export const serviceUnavailable = (
  retryAfter?: Duration.DurationInput,
  body = "service unavailable"
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(body, {
    status: 503,
    ...(retryAfter === undefined ? {} : { headers: { "retry-after": retryAfterSeconds(retryAfter) } })
  })

/**
 * Makes a raw `HttpApp` interruptible, so a client disconnect (NodeHttpServer interrupts the
 * request fiber) or a shutdown deadline can stop it. `HttpRouter` routes already are.
 *
 * @since 0.1.0
 */
export const interruptible = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> => Effect.interruptible(app)

/**
 * Gives each request a deadline. When it passes the handler is interrupted (its finalizers
 * run) and the client gets 503; when the handler fails with an upstream timeout
 * ({@link isUpstreamTimeout}) the client gets 504. Other failures pass through unchanged.
 *
 * The handler is made interruptible: a deadline that cannot interrupt is no deadline.
 * Waiting goes through the Clock, so `TestClock` drives it.
 *
 * @since 0.1.0
 */
export const withDeadline = (deadline: Duration.DurationInput) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
  Effect.interruptible(app).pipe(
    Effect.timeoutTo({
      duration: deadline,
      onSuccess: Option.some,
      onTimeout: Option.none<HttpServerResponse.HttpServerResponse>
    }),
    Effect.flatMap(Option.match({
      onSome: Effect.succeed,
      onNone: () =>
        Effect.as(
          logWithRequest(`request deadline (${Duration.format(deadline)}) exceeded; handler interrupted`),
          HttpServerResponse.text("request deadline exceeded", { status: 503 })
        )
    })),
    Effect.catchIf(isUpstreamTimeout, (error) =>
      Effect.as(
        logWithRequest("upstream timed out", error),
        HttpServerResponse.text("upstream timed out", { status: 504 })
      ))
  )

/**
 * Sheds load: at most `limit` requests run the wrapped app at once; one more is answered 503
 * with `Retry-After` at once, never queued (a queue in front of an overloaded server only
 * adds latency).
 *
 * Each application makes its own Semaphore: wrapping an app bounds the app, `HttpRouter.use`
 * bounds each route. The permit covers the handler until it returns its response, not the
 * streaming of a body afterwards.
 *
 * @since 0.1.0
 */
export const withConcurrencyLimit = (limit: number, options: { readonly retryAfter?: Duration.DurationInput } = {}) => {
  const retryAfter = options.retryAfter ?? Duration.seconds(1)
  return <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> => {
    // Made here, not per request: the limit is shared by every request to this app.
    const semaphore = Effect.unsafeMakeSemaphore(Math.max(1, Math.floor(limit)))
    return semaphore.withPermitsIfAvailable(1)(app).pipe(
      Effect.flatMap(Option.match({
        onSome: Effect.succeed,
        onNone: () =>
          Effect.as(
            Effect.logDebug(`concurrency limit (${limit}) reached; shedding request`),
            serviceUnavailable(retryAfter, "server busy")
          )
      }))
    )
  }
}

const logWithRequest = (message: string, error?: unknown): Effect.Effect<void, never, HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    Effect.logWarning(message, ...(error === undefined ? [] : [error])).pipe(
      // The path only: a query string may carry secrets.
      Effect.annotateLogs({ method: request.method, path: request.url.split("?")[0] ?? "" })
    ))
