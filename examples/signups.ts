/**
 * The example API's sign-ups on the durable job queue, as a real backend does it: the user row
 * and its welcome-email job are committed in one transaction in the same database (SQLite by
 * default, PostgreSQL with `--db postgres://…`), so a crash can leave neither a user without
 * an email nor an email without a user. The email is sent at least once; the mailer writes one
 * outbox file per job key and skips a key already sent, so a redelivered job does not send twice.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Either, Layer, Option, Schema } from "effect"
import * as DurableJobs from "../src/server/DurableJobs.js"
import * as Middleware from "../src/server/Middleware.js"
import { Mailer } from "./api/mail.js"
import { badRequest, readSignUp } from "./api/signUp.js"
import type { User } from "./api/users.js"

/** The welcome email: its payload is the user it greets. */
export const WelcomeEmail = DurableJobs.kind("welcome-email", {
  payload: Schema.Struct({ id: Schema.Number, name: Schema.String, email: Schema.String }),
  timeout: "10 seconds",
  retry: { times: 3, base: "200 millis" }
})

/** Sends a welcome email job through the Mailer. */
export const welcomeEmails = DurableJobs.handle(WelcomeEmail, (user) => Effect.flatMap(Mailer, (mailer) => mailer.sendWelcome(user)))

/** The users table, beside the job table in the same database. */
export const UsersTable = Layer.effectDiscard(
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const id = sql.onDialectOrElse({
      pg: () => sql.literal("SERIAL PRIMARY KEY"),
      orElse: () => sql.literal("INTEGER PRIMARY KEY AUTOINCREMENT")
    })
    const create = sql`CREATE TABLE IF NOT EXISTS users (id ${id}, name TEXT NOT NULL, email TEXT NOT NULL)`
    // PostgreSQL's IF NOT EXISTS is not safe against a twin instance starting at the same time
    // (both pass the check, one fails on pg_type's unique index): take turns under an advisory lock.
    yield* sql.onDialectOrElse({
      pg: () => sql.withTransaction(Effect.zipRight(sql`SELECT pg_advisory_xact_lock(hashtext('users'))`, create)),
      orElse: () => create
    })
  })
)

/**
 * `POST /users` on the durable queue: validate, then store the user and queue its email in one
 * transaction, answer 201. A store that cannot be written answers 503 and keeps nothing.
 */
export const createUser = Effect.gen(function*() {
  const body = yield* readSignUp
  if (Either.isLeft(body)) return body.left
  const input = body.right
  const sql = yield* SqlClient.SqlClient
  const jobs = yield* DurableJobs.DurableJobs
  const { job, user } = yield* sql.withTransaction(Effect.gen(function*() {
    const rows = yield* sql<{ readonly id: number | string }>`INSERT INTO users (name, email) VALUES (${input.name}, ${input.email}) RETURNING id`
    const user: User = { id: Number(rows[0]!.id), ...input }
    // Keyed by the user: a retried transaction cannot queue two emails for one user.
    const job = yield* jobs.submit(WelcomeEmail, user, { key: String(user.id) })
    return { job, user }
  })).pipe(
    // `withTransaction` turns a failed COMMIT (a full disk) into a defect: it is a store
    // failure like any other, answered 503 (nothing was acknowledged, nothing kept).
    Effect.catchSomeDefect((defect) => defect instanceof SqlError ? Option.some(Effect.fail(defect)) : Option.none())
  )
  return HttpServerResponse.unsafeJson({ ...user, welcomeEmail: job }, { status: 201 })
}).pipe(
  Effect.catchTags({
    ParseError: (e) => badRequest(e),
    RequestError: (e) => badRequest(e),
    SqlError: (e) => Effect.as(Effect.logError("sign-up not stored", e), Middleware.serviceUnavailable("1 second", "could not store the sign-up")),
    JobStoreError: (e) => Effect.as(Effect.logError("sign-up not stored", e), Middleware.serviceUnavailable("1 second", "could not store the sign-up"))
  })
)

/**
 * A stored error's short code for a public view: its leading error name (`MailError`,
 * `DurableJobTimeout`), else `"Error"`. Never its message or stack, which may carry a user's
 * data or an upstream's answer.
 */
export const errorCode = (error: string | null): string | null =>
  error === null ? null : /^([A-Z][A-Za-z0-9]{0,63})(?::|\s|$)/.exec(error)?.[1] ?? "Error"

/**
 * `GET /jobs`: counts by state, the age of the oldest job not yet done, the dead letters by id,
 * kind, attempts and error code. Payloads (names, emails) and stack traces stay in the store:
 * `volley jobs list --details` shows them to whoever can read the database.
 */
export const jobsView = Effect.gen(function*() {
  const jobs = yield* DurableJobs.DurableJobs
  const stats = yield* jobs.stats
  const dead = yield* jobs.list({ state: "dead", limit: 100 })
  return HttpServerResponse.unsafeJson({
    counts: { queued: stats.queued, running: stats.running, done: stats.done, dead: stats.dead },
    oldestQueuedAgeMs: stats.oldestQueuedAgeMs,
    deadLetters: dead.map((j) => ({ id: j.id, kind: j.kind, attempts: j.attempts, error: errorCode(j.lastError) }))
  })
}).pipe(Effect.catchTag("JobStoreError", (e) => Effect.succeed(HttpServerResponse.unsafeJson({ error: e.message }, { status: 503 }))))
