/**
 * Opening the job database from a URL: SQLite through libsql (one file, in process) or
 * PostgreSQL through node-postgres. Each driver is imported when its layer is built, so a
 * program that loads `volley/server` for something else never loads either. Errors name the database and the cause; the URL's password
 * never appears in them.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import { redactUrl } from "../../internal/redact.js"
import { JobStore } from "../DurableJobs.js"
import { DatabaseOpenError, DatabaseUrlError, defaultDatabaseUrl, type StoreOptions } from "../JobDatabase.js"
import * as store from "./jobStore.js"


export type ParsedUrl = { readonly _tag: "Sqlite"; readonly filename: string } | { readonly _tag: "Postgres"; readonly url: string }

export const parseUrl = (url: string): Effect.Effect<ParsedUrl, DatabaseUrlError> =>
  Effect.suspend((): Effect.Effect<ParsedUrl, DatabaseUrlError> => {
    const fail = (reason: string) => Effect.fail(new DatabaseUrlError({ url: redact(url), reason }))
    if (url.startsWith("file:")) {
      const filename = url.slice("file:".length)
      if (filename === "" || filename.includes("\0")) return fail("empty file path")
      if (filename === ":memory:") return fail("an in-memory database would lose every job on exit")
      return Effect.succeed({ _tag: "Sqlite" as const, filename })
    }
    if (/^postgres(ql)?:\/\//.test(url)) {
      let parsed: URL
      try {
        parsed = new URL(url)
      } catch {
        return fail("not a valid URL")
      }
      if (parsed.hostname === "") return fail("no host")
      if (parsed.pathname.length <= 1) return fail("no database name (…/DBNAME)")
      return Effect.succeed({ _tag: "Postgres" as const, url })
    }
    return fail("unknown scheme")
  })

/**
 * The URL as shown in messages: a file path as is, any other URL through the one URL redaction
 * (`redactUrl`: userinfo, `?password=` / `sslpassword=` and every other query value masked; a
 * URL that does not parse masked from `//` to its last `@`).
 */
export const redact = (url: string): string => url.startsWith("file:") ? url : redactUrl(url)

export const openFailed = (database: string) => (error: unknown) => {
  if (error instanceof DatabaseOpenError) return error
  const cause = (error as { cause?: unknown }).cause ?? error
  const reason = cause instanceof Error ? cause.message : String(cause)
  return new DatabaseOpenError({ database, reason })
}

/**
 * Imports a database driver, an optional peer dependency of volley: a missing one fails with a
 * message naming the package to install (in the bundled CLI, its native part may be missing).
 */
const importDriver = <A>(driver: string, database: string, load: () => Promise<A>): Effect.Effect<A, DatabaseOpenError> =>
  Effect.tryPromise({
    try: load,
    catch: (cause) => {
      const message = cause instanceof Error ? cause.message : String(cause)
      const missing = /Cannot find (module|package)|ERR_MODULE_NOT_FOUND/.test(message)
      return new DatabaseOpenError({
        database,
        reason: missing ? `this database needs the optional package ${driver}; install it: npm i ${driver}` : message
      })
    }
  })

const storeLayer = (options: StoreOptions, database: string) =>
  Layer.scoped(JobStore, store.make(options)).pipe(Layer.mapError(openFailed(database)))

/**
 * Creates the folder (0700) and an empty database file (0600) if they are missing, before
 * SQLite opens it: the file holds users' names and emails, and SQLite creates its `-wal` and
 * `-shm` with the database file's mode. An existing file keeps the mode its owner gave it.
 */
const createPrivate = (filename: string): void => {
  fs.mkdirSync(path.dirname(filename), { recursive: true, mode: 0o700 })
  try {
    fs.closeSync(fs.openSync(filename, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
  }
}

/**
 * The SQLite client alone, for every store on a `file:` URL (durable jobs, durable batches):
 * the folder and file created private first, the driver imported on use.
 */
export const sqliteClient = (filename: string): Layer.Layer<SqlClient.SqlClient, DatabaseOpenError> =>
  Layer.unwrapEffect(
    Effect.try({
      try: () => createPrivate(filename),
      catch: (cause) => new DatabaseOpenError({ database: filename, reason: cause instanceof Error ? cause.message : String(cause) })
    }).pipe(
      Effect.zipRight(importDriver("@effect/sql-libsql", filename, () => import("@effect/sql-libsql/LibsqlClient"))),
      Effect.map((LibsqlClient) => LibsqlClient.layer({ url: `file:${filename}` }))
    )
  ).pipe(Layer.mapError(openFailed(filename)))

/** The PostgreSQL client alone, for every store on a `postgres://` URL; the driver imported on use. */
export const pgClient = (url: string): Layer.Layer<SqlClient.SqlClient, DatabaseOpenError> => {
  const name = redact(url)
  return Layer.unwrapEffect(
    Effect.map(importDriver("@effect/sql-pg", name, () => import("@effect/sql-pg/PgClient")), (PgClient) =>
      PgClient.layer({ url: Redacted.make(url), connectTimeout: "5 seconds", maxConnections: 10 }))
  ).pipe(Layer.mapError(openFailed(name)))
}

export const layerSqlite = (options: { readonly filename: string } & StoreOptions): Layer.Layer<SqlClient.SqlClient | JobStore, DatabaseOpenError> => {
  const filename = path.resolve(options.filename)
  const client = sqliteClient(filename)
  // WAL: readers (GET /jobs) do not block the writer; busy_timeout: a second process on the
  // same file (the CLI) waits for the lock instead of failing at once.
  const pragmas = Layer.effectDiscard(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.zipRight(sql`PRAGMA busy_timeout = 5000`, sql`PRAGMA journal_mode = WAL`)).pipe(Effect.mapError(openFailed(filename)))
  )
  return Layer.provideMerge(storeLayer(options, filename), Layer.provideMerge(pragmas, client))
}

export const layerPostgres = (options: { readonly url: string } & StoreOptions): Layer.Layer<SqlClient.SqlClient | JobStore, DatabaseOpenError> =>
  Layer.provideMerge(storeLayer(options, redact(options.url)), pgClient(options.url))

export const layerUrl = (url: string, options: StoreOptions = {}): Layer.Layer<SqlClient.SqlClient | JobStore, DatabaseUrlError | DatabaseOpenError> =>
  Layer.unwrapEffect(
    Effect.map(parseUrl(url), (parsed) =>
      parsed._tag === "Sqlite"
        ? layerSqlite({ ...options, filename: parsed.filename })
        : layerPostgres({ ...options, url: parsed.url }))
  )

export const layerConfig = (options: StoreOptions = {}): Layer.Layer<SqlClient.SqlClient | JobStore, DatabaseUrlError | DatabaseOpenError> =>
  Layer.unwrapEffect(
    Effect.map(
      Config.option(Config.string("VOLLEY_DB")).pipe(Effect.orElseSucceed(() => Option.none<string>())),
      (url) => layerUrl(Option.getOrElse(url, () => defaultDatabaseUrl), options)
    )
  )
