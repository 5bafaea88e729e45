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

/** Every route but the sign-up's, which depends on the job queue. */
const commonRoutes = HttpRouter.empty.pipe(
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
