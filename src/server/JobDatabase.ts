/**
 * The database of durable jobs: a URL (`file:PATH` for SQLite, `postgres://…` for PostgreSQL)
 * opened as a layer that provides the `SqlClient`, for the caller's own tables, and the job
 * store on it. Each driver is imported when its layer is built. Errors name the database; a
 * URL's password never appears in them.
 *
 * Every name here is exported by `DurableJobs` (`volley/server`); import it from there.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type { JobStore } from "./DurableJobs.js"
import * as database from "./internal/jobDatabase.js"

/**
 * A bad database URL (`--db` / `VOLLEY_DB`): a usage error.
 *
 * @category errors
 * @since 0.1.0
 */
export class DatabaseUrlError extends Data.TaggedError("DatabaseUrlError")<{ readonly url: string; readonly reason: string }> {
  override get message(): string {
    return `bad database URL ${JSON.stringify(this.url)}: ${this.reason} (expected file:PATH or postgres://user:pass@host:port/db)`
  }
}

/**
 * The database could not be opened: unreachable, refused, or not a database.
 *
 * @category errors
 * @since 0.1.0
 */
export class DatabaseOpenError extends Data.TaggedError("DatabaseOpenError")<{ readonly database: string; readonly reason: string }> {
  override get message(): string {
    return `cannot open database ${this.database}: ${this.reason}`
  }
}

/**
 * Store options shared by the database layers.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoreOptions {
  /** How long a claimed job stays claimed without a refresh (a dead worker's jobs wait this long). Default 30 s. */
  readonly lease?: Duration.DurationInput | undefined
  /** How often idle workers look for jobs stored by other processes. Default 200 ms. */
  readonly pollInterval?: Duration.DurationInput | undefined
}

/**
 * What the database layers provide: the SqlClient (for the caller's own tables) and the store.
 *
 * @category models
 * @since 0.1.0
 */
export type Database = SqlClient.SqlClient | JobStore

/**
 * The embedded default: one SQLite file (libsql), created with its folder if missing: the
 * file 0600 (its WAL and shared-memory files follow it), the folder 0700. A database that
 * cannot be written fails the layer (a {@link DatabaseOpenError}) rather than every claim.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerSqlite = (options: { readonly filename: string } & StoreOptions): Layer.Layer<Database, DatabaseOpenError> =>
  database.layerSqlite(options)

/**
 * PostgreSQL, for several processes sharing one queue.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerPostgres = (options: { readonly url: string } & StoreOptions): Layer.Layer<Database, DatabaseOpenError> =>
  database.layerPostgres(options)

/**
 * `file:PATH` → SQLite, `postgres://` / `postgresql://` → PostgreSQL; anything else is a
 * {@link DatabaseUrlError}.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerUrl = (url: string, options: StoreOptions = {}): Layer.Layer<Database, DatabaseUrlError | DatabaseOpenError> =>
  database.layerUrl(url, options)

/**
 * The default SQLite file, under the working folder.
 *
 * @category durable jobs
 * @since 0.1.0
 */
export const defaultDatabaseUrl = "file:.volley/volley.db"

/**
 * {@link layerUrl} of `VOLLEY_DB`, else of {@link defaultDatabaseUrl}.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (options: StoreOptions = {}): Layer.Layer<Database, DatabaseUrlError | DatabaseOpenError> =>
  database.layerConfig(options)

/**
 * Parses a database URL without opening it (for early usage errors).
 *
 * @category durable jobs
 * @since 0.1.0
 */
export const parseDatabaseUrl = (
  url: string
): Effect.Effect<{ readonly _tag: "Sqlite"; readonly filename: string } | { readonly _tag: "Postgres"; readonly url: string }, DatabaseUrlError> =>
  database.parseUrl(url)
