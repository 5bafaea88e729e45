/**
 * The bare counterpart of `examples/api.ts` for the server benchmark: the same `POST /users`
 * and `GET /health` handler logic (same schema, same user store, same JobPool job), with
 * volley's guards as switches so they can be added back one at a time.
 *
 * The handlers, the user store and `instrument` are the example's own, imported.
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Context, Effect } from "effect"
import * as Api from "../../examples/api.js"
import * as Middleware from "../../src/server/Middleware.js"

/**
 * One of volley's pieces, added back to the bare app:
 * - `deadline`: Middleware.withDeadline("5 seconds") on the app (as the example);
 * - `limit`: Middleware.withConcurrencyLimit(64) on *every* route (the example has none on
 *   /health);
 * - `instrument`: the example's per-route metrics;
 * - `tracking`: GracefulServer's per-request bookkeeping (the in-flight map and the fiber
 *   observer), copied, for in-process measurement where there is no server (the real one
 *   comes with `GracefulServer.layer`).
 */
export type Guard = "deadline" | "limit" | "instrument" | "tracking"

// ---- users ----------------------------------------------------------------------------------

/** The example's store (in place, O(1) per user). */
export const UsersInPlace = Api.UsersLive

// ---- handlers: the example's own -----------------------------------------------------------

const { createUser, health } = Api

// ---- GracefulServer's per-request bookkeeping, copied ---------------------------------------

const tracking = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> => {
  const inflight = new Map<unknown, HttpServerRequest.HttpServerRequest>()
  return Effect.withFiberRuntime((fiber) => {
    inflight.set(fiber, Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest))
    fiber.addObserver(() => inflight.delete(fiber))
    return app
  })
}

// ---- the app --------------------------------------------------------------------------------

const guarded = (guards: ReadonlySet<Guard>, route: string) => <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) => {
  const measured = guards.has("instrument") ? Api.instrument(route)(handler) : handler
  return guards.has("limit") ? Middleware.withConcurrencyLimit(64)(measured) : measured
}

/** `POST /users` and `GET /health` as in the example, with the given guards. */
export const app = (guards: ReadonlySet<Guard>) => {
  const router = HttpRouter.empty.pipe(
    HttpRouter.post("/users", guarded(guards, "POST /users")(createUser)),
    HttpRouter.get("/health", guarded(guards, "GET /health")(health))
  )
  const bounded = guards.has("deadline") ? Middleware.withDeadline("5 seconds")(router) : router
  return guards.has("tracking") ? tracking(bounded) : bounded
}
