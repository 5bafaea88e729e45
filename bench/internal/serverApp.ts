/**
 * The bare counterpart of `examples/api.ts` for the server benchmark: the same `POST /users`
 * and `GET /health` handler logic (same schema, same user store, same JobPool job), with
 * volley's guards as switches so they can be added back one at a time.
 *
 * `instrument` and the copy-on-write user store are copies of the example's (which does not
 * export them); `instrument-cached` and the in-place store are what the example's would cost
 * with the fixes the benchmark report suggests.
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Clock, Context, Duration, Effect, type Fiber, FiberId, Layer, Metric, MetricLabel, ParseResult, Ref } from "effect"
import * as Api from "../../examples/api.js"
import * as JobPool from "../../src/server/JobPool.js"
import * as Middleware from "../../src/server/Middleware.js"

/**
 * One of volley's pieces, added back to the bare app:
 * - `deadline`: Middleware.withDeadline("5 seconds") on the app (as the example);
 * - `deadline-sweep`: a prototype of the same 5 s deadline without per-request fibers or
 *   timers (see {@link withDeadlineSweep}), to size what withDeadline could cost;
 * - `limit`: Middleware.withConcurrencyLimit(64) on *every* route (the example has none on
 *   /health);
 * - `instrument`: the example's per-route metrics, as written;
 * - `instrument-cached`: the same metrics with their tagged keys built once per route/status;
 * - `tracking`: GracefulServer's per-request bookkeeping (fiber map, observer, pre-response
 *   handler), copied, for in-process measurement where there is no server (the real one
 *   comes with `GracefulServer.layer`).
 */
export type Guard = "deadline" | "deadline-sweep" | "limit" | "instrument" | "instrument-cached" | "tracking"

// ---- users ----------------------------------------------------------------------------------

/** The example's store (its UsersLive): an immutable Map in a Ref, copied on every insert. */
export const UsersCopying = Layer.effect(
  Api.Users,
  Effect.gen(function*() {
    const users = yield* Ref.make(new Map<number, Api.User>())
    let next = 1
    return {
      add: (input) =>
        Ref.modify(users, (map) => {
          const user: Api.User = { id: next++, ...input }
          return [user, new Map(map).set(user.id, user)]
        }),
      count: Effect.map(Ref.get(users), (map) => map.size)
    }
  })
)

/** The same store inserting in place: O(1) per user. */
export const UsersInPlace = Layer.sync(Api.Users, () => {
  const users = new Map<number, Api.User>()
  let next = 1
  return {
    add: (input) =>
      Effect.sync(() => {
        const user: Api.User = { id: next++, ...input }
        users.set(user.id, user)
        return user
      }),
    count: Effect.sync(() => users.size)
  }
})

// ---- handlers (as in examples/api.ts) -------------------------------------------------------

const badRequest = (error: ParseResult.ParseError | { readonly _tag: "RequestError" }) =>
  HttpServerResponse.unsafeJson(
    error._tag === "ParseError"
      ? {
        error: "invalid body",
        fields: ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({ field: issue.path.join("."), message: issue.message }))
      }
      : { error: "body is not valid JSON" },
    { status: 400 }
  )

const createUser = Effect.gen(function*() {
  const input = yield* HttpServerRequest.schemaBodyJson(Api.NewUser)
  const user = yield* (yield* Api.Users).add(input)
  const mailer = yield* Api.Mailer
  const jobId = yield* JobPool.submit({
    name: "welcome-email",
    run: mailer.sendWelcome(user),
    timeout: "10 seconds",
    retry: { times: 3, base: "200 millis" }
  })
  return HttpServerResponse.unsafeJson({ ...user, welcomeEmail: jobId }, { status: 201 })
}).pipe(
  Effect.catchTags({
    ParseError: badRequest,
    RequestError: badRequest,
    JobQueueFull: () => Effect.succeed(HttpServerResponse.text("email queue full", { status: 503, headers: { "retry-after": "1" } }))
  })
)

const health = Effect.map(Effect.flatMap(JobPool.JobPool, (pool) => pool.stats), (jobs) => HttpServerResponse.unsafeJson({ status: "ok", jobs }))

// ---- metrics --------------------------------------------------------------------------------

// Same names and boundaries as the example's.
const requestsTotal = Metric.counter("http_requests_total", { description: "HTTP requests answered, by route and status" })
const requestDuration = Metric.timerWithBoundaries("http_request_duration", [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 5_000], "HTTP request latency in milliseconds")

/** The example's `instrument`, verbatim: the tagged metrics are rebuilt on every request. */
const instrument = (route: string) => <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const response = yield* handler
    const elapsed = (yield* Clock.currentTimeMillis) - started
    yield* Metric.increment(Metric.tagged(Metric.tagged(requestsTotal, "route", route), "status", String(response.status)))
    yield* Metric.update(Metric.tagged(requestDuration, "route", route), Duration.millis(elapsed))
    return response
  })

/**
 * The same metrics, each tagged metric built once (per route, and per status on first use)
 * with all its labels in one array. Effect caches a tagged metric's registry hook by the
 * identity of its label array; `tagged(tagged(m, a), b)` or a `tagged` per call makes a new
 * array on every update, so every update builds and hashes a new MetricKey and looks it up.
 */
const instrumentCached = (route: string) => {
  const routeLabel = MetricLabel.make("route", route)
  const duration = Metric.taggedWithLabels(requestDuration, [routeLabel])
  const byStatus = new Map<number, Metric.Metric.Counter<number>>()
  const counter = (status: number) => {
    let metric = byStatus.get(status)
    if (metric === undefined) {
      metric = Metric.taggedWithLabels(requestsTotal, [routeLabel, MetricLabel.make("status", String(status))])
      byStatus.set(status, metric)
    }
    return metric
  }
  return <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const response = yield* handler
      const elapsed = (yield* Clock.currentTimeMillis) - started
      yield* Metric.increment(counter(response.status))
      yield* Metric.update(duration, Duration.millis(elapsed))
      return response
    })
}

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
  const measured = guards.has("instrument")
    ? instrument(route)(handler)
    : guards.has("instrument-cached")
    ? instrumentCached(route)(handler)
    : handler
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
