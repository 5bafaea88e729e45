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
 */
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Clock, Context, Duration, Effect, Either, FiberRef, Layer, Metric, MetricBoundaries, MetricLabel, Option, ParseResult, Schema } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import * as Client from "../src/Client.js"
import * as DurableJobs from "../src/server/DurableJobs.js"
import * as FanOut from "../src/server/FanOut.js"
import * as GracefulServer from "../src/server/GracefulServer.js"
import * as JobPool from "../src/server/JobPool.js"
import * as Middleware from "../src/server/Middleware.js"
import * as Prometheus from "../src/server/Prometheus.js"
import * as SignUps from "./signups.js"

// ---- users ----------------------------------------------------------------------------------

/**
 * What one sign-up may take. The body limit is checked on `Content-Length` before a byte is
 * read; the field limits keep a stored user (and its email) small; the store is bounded so a
 * flood of sign-ups cannot grow memory without end.
 */
export const limits = {
  bodyBytes: 16 * 1024,
  nameLength: 200,
  /** RFC 5321's limit on a forward path. */
  emailLength: 254,
  users: 100_000
} as const

// C0, DEL and C1 controls: no name needs them, and CR/LF in one would be a header line in the email.
// eslint-disable-next-line no-control-regex
const controlChars = /[\u0000-\u001f\u007f-\u009f]/

export const NewUser = Schema.Struct({
  name: Schema.String.pipe(
    Schema.minLength(1, { message: () => "name must not be empty" }),
    Schema.maxLength(limits.nameLength, { message: () => `name must be at most ${limits.nameLength} characters` }),
    Schema.filter((name) => !controlChars.test(name), { message: () => "name must not contain control characters" })
  ),
  email: Schema.String.pipe(
    Schema.maxLength(limits.emailLength, { message: () => `email must be at most ${limits.emailLength} characters` }),
    Schema.pattern(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, { message: () => "email must look like an address" })
  )
})

export interface User {
  readonly id: number
  readonly name: string
  readonly email: string
}

/** The user store is full: the sign-up is refused (507) rather than memory growing without end. */
export class UsersFull extends Schema.TaggedError<UsersFull>()("UsersFull", { capacity: Schema.Number }) {}

/** In-memory user storage. */
export class Users extends Context.Tag("example/Users")<Users, {
  readonly add: (user: typeof NewUser.Type) => Effect.Effect<User, UsersFull>
  /** Takes back a user whose sign-up could not complete. */
  readonly remove: (id: number) => Effect.Effect<void>
  readonly count: Effect.Effect<number>
}>() {}

/** The in-memory store as a Layer, holding at most `capacity` users. */
export const usersLayer = (options: { readonly capacity?: number } = {}) =>
  Layer.sync(
    Users,
    () => {
      const capacity = options.capacity ?? limits.users
      // Mutated in place: copying the map per insert made each sign-up O(n).
      const users = new Map<number, User>()
      let next = 1
      return {
        add: (input) =>
          Effect.suspend(() => {
            if (users.size >= capacity) return Effect.fail(new UsersFull({ capacity }))
            const user: User = { id: next++, ...input }
            users.set(user.id, user)
            return Effect.succeed(user)
          }),
        remove: (id) => Effect.sync(() => void users.delete(id)),
        count: Effect.sync(() => users.size)
      }
    }
  )

/** The in-memory store with the default capacity ({@link limits}). */
export const UsersLive = usersLayer()

// ---- mail -----------------------------------------------------------------------------------

/** Sends mail by writing it to an outbox folder; takes about a second, like a real SMTP call. */
export class Mailer extends Context.Tag("example/Mailer")<Mailer, {
  readonly sendWelcome: (user: User) => Effect.Effect<void, MailError>
}>() {}

export class MailError extends Schema.TaggedError<MailError>()("MailError", { reason: Schema.String }) {}

export const MailerLive = (outbox: string, latency: Duration.DurationInput = "1 second") =>
  Layer.effect(
    Mailer,
    Effect.gen(function*() {
      yield* Effect.promise(() => fs.mkdir(outbox, { recursive: true }))
      return {
        sendWelcome: (user) =>
          Effect.gen(function*() {
            // One file per job key (the user): a redelivered job finds it and does not send twice.
            const file = path.join(outbox, `welcome-${user.id}.eml`)
            if (yield* Effect.promise(() => fs.access(file).then(() => true, () => false))) return
            yield* Effect.sleep(latency)
            // A header value is one line: an address with a control character is refused, and
            // the name goes out as an RFC 2047 encoded word, so CR/LF in it cannot start a
            // header line of its own (`Bob\r\nBcc: ...`), whoever built the `User`.
            if (controlChars.test(user.email)) return yield* new MailError({ reason: "address contains a control character" })
            const body = [
              `To: ${user.email}`,
              `Subject: ${encodedWord(`Welcome, ${user.name}!`)}`,
              "MIME-Version: 1.0",
              "Content-Type: text/plain; charset=utf-8",
              "",
              "Thanks for signing up.",
              ""
            ].join("\r\n")
            // Write then rename: a crash never leaves half an email in the outbox.
            yield* Effect.tryPromise({
              try: async () => {
                await fs.writeFile(`${file}.tmp`, body)
                await fs.rename(`${file}.tmp`, file)
              },
              catch: (e) => new MailError({ reason: String(e) })
            })
          })
      }
    })
  )

/** A header value as printable ASCII: as is when it already is, else an RFC 2047 base64 word. */
const encodedWord = (value: string): string =>
  /^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, "utf8").toString("base64")}?=`

// ---- upstreams ------------------------------------------------------------------------------

/** Base URLs of the services the dashboard aggregates. */
export class UpstreamUrls extends Context.Tag("example/UpstreamUrls")<UpstreamUrls, {
  readonly profile: string
  readonly orders: string
  readonly recommendations: string
}>() {}

/**
 * Three small local services standing in for real upstreams. Recommendations is slow on
 * every fourth call, so the dashboard shows what a degraded answer looks like.
 */
export const LocalUpstreams = Layer.scoped(
  UpstreamUrls,
  Effect.gen(function*() {
    let recommendationCalls = 0
    const start = (name: string, answer: () => { readonly delayMs: number; readonly body: unknown }) =>
      Effect.acquireRelease(
        Effect.async<http.Server>((resume) => {
          const server = http.createServer((_req, res) => {
            const { body, delayMs } = answer()
            const timer = setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body)), delayMs)
            res.on("close", () => clearTimeout(timer))
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.async<void>((resume) => {
            server.closeAllConnections()
            server.close(() => resume(Effect.void))
          })
      ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}/${name}`))
    return {
      profile: yield* start("profile", () => ({ delayMs: 10, body: { plan: "pro", since: 2021 } })),
      orders: yield* start("orders", () => ({ delayMs: 25, body: { open: 2, shipped: 17 } })),
      recommendations: yield* start("recommendations", () => {
        recommendationCalls++
        return { delayMs: recommendationCalls % 4 === 0 ? 2_000 : 15, body: { items: ["effect", "undici"] } }
      })
    }
  })
)

// ---- files ----------------------------------------------------------------------------------

/** Deterministic file contents, so a download can be verified against a known checksum. */
export const fileBytes = (size: number): Buffer => {
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + 7) % 251
  return out
}

const files = new Map<string, Buffer>([["report.bin", fileBytes(4 * 1024 * 1024)]])
const fileHashes = new Map([...files].map(([name, bytes]) => [name, crypto.createHash("sha256").update(bytes).digest("hex")]))

const serveFile = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const { name = "" } = yield* HttpRouter.params
  if (name.endsWith(".sha256")) {
    const hash = fileHashes.get(name.slice(0, -".sha256".length))
    return hash === undefined ? HttpServerResponse.text("not found", { status: 404 }) : HttpServerResponse.text(`${hash}  ${name.slice(0, -7)}\n`)
  }
  const bytes = files.get(name)
  if (bytes === undefined) return HttpServerResponse.text("not found", { status: 404 })
  const etag = `"${fileHashes.get(name)!.slice(0, 16)}"`
  const headers = { etag, "accept-ranges": "bytes" }
  const range = /^bytes=(\d+)-$/.exec(request.headers["range"] ?? "")
  const ifRange = request.headers["if-range"]
  if (range !== null && (ifRange === undefined || ifRange === etag)) {
    const from = Number(range[1])
    if (from >= bytes.length) return HttpServerResponse.empty({ status: 416, headers: { "content-range": `bytes */${bytes.length}` } })
    return HttpServerResponse.uint8Array(bytes.subarray(from), {
      status: 206,
      headers: { ...headers, "content-range": `bytes ${from}-${bytes.length - 1}/${bytes.length}` }
    })
  }
  return HttpServerResponse.uint8Array(bytes, { headers })
})

// ---- request metrics --------------------------------------------------------------------------

const requestsTotal = Metric.counter("http_requests_total", { description: "HTTP requests answered, by route and status" })
// What `Metric.timerWithBoundaries` makes (a histogram of milliseconds labelled
// time_unit="milliseconds"), minus its per-update label merge: see `instrument`.
const requestDuration = Metric.histogram(
  "http_request_duration",
  MetricBoundaries.fromIterable([1, 5, 10, 25, 50, 100, 250, 500, 1_000, 5_000]),
  "HTTP request latency in milliseconds"
)
const timeUnitLabel = MetricLabel.make("time_unit", "milliseconds")

/**
 * Counts each answer and times it, tagged by route (the pattern, never the raw path).
 *
 * Cheap on purpose, as it runs on every request: the label arrays are built once per route
 * and status and handed to the metrics as they are. Effect's metrics cache their registry
 * entry by the identity of that array; `Metric.tagged` (and `Metric.timerWithBoundaries`,
 * which tags too) merge labels into a new array on every update and so look the metric up in
 * the registry, hashing its key, every time. Labels set on the fiber (`Effect.tagMetrics`) are
 * still added, after the route's, as `Metric.update` would.
 */
export const instrument = (route: string) => {
  const routeLabel = MetricLabel.make("route", route)
  // The order `Metric.timerWithBoundaries` + `Metric.tagged` gave, so the series are the same.
  const durationLabels: ReadonlyArray<MetricLabel.MetricLabel> = [timeUnitLabel, routeLabel]
  const countLabels = new Map<number, ReadonlyArray<MetricLabel.MetricLabel>>()
  const countLabelsFor = (status: number) => {
    let labels = countLabels.get(status)
    if (labels === undefined) {
      labels = [routeLabel, MetricLabel.make("status", String(status))]
      countLabels.set(status, labels)
    }
    return labels
  }
  const withFiberLabels = (labels: ReadonlyArray<MetricLabel.MetricLabel>, fiberLabels: ReadonlyArray<MetricLabel.MetricLabel>) =>
    fiberLabels.length === 0 ? labels : [...labels, ...fiberLabels]
  return <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    Effect.withFiberRuntime<HttpServerResponse.HttpServerResponse, E, R>((fiber) => {
      const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
      const started = clock.unsafeCurrentTimeMillis()
      return Effect.map(handler, (response) => {
        const elapsed = clock.unsafeCurrentTimeMillis() - started
        const fiberLabels = fiber.getFiberRef(FiberRef.currentMetricLabels)
        requestsTotal.unsafeUpdate(1, withFiberLabels(countLabelsFor(response.status), fiberLabels))
        requestDuration.unsafeUpdate(elapsed, withFiberLabels(durationLabels, fiberLabels))
        return response
      })
    })
}

// ---- routes ---------------------------------------------------------------------------------

/** 400 naming each field that did not decode, or saying the body was not JSON. */
export const badRequest = (error: ParseResult.ParseError | { readonly _tag: "RequestError" }) =>
  HttpServerResponse.unsafeJson(
    error._tag === "ParseError"
      ? {
        error: "invalid body",
        fields: ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({ field: issue.path.join("."), message: issue.message }))
      }
      : { error: "body is not valid JSON" },
    { status: 400 }
  )

/**
 * `POST /users`: validate, store, queue the welcome email, answer 201 (the handler, unguarded).
 * When the email queue is full the sign-up is taken back and the client told when to retry:
 * a 503 that had kept the user would make that retry a duplicate.
 */
export const createUser = Effect.gen(function*() {
  const body = yield* readSignUp
  if (Either.isLeft(body)) return body.left
  const input = body.right
  const users = yield* Users
  const user = yield* users.add(input)
  const mailer = yield* Mailer
  const jobId = yield* JobPool.submit({
    name: "welcome-email",
    run: mailer.sendWelcome(user),
    timeout: "10 seconds",
    retry: { times: 3, base: "200 millis" }
  }).pipe(Effect.tapError(() => users.remove(user.id)))
  return HttpServerResponse.unsafeJson({ ...user, welcomeEmail: jobId }, { status: 201 })
}).pipe(
  Effect.catchTags({
    ParseError: badRequest,
    RequestError: badRequest,
    JobQueueFull: (e) => Effect.succeed(Middleware.serviceUnavailable(e.retryAfter, "email queue full")),
    UsersFull: () => Effect.succeed(HttpServerResponse.text("user store full", { status: 507 }))
  })
)

/**
 * A sign-up's body, read within {@link limits}: the user's fields, or the refusal to answer
 * with (see {@link bodyRefusal}). Both sign-up handlers (in memory, durable) read it so.
 */
export const readSignUp = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const refused = bodyRefusal(request.headers["content-length"])
  if (refused !== undefined) return Either.left(refused)
  const input = yield* HttpServerRequest.schemaBodyJson(NewUser).pipe(
    // Node reads no more than Content-Length; this cap is the platform's own, in case it does.
    HttpIncomingMessage.withMaxBodySize(Option.some(limits.bodyBytes))
  )
  return Either.right(input)
})

/**
 * The body limit, decided on the headers alone, before any of the body is read (the
 * platform reads a body whole and, by default, with no limit at all): 413 beyond
 * {@link limits}, 411 when the length is not given. A sign-up is a small JSON document and
 * every client sends its length; refusing a chunked body of unknown length is what lets the
 * limit be checked up front. `Connection: close`, so Node does not read the rest of a refused
 * body to reuse the connection.
 */
const bodyRefusal = (contentLength: string | undefined): HttpServerResponse.HttpServerResponse | undefined => {
  const close = { connection: "close" }
  if (contentLength === undefined) return HttpServerResponse.text("length required", { status: 411, headers: close })
  if (!/^\d+$/.test(contentLength)) return HttpServerResponse.text("bad content-length", { status: 400, headers: close })
  if (Number(contentLength) > limits.bodyBytes) {
    return HttpServerResponse.text(`body larger than ${limits.bodyBytes} bytes`, { status: 413, headers: close })
  }
  return undefined
}

const Profile = Schema.Struct({ plan: Schema.String, since: Schema.Number })

const dashboard = Effect.gen(function*() {
  const urls = yield* UpstreamUrls
  const { complete, outcomes } = yield* FanOut.all({
    profile: { request: urls.profile, deadline: "300 millis", schema: Profile },
    orders: { request: urls.orders, deadline: "300 millis" },
    recommendations: { request: urls.recommendations, deadline: "300 millis" }
  })
  const view = Object.fromEntries(
    Object.entries(outcomes).map(([name, o]) => [name, o._tag === "Ok" ? { ok: true, data: o.value } : { ok: false, error: o.error.message }])
  )
  return HttpServerResponse.unsafeJson({ complete, ...view })
})

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

/** The app on the durable queue. */
export const durableApp = durableRouter.pipe(Middleware.withDeadline("5 seconds"))

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
