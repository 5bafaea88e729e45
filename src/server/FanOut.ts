/**
 * Fan-out inside a request handler: call several upstreams at once with the shared client,
 * each under its own deadline, and get every outcome back, so one slow or failing upstream
 * degrades the response instead of stalling or failing it.
 *
 * The calls are children of the handler's fiber: when the handler is interrupted (its
 * client went away, its request deadline passed, the server is shutting down) every
 * upstream request is aborted with it.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Schema from "effect/Schema"
import * as Client from "../Client.js"
import { type HttpError, NetworkError, redactUrl } from "../Errors.js"

/**
 * One upstream to call: a request, its deadline, and optionally a schema for its JSON body
 * (without one the JSON is returned as `unknown`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Upstream<A = unknown> {
  readonly request: Client.RequestInput
  /** The whole call's budget (attempts included). Keep it below the route's own deadline. */
  readonly deadline: Duration.DurationInput
  readonly schema?: Schema.Schema<A, any, never>
  /** Retries within the deadline; off by default: a handler rarely has time for backoff. */
  readonly retry?: Client.RequestOptions["retry"]
}

/**
 * What one upstream gave: its value, or the typed reason it did not.
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome<A> =
  | { readonly _tag: "Ok"; readonly value: A; readonly millis: number }
  | { readonly _tag: "Failed"; readonly error: HttpError; readonly millis: number }

/**
 * The outcomes of a fan-out, by upstream name, and whether every upstream answered.
 *
 * @category models
 * @since 0.1.0
 */
export interface Results<T extends Record<string, Upstream<any>>> {
  readonly outcomes: { readonly [K in keyof T]: Outcome<T[K] extends Upstream<infer A> ? A : never> }
  readonly complete: boolean
}

/**
 * Calls every upstream concurrently and waits for all of them, each bounded by its own
 * deadline. Never fails: a failed upstream is an `Outcome` with its typed error.
 *
 * @category fan-out
 * @since 0.1.0
 */
export const all = <const T extends Record<string, Upstream<any>>>(
  upstreams: T
): Effect.Effect<Results<T>, never, Client.Client> =>
  Effect.map(
    Effect.all(
      Object.fromEntries(Object.entries(upstreams).map(([name, upstream]) => [name, call(upstream)])),
      { concurrency: "unbounded" }
    ),
    (outcomes) => ({
      outcomes: outcomes as Results<T>["outcomes"],
      complete: Object.values(outcomes).every((o) => o._tag === "Ok")
    })
  )

const call = <A>(upstream: Upstream<A>): Effect.Effect<Outcome<A>, never, Client.Client> =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const options: Client.RequestOptions = { deadline: upstream.deadline, retry: upstream.retry ?? false }
    const fetch: Effect.Effect<A, HttpError, Client.Client> = upstream.schema !== undefined
      ? Client.jsonSchema(upstream.schema, upstream.request, options)
      : (Client.json(upstream.request, options) as Effect.Effect<A, HttpError, Client.Client>)
    // With retries, the deadline must bound the whole plan, not each attempt.
    const bounded = upstream.retry === undefined || upstream.retry === false
      ? fetch
      : Effect.timeoutFail(fetch, { duration: upstream.deadline, onTimeout: () => deadlineError(upstream.request) })
    const result = yield* Effect.either(bounded)
    const millis = (yield* Clock.currentTimeMillis) - started
    return Either.match(result, {
      onLeft: (error): Outcome<A> => ({ _tag: "Failed", error, millis }),
      onRight: (value): Outcome<A> => ({ _tag: "Ok", value, millis })
    })
  })

const deadlineError = (request: Client.RequestInput): HttpError => {
  const isPlain = typeof request === "string" || request instanceof URL
  const url = typeof request === "string" ? request : request instanceof URL ? request.href : request.url
  return new NetworkError({ reason: "Timeout", phase: "deadline", method: isPlain ? "GET" : request.method, url: redactUrl(url) })
}
