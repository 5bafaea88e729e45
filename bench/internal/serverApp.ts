/**
 * The bare counterpart of `examples/api.ts` for the server benchmark: the same `POST /users`
 * and `GET /health` handler logic (same schema, same user store, same JobPool job), with
 * volley's guards as switches so they can be added back one at a time.
 *
 * The handlers, the user store and `instrument` are the example's own, imported.
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Clock, Context, Duration, Effect, type Fiber, FiberId } from "effect"
import * as Api from "../../examples/api.js"
import * as Middleware from "../../src/server/Middleware.js"

/**
 * One of volley's pieces, added back to the bare app:
 * - `deadline`: Middleware.withDeadline("5 seconds") on the app (as the example);
 * - `deadline-sweep`: a prototype of the same 5 s deadline without per-request fibers or
 *   timers (see {@link withDeadlineSweep}), to size what withDeadline could cost;
 * - `limit`: Middleware.withConcurrencyLimit(64) on *every* route (the example has none on
 *   /health);
 * - `instrument`: the example's per-route metrics;
 * - `tracking`: GracefulServer's per-request bookkeeping (fiber map, observer, pre-response
 *   handler), copied, for in-process measurement where there is no server (the real one
 *   comes with `GracefulServer.layer`).
 */
export type Guard = "deadline" | "deadline-sweep" | "limit" | "instrument" | "tracking"

// ---- users ----------------------------------------------------------------------------------

/** The example's store (in place, O(1) per user). */
export const UsersInPlace = Api.UsersLive

// ---- handlers: the example's own -----------------------------------------------------------

const { createUser, health } = Api

// ---- GracefulServer's per-request bookkeeping, copied ---------------------------------------

const tracking = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> => {
  const inflight = new Map<unknown, string>()
  const draining = false
  const closeWhenDraining: HttpApp.PreResponseHandler = (_request, response) =>
    Effect.sync(() => draining ? HttpServerResponse.setHeader(response, "connection", "close") : response)
  return Effect.withFiberRuntime((fiber) => {
    const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
    inflight.set(fiber, `${request.method} ${request.url.split("?")[0] ?? ""}`)
    fiber.addObserver(() => inflight.delete(fiber))
    return Effect.zipRight(HttpApp.appendPreResponseHandler(closeWhenDraining), app)
  })
}

// ---- a deadline without a race per request (prototype) ---------------------------------------

/**
 * Prototype, for measurement only: `Middleware.withDeadline` races every request against a
 * sleep (`Effect.timeoutTo` -> `raceFibersWith`: two forked fibers, a timer, an interrupt of
 * the loser and a FiberRefs join per request). Here each request only records its expiry in a
 * Map; one sweeper fiber (started on demand, stopping when the Map is empty) wakes every
 * `tickMs` through the Clock and interrupts the request fibers whose deadline passed, which
 * the platform answers with 503. The deadline fires up to `tickMs` late.
 */
export const withDeadlineSweep = (deadline: Duration.DurationInput, tickMs = 50) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> => {
  const deadlineMs = Duration.toMillis(deadline)
  const expiries = new Map<Fiber.RuntimeFiber<unknown, unknown>, number>()
  let sweeping = false
  const sweep: Effect.Effect<void> = Effect.gen(function*() {
    while (expiries.size > 0) {
      yield* Effect.sleep(tickMs)
      const now = yield* Clock.currentTimeMillis
      for (const [fiber, at] of expiries) {
        if (at > now) continue
        expiries.delete(fiber)
        fiber.unsafeInterruptAsFork(FiberId.none)
      }
    }
  }).pipe(Effect.ensuring(Effect.sync(() => (sweeping = false))))
  return Effect.withFiberRuntime((fiber) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      expiries.set(fiber, now + deadlineMs)
      const start = Effect.suspend(() => {
        if (sweeping) return Effect.void
        sweeping = true
        return Effect.asVoid(Effect.forkDaemon(sweep))
      })
      return Effect.zipRight(start, Effect.ensuring(Effect.interruptible(app), Effect.sync(() => expiries.delete(fiber))))
    })
  )
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
  const bounded = guards.has("deadline")
    ? Middleware.withDeadline("5 seconds")(router)
    : guards.has("deadline-sweep")
    ? withDeadlineSweep("5 seconds")(router)
    : router
  return guards.has("tracking") ? tracking(bounded) : bounded
}
