/**
 * The example API's routers: every route instrumented, bounded and shedding load, the in-memory
 * and the durable sign-up, and the apps under a request deadline.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import * as JobPool from "../../src/server/JobPool.js"
import * as Middleware from "../../src/server/Middleware.js"
import * as Prometheus from "../../src/server/Prometheus.js"
import * as SignUps from "../signups.js"
import { serveFile } from "./files.js"
import { instrument } from "./metrics.js"
import { createUser } from "./signUp.js"
import { dashboard } from "./upstreams.js"

/**
 * `GET /health`: status and the in-memory job pool's counters. On the durable queue it stays
 * cheap (no database query per probe): counts are on `GET /jobs` and `/metrics`.
 */
export const health = Effect.flatMap(Effect.serviceOption(JobPool.JobPool), (pool) =>
  pool._tag === "Some"
    ? Effect.map(pool.value.stats, (jobs) => HttpServerResponse.unsafeJson({ status: "ok", jobs }))
    : Effect.succeed(HttpServerResponse.unsafeJson({ status: "ok" })))

/** What the API answers, for `GET /` and for `volley serve` to print at start. */
export const routeList: ReadonlyArray<{ readonly route: string; readonly does: string }> = [
  { route: "GET  /", does: "this list" },
  { route: "POST /users", does: "sign up {\"name\",\"email\"}: 201, a welcome email queued as a background job" },
  { route: "GET  /dashboard", does: "fan-out to three upstreams, bounded, with a deadline" },
  { route: "GET  /files/:name", does: "a generated file (ETag, Range), and :name.sha256 its checksum" },
  { route: "GET  /jobs", does: "the durable job queue: counts by state, dead letters (volley serve)" },
  { route: "GET  /health", does: "status" },
  { route: "GET  /metrics", does: "Prometheus metrics" }
]

/** `GET /`: the routes, so the API can be discovered with curl. */
const index = Effect.succeed(HttpServerResponse.unsafeJson({ service: "volley example API", routes: routeList }))

/** Every route but the sign-up's, which depends on the job queue. */
const commonRoutes = HttpRouter.empty.pipe(
  HttpRouter.get("/", index),
  HttpRouter.get("/dashboard", dashboard.pipe(instrument("GET /dashboard"), Middleware.withConcurrencyLimit(64))),
  HttpRouter.get("/files/:name", serveFile.pipe(instrument("GET /files/:name"), Middleware.withConcurrencyLimit(16))),
  HttpRouter.get("/health", instrument("GET /health")(health)),
  HttpRouter.get("/metrics", Prometheus.handler)
)

/** The router on the in-memory job pool, each route instrumented, bounded and shedding load. */
export const router = HttpRouter.concat(
  HttpRouter.empty.pipe(HttpRouter.post("/users", createUser.pipe(instrument("POST /users"), Middleware.withConcurrencyLimit(64)))),
  commonRoutes
)

/** The router on the durable queue: its own `POST /users` (one transaction), and `GET /jobs`. */
export const durableRouter = HttpRouter.concat(
  HttpRouter.empty.pipe(
    HttpRouter.post("/users", SignUps.createUser.pipe(instrument("POST /users"), Middleware.withConcurrencyLimit(64))),
    HttpRouter.get("/jobs", instrument("GET /jobs")(SignUps.jobsView))
  ),
  commonRoutes
)

/** The app: every request under a 5 s deadline (503 when it passes, 504 for an upstream timeout). */
export const app = router.pipe(Middleware.withDeadline("5 seconds"))

/** The app on the durable queue. */
export const durableApp = durableRouter.pipe(Middleware.withDeadline("5 seconds"))
