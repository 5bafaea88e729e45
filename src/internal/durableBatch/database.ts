/**
 * Opening the durable batch's database from the same URLs as DurableJobs (`file:PATH`,
 * `postgres://…`), parsed, redacted and opened by DurableJobs' own code (a SQLite file
 * created private, a missing driver named). Open failures (unreachable server, a file that is not a database)
 * are `DatabaseOpenError`s naming the database and the driver's reason.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as path from "node:path"
import type { DatabaseOpenError, DatabaseUrlError } from "../../server/DurableJobs.js"
import { openFailed, parseUrl, pgClient, redact, sqliteClient } from "../../server/internal/jobDatabase.js"
import { createSchema } from "./schema.js"
import type { Sql } from "./store.js"

/** The opened database: its client, dialect and printable name; the schema exists. */
export interface Opened extends Sql {
  readonly database: string
}

export const open = (url: string): Effect.Effect<Opened, DatabaseUrlError | DatabaseOpenError, import("effect/Scope").Scope> =>
  Effect.gen(function*() {
    const parsed = yield* parseUrl(url)
    const database = parsed._tag === "Sqlite" ? path.resolve(parsed.filename) : redact(parsed.url)
    const layer = parsed._tag === "Sqlite" ? sqliteClient(database) : pgClient(parsed.url)
    const context = yield* Layer.build(layer)
    const sql = (yield* Effect.provide(SqlClient.SqlClient, context)).withoutTransforms()
    const isPg = parsed._tag === "Postgres"
    // WAL: readers (`volley batch status`) do not block the writer; busy_timeout: several
    // processes on one file wait for the write lock instead of failing at once. synchronous =
    // NORMAL (WAL): a commit is in the OS before the call returns, so a process crash loses
    // nothing; no fsync per commit, so power loss may lose the last commits (outcomes, rerun).
    // Marking a request sent syncs (store.markSent). Per connection: the SQLite path never
    // opens a transaction, which would make @libsql/client open a new connection without it.
    const setup = isPg
      ? createSchema(sql, true)
      : Effect.zipRight(
        Effect.all([sql`PRAGMA busy_timeout = 10000`, sql`PRAGMA journal_mode = WAL`, sql`PRAGMA synchronous = NORMAL`]),
        createSchema(sql, false)
      )
    yield* Effect.mapError(setup, openFailed(database))
    return { sql, isPg, database }
  })
