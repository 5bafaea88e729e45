/**
 * The example REST API, served by `volley serve` and driven by the `npm start` demo.
 *
 * - `POST /users` takes a small JSON body (413 beyond 16 KiB, 411 without a length, both
 *   before reading it), validates it (400 names the field), stores the user, answers 201 at
 *   once and queues a welcome email. With a database (`db`, as `volley serve` runs it) the
 *   user and its email job commit in one transaction on the durable queue
 *   (examples/signups.ts); without one, in a bounded in-memory store (507 when full) with the
 *   email on the in-memory job pool (503 + Retry-After when the queue is full). The email
 *   outlives the request and never touches its response.
 * - `GET /jobs` (durable queue): counts by state, the oldest queued job's age, dead letters.
 * - `GET /dashboard` fans out to three upstream services, each under its own deadline, and
 *   marks the ones that failed instead of failing the page.
 * - `GET /files/:name` serves a generated file with ETag and Range support (the demo
 *   downloads it with checksum verification); `GET /files/:name.sha256` its checksum.
 * - `GET /health`, `GET /metrics` (Prometheus text).
 * Every route runs under a request deadline and a concurrency limit that sheds load.
 *
 * This module wires the server (Node's limits, graceful shutdown, the layers); the parts are
 * in examples/api/: users, mail, upstreams (the dashboard), files, metrics, signUp, routes.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { type Duration, Layer } from "effect"
import * as http from "node:http"
import * as Client from "../src/Client.js"
import * as DurableJobs from "../src/server/DurableJobs.js"
import * as GracefulServer from "../src/server/GracefulServer.js"
import * as JobPool from "../src/server/JobPool.js"
import { MailerLive } from "./api/mail.js"
import { app, durableApp } from "./api/routes.js"
import { LocalUpstreams } from "./api/upstreams.js"
import { UsersLive } from "./api/users.js"
import * as SignUps from "./signups.js"

export { fileBytes } from "./api/files.js"
export { MailError, Mailer, MailerLive } from "./api/mail.js"
export { instrument } from "./api/metrics.js"
export { app, durableApp, durableRouter, health, routeList, router } from "./api/routes.js"
export { badRequest, createUser, readSignUp } from "./api/signUp.js"
export { LocalUpstreams, UpstreamUrls } from "./api/upstreams.js"
export { limits, NewUser, type User, Users, UsersFull, usersLayer, UsersLive } from "./api/users.js"

/**
 * Node's own limits for the example server. Node's defaults suit a trusted network, not the
 * open one: 60 s to send the headers and 300 s for the whole request let a slow client
 * (a byte now and then) hold a socket for minutes, and nothing caps the sockets. Here:
 * - `headersTimeout` 10 s, `requestTimeout` 30 s (headers plus body; a sign-up body is
 *   16 KiB): past them Node answers 408 and closes. Checked every `connectionsCheckingInterval`
 *   (Node's default, 30 s, would let a request outlive its timeout by as much).
 * - `keepAliveTimeout` 5 s: an idle keep-alive socket is closed soon, yet a client reusing its
 *   connection within a burst still can (Node 20's default, set so it is said).
 * - `maxConnections` 1024: beyond it Node drops new sockets at once instead of running out
 *   of file descriptors; raise it with `ulimit -n`.
 * Request bodies are limited per route (see {@link createUser}); responses are not timed here,
 * the app's deadline and a slow reader's drain are.
 */
export const serverLimits = {
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  connectionsCheckingInterval: 1_000,
  keepAliveTimeout: 5_000,
  maxConnections: 1_024
} as const

/** The example's Node server with {@link serverLimits} (overridable, e.g. by a test). */
export const nodeServer = (overrides: Partial<Record<keyof typeof serverLimits, number>> = {}): http.Server => {
  const settings = { ...serverLimits, ...overrides }
  const server = http.createServer({
    headersTimeout: settings.headersTimeout,
    requestTimeout: settings.requestTimeout,
    connectionsCheckingInterval: settings.connectionsCheckingInterval,
    keepAliveTimeout: settings.keepAliveTimeout
  })
  server.keepAliveTimeout = settings.keepAliveTimeout
  server.maxConnections = settings.maxConnections
  return server
}

/** The graceful server over {@link nodeServer}, where `volley serve` and the demo listen. */
const serverLayer = (options: ApiOptions) =>
  GracefulServer.layer(() => nodeServer(), {
    port: options.port ?? 8080,
    host: options.host ?? "127.0.0.1",
    drainTimeout: "10 seconds"
  })

export interface ApiOptions {
  readonly port?: number
  readonly host?: string
  readonly outbox: string
  readonly mailLatency?: Duration.DurationInput
  readonly workers?: number
  readonly queueCapacity?: number
  readonly drainTimeout?: Duration.DurationInput
}

/** {@link durableLayer}'s options: the database (`file:PATH` or `postgres://…`) and its job lease. */
export interface DurableApiOptions extends ApiOptions {
  readonly db: string
  readonly lease?: Duration.DurationInput
  /** On shutdown: send every ready email (default), or only finish the claimed ones (a shared queue). */
  readonly drain?: "ready" | "claimed"
}

/** The Node server both layers run on: graceful shutdown, loopback by default. */

/**
 * The whole server as a Layer. Closing it (SIGTERM/SIGINT under `NodeRuntime.runMain`)
 * stops accepting, lets in-flight requests finish, then drains queued emails within the
 * drain deadline: the server layer is released before the job pool it uses.
 */
export const layer = (options: ApiOptions) =>
  HttpServer.serve(app).pipe(
    // Merged into the output so a host program (the demo) can read the pool's stats and drain report.
    Layer.provideMerge(JobPool.layer({
      name: "email",
      workers: options.workers ?? 4,
      capacity: options.queueCapacity ?? 1_000,
      drainTimeout: options.drainTimeout ?? "15 seconds"
    })),
    Layer.provide(MailerLive(options.outbox, options.mailLatency)),
    Layer.provide(UsersLive),
    Layer.provide(LocalUpstreams),
    Layer.provide(Client.layer({ retry: { maxAttempts: 1 } })),
    Layer.provideMerge(serverLayer(options))
  )

/**
 * The server on the durable queue (`volley serve`): users and their email jobs in one database.
 * Released in order: requests drain, then the queue drains, then the database closes.
 */
export const durableLayer = (options: DurableApiOptions) =>
  HttpServer.serve(durableApp).pipe(
    // Merged into the output so a host program (serve, the demo) can read stats and the drain report.
    Layer.provideMerge(DurableJobs.layer({
      name: "email",
      handlers: [SignUps.welcomeEmails],
      workers: options.workers ?? 4,
      drain: options.drain ?? "ready",
      drainTimeout: options.drainTimeout ?? "15 seconds"
    })),
    Layer.provide(MailerLive(options.outbox, options.mailLatency)),
    Layer.provide(SignUps.UsersTable),
    Layer.provideMerge(DurableJobs.layerUrl(options.db, options.lease === undefined ? {} : { lease: options.lease })),
    Layer.provide(LocalUpstreams),
    Layer.provide(Client.layer({ retry: { maxAttempts: 1 } })),
    Layer.provideMerge(serverLayer(options))
  )
