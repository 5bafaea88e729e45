/**
 * The SQL store under the durable job queue: an implementation of `@effect/experimental`'s
 * `PersistedQueueStore` (the engine's storage interface: offer by id, take under a Scope whose
 * exit decides complete / retry / release), plus the reads the queue's owners need (counts,
 * listing, re-queueing a dead letter). One implementation for SQLite (libsql) and PostgreSQL;
 * only the claim statement differs.
 *
 * Why not `@effect/sql`'s `SqlPersistedQueue` store, whose table and semantics this one follows:
 * - its SQLite claim (`UPDATE … RETURNING … ORDER BY … LIMIT`) is a syntax error in libsql, and
 *   its poll loop retries errors silently, so `take` hangs forever on the embedded default;
 * - a failed attempt is retried at once: it stores no next-run time, so backoff cannot survive
 *   a restart (this table has `run_after`, and a dead letter is an explicit state);
 * - lease times come from the database's wall clock (1 s resolution in SQLite); here they come
 *   from Effect's Clock, so tests drive leases and backoff with `TestClock`, and the lease is
 *   any duration (the tests use 1 s).
 * PGlite (Postgres in WASM behind a socket) would make SQLite unnecessary, but it serves one
 * connection at a time and adds ~10 MB of WASM and a socket server to every `volley serve`;
 * libsql is one file opened in process.
 */
import * as PersistedQueue from "@effect/experimental/PersistedQueue"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"

/** The stored states. A running job is a `queued` row with a live lease. */
export type StoredState = "queued" | "done" | "dead"

/** One stored job, as listed. Times are epoch milliseconds (Effect's Clock). */
export interface StoredJob {
  readonly id: string
  readonly queue: string
  readonly element: unknown
  readonly state: StoredState
  readonly running: boolean
  readonly attempts: number
  readonly lastError: string | null
  readonly runAfter: number
  readonly createdAt: number
  readonly updatedAt: number
}

export interface StoreCounts {
  readonly queued: number
  readonly running: number
  readonly done: number
  readonly dead: number
  /** `created_at` of the oldest job not yet done or dead, if any. */
  readonly oldestQueuedAt: number | null
}

/**
 * How an attempt that failed wants to be stored: retried after `retryIn` (ms), or kept as a
 * dead letter (`retryIn` none). The job layer fails a take with it; any other failure of a
 * take (say the payload no longer decodes) makes a dead letter at once.
 */
export class AttemptFailed extends Data.TaggedError("AttemptFailed")<{
  readonly error: string
  readonly retryIn: Option.Option<number>
}> {}

export interface StoreOptions {
  readonly table?: string | undefined
  /** How long a claim lasts without a refresh; another worker may take the job after it. */
  readonly lease?: Duration.DurationInput | undefined
  /** How often an idle taker looks for new rows (offers in this process wake it at once). */
  readonly pollInterval?: Duration.DurationInput | undefined
}

export interface JobStore {
  readonly queue: PersistedQueue.PersistedQueueStore["Type"]
  readonly counts: (queue: string) => Effect.Effect<StoreCounts, SqlError>
  readonly list: (queue: string, options: { readonly state?: StoredState | undefined; readonly limit: number }) => Effect.Effect<ReadonlyArray<StoredJob>, SqlError>
  /** Queues a dead letter again with a fresh attempt budget; false when no dead job has that id. */
  readonly retry: (queue: string, id: string) => Effect.Effect<boolean, SqlError>
  /** Jobs that could be claimed right now: queued, due, lease free. */
  readonly ready: (queue: string) => Effect.Effect<number, SqlError>
  /** How many rows this store instance holds a lease on right now. */
  readonly held: Effect.Effect<number>
}

interface Row {
  readonly sequence: number | string
  readonly id: string
  readonly queue_name: string
  readonly element: string
  readonly state: StoredState
  readonly attempts: number | string
  readonly last_error: string | null
  readonly run_after: number | string
  readonly lease_until: number | string | null
  readonly created_at: number | string
  readonly updated_at: number | string
}

const parseElement = (text: string): Option.Option<unknown> => {
  try {
    return Option.some(JSON.parse(text) as unknown)
  } catch {
    return Option.none()
  }
}

// PostgreSQL BIGINT and COUNT(*) arrive as strings (node-postgres keeps 64-bit exact).
const num = (value: number | string | bigint): number => Number(value)

export const make = (options: StoreOptions = {}): Effect.Effect<JobStore, SqlError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const tableName = options.table ?? "volley_jobs"
    const table = sql(tableName)
    const lease = Duration.toMillis(Duration.decode(options.lease ?? "30 seconds"))
    const pollInterval = Duration.decode(options.pollInterval ?? "200 millis")
    const workerId = crypto.randomUUID()
    const isPg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })

    const serial = isPg ? sql.literal("BIGSERIAL PRIMARY KEY") : sql.literal("INTEGER PRIMARY KEY AUTOINCREMENT")
    const createSchema = Effect.gen(function*() {
      yield* sql`CREATE TABLE IF NOT EXISTS ${table} (
        sequence ${serial},
        id TEXT NOT NULL,
        queue_name TEXT NOT NULL,
        element TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NULL,
        run_after BIGINT NOT NULL,
        acquired_by TEXT NULL,
        lease_until BIGINT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      )`
      yield* sql`CREATE UNIQUE INDEX IF NOT EXISTS ${sql(`${tableName}_id`)} ON ${table} (id)`
      yield* sql`CREATE INDEX IF NOT EXISTS ${sql(`${tableName}_take`)} ON ${table} (queue_name, state, run_after)`
    })
    // PostgreSQL's CREATE ... IF NOT EXISTS is not safe against a twin running at the same time:
    // two instances starting together on a new database fail on pg_type's unique index
    // ("duplicate key value violates unique constraint pg_type_typname_nsp_index"). One
    // transaction under an advisory lock keyed by the table name lets them take turns.
    yield* isPg
      ? sql.withTransaction(Effect.zipRight(sql`SELECT pg_advisory_xact_lock(hashtext(${tableName}))`, createSchema))
      : createSchema

    // A database this process cannot write (a read-only file or mount, a read-only replica)
    // would start and then fail every claim and every sign-up: try one write now, so the
    // start fails instead, naming why. It touches no row.
    yield* sql`DELETE FROM ${table} WHERE sequence = -1`.pipe(
      Effect.mapError((error) => {
        const cause = error.cause instanceof Error ? error.cause.message : error.message
        return new SqlError({ cause: new Error(`the database is not writable: ${cause}`), message: "write check failed" })
      })
    )

    const held = yield* Ref.make(new Set<number>())
    // Offers made in this process wake idle takers at once instead of after a poll interval.
    const wake = yield* Ref.make(yield* Deferred.make<void>())
    const signal = Effect.flatMap(Deferred.make<void>(), (next) =>
      Effect.flatMap(Ref.getAndSet(wake, next), (current) => Deferred.succeed(current, undefined)))

    // The claim: oldest runnable row whose lease is free. SQLite runs one writer at a time, so
    // its subquery claim is atomic; PostgreSQL's `FOR UPDATE SKIP LOCKED` lets concurrent
    // claimers pass each other's rows instead of waiting or claiming one twice.
    const claim = (name: string, now: number) => {
      const runnable = sql`SELECT sequence FROM ${table}
        WHERE queue_name = ${name} AND state = 'queued' AND run_after <= ${now}
        AND (lease_until IS NULL OR lease_until < ${now})
        ORDER BY run_after, sequence LIMIT 1`
      return sql<Row>`UPDATE ${table} SET acquired_by = ${workerId}, lease_until = ${now + lease}
        WHERE sequence IN (${runnable}${isPg ? sql.literal(" FOR UPDATE SKIP LOCKED") : sql.literal("")})
        RETURNING *`
    }

    // Finishing a claim must not be lost to a transient error: a few retries, then a defect
    // (the lease expires and another worker redoes the job: at least once).
    const settle = (statement: Effect.Effect<unknown, SqlError>) =>
      statement.pipe(Effect.retry({ times: 5, schedule: Schedule.exponential("50 millis") }), Effect.orDie, Effect.asVoid)

    const release = (sequence: number) =>
      Effect.flatMap(Ref.update(held, (s) => (s.delete(sequence), s)), () =>
        settle(sql`UPDATE ${table} SET acquired_by = NULL, lease_until = NULL
          WHERE sequence = ${sequence} AND acquired_by = ${workerId}`))

    const finish = (row: Row, exit: Exit.Exit<unknown, unknown>) =>
      Effect.gen(function*() {
        const sequence = num(row.sequence)
        if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) return yield* release(sequence)
        yield* Ref.update(held, (s) => (s.delete(sequence), s))
        const now = yield* Clock.currentTimeMillis
        const attempts = num(row.attempts) + 1
        const mine = sql`sequence = ${sequence} AND acquired_by = ${workerId}`
        if (Exit.isSuccess(exit)) {
          return yield* settle(sql`UPDATE ${table} SET state = 'done', attempts = ${attempts}, acquired_by = NULL,
            lease_until = NULL, updated_at = ${now} WHERE ${mine}`)
        }
        const failure = Cause.failureOption(exit.cause).pipe(
          Option.filter((e): e is AttemptFailed => e instanceof AttemptFailed)
        )
        const error = Option.match(failure, { onNone: () => Cause.pretty(exit.cause), onSome: (f) => f.error })
        const retryIn = Option.flatMap(failure, (f) => f.retryIn)
        if (Option.isSome(retryIn)) {
          return yield* settle(sql`UPDATE ${table} SET attempts = ${attempts}, last_error = ${error},
            run_after = ${now + retryIn.value}, acquired_by = NULL, lease_until = NULL, updated_at = ${now} WHERE ${mine}`)
        }
        yield* settle(sql`UPDATE ${table} SET state = 'dead', attempts = ${attempts}, last_error = ${error},
          acquired_by = NULL, lease_until = NULL, updated_at = ${now} WHERE ${mine}`)
      })

    // Keeps the leases of running jobs alive; a process that dies stops refreshing them.
    yield* Effect.gen(function*() {
      const ids = yield* Ref.get(held)
      if (ids.size === 0) return
      const now = yield* Clock.currentTimeMillis
      yield* sql`UPDATE ${table} SET lease_until = ${now + lease}
        WHERE acquired_by = ${workerId} AND sequence IN (${sql.literal([...ids].join(","))})`
    }).pipe(
      Effect.tapErrorCause((cause) => Effect.logWarning("job store: lease refresh failed", cause)),
      Effect.ignore,
      Effect.repeat(Schedule.spaced(Duration.millis(Math.max(10, Math.floor(lease / 3))))),
      Effect.interruptible,
      Effect.forkScoped
    )

    // A claimed row becomes a job (held, finished by the take's scope), or, when its element
    // is not JSON (written by something else), a dead letter at once: never a claim held forever.
    const hold = (row: Row) =>
      Effect.gen(function*() {
        const element = parseElement(row.element)
        if (Option.isNone(element)) {
          const now = yield* Clock.currentTimeMillis
          yield* settle(sql`UPDATE ${table} SET state = 'dead', last_error = ${"stored element is not valid JSON"},
            acquired_by = NULL, lease_until = NULL, updated_at = ${now} WHERE sequence = ${row.sequence} AND acquired_by = ${workerId}`)
          yield* Effect.logError(`job store: job ${row.id} is not valid JSON; kept as a dead letter`)
          return "poison" as const
        }
        yield* Ref.update(held, (s) => s.add(num(row.sequence)))
        yield* Effect.addFinalizer((exit) => finish(row, exit))
        return { id: row.id, attempts: num(row.attempts), element: element.value }
      })

    // When a taker of this process last found nothing: idle takers woken by their timer skip
    // their look if another one looked less than a poll interval ago, so an idle process asks
    // the database about once per interval, not once per worker (libsql runs each query on the
    // event loop's thread).
    const lastEmpty = yield* Ref.make(Number.NEGATIVE_INFINITY)
    const take: JobStore["queue"]["take"] = ({ name }) =>
      Effect.gen(function*() {
        let failures = 0
        let timerWake = false
        while (true) {
          const waker = yield* Ref.get(wake)
          const now = yield* Clock.currentTimeMillis
          const sinceEmpty = now - (yield* Ref.get(lastEmpty))
          if (timerWake && sinceEmpty < Duration.toMillis(pollInterval)) {
            timerWake = yield* Effect.raceFirst(
              Effect.as(Deferred.await(waker), false),
              Effect.as(Effect.sleep(Duration.millis(Duration.toMillis(pollInterval) - sinceEmpty)), true)
            )
            continue
          }
          // Each row is parsed, and recorded as held with its finalizer, in the same
          // uninterruptible step that claims it, so neither an interruption nor a row that is
          // not JSON can leave a claim nobody refreshes or releases early.
          const row = yield* Effect.uninterruptible(
            claim(name, now).pipe(
              Effect.map((rows) => rows[0]),
              Effect.flatMap((row) => row === undefined ? Effect.succeed(undefined) : hold(row))
            )
          ).pipe(Effect.either)
          if (row._tag === "Left") {
            // Never silent: a store that cannot be read is logged, with a growing pause.
            failures++
            yield* Effect.logWarning(`job store: claiming a job failed (${failures} time(s) in a row)`, row.left)
            yield* Effect.sleep(Duration.times(pollInterval, Math.min(25, 2 ** Math.min(failures, 5))))
            continue
          }
          failures = 0
          if (row.right === undefined) {
            yield* Ref.set(lastEmpty, now)
            timerWake = yield* Effect.raceFirst(Effect.as(Deferred.await(waker), false), Effect.as(Effect.sleep(pollInterval), true))
            continue
          }
          // There may be more: the others should look at their next wake-up.
          yield* Ref.set(lastEmpty, Number.NEGATIVE_INFINITY)
          if (row.right === "poison") continue
          return row.right
        }
      })

    const offer: JobStore["queue"]["offer"] = ({ element, id, name }) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const insert = isPg
          ? sql`INSERT INTO ${table} (id, queue_name, element, state, attempts, run_after, created_at, updated_at)
              VALUES (${id}, ${name}, ${JSON.stringify(element)}, 'queued', 0, ${now}, ${now}, ${now}) ON CONFLICT (id) DO NOTHING`
          : sql`INSERT OR IGNORE INTO ${table} (id, queue_name, element, state, attempts, run_after, created_at, updated_at)
              VALUES (${id}, ${name}, ${JSON.stringify(element)}, 'queued', 0, ${now}, ${now}, ${now})`
        yield* insert
        yield* signal
      }).pipe(
        Effect.mapError((cause) => new PersistedQueue.PersistedQueueError({ message: `storing job ${id} failed: ${cause.message}`, cause }))
      )

    const counts = (name: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const rows = yield* sql<{ readonly state: StoredState; readonly running: number | string; readonly n: number | string; readonly oldest: number | string | null }>`
          SELECT state, CASE WHEN lease_until >= ${now} THEN 1 ELSE 0 END AS running, COUNT(*) AS n, MIN(created_at) AS oldest
          FROM ${table} WHERE queue_name = ${name} GROUP BY 1, 2`
        const out = { queued: 0, running: 0, done: 0, dead: 0, oldestQueuedAt: null as number | null }
        for (const r of rows) {
          const n = num(r.n)
          if (r.state === "queued") {
            if (num(r.running) === 1) out.running += n
            else out.queued += n
            if (r.oldest !== null) out.oldestQueuedAt = Math.min(out.oldestQueuedAt ?? Infinity, num(r.oldest))
          } else if (r.state === "done") out.done += n
          else if (r.state === "dead") out.dead += n
        }
        return out satisfies StoreCounts
      })

    const list: JobStore["list"] = (name, { limit, state }) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const rows = yield* sql<Row>`SELECT * FROM ${table} WHERE queue_name = ${name}
          ${state === undefined ? sql.literal("") : sql`AND state = ${state}`}
          ORDER BY sequence LIMIT ${sql.literal(String(Math.max(0, Math.floor(limit))))}`
        return rows.map((r): StoredJob => ({
          id: r.id,
          queue: r.queue_name,
          // A row that is not JSON is listed as its text (the take dead-letters it).
          element: Option.getOrElse(parseElement(r.element), () => r.element),
          state: r.state,
          running: r.state === "queued" && r.lease_until !== null && num(r.lease_until) >= now,
          attempts: num(r.attempts),
          lastError: r.last_error,
          runAfter: num(r.run_after),
          createdAt: num(r.created_at),
          updatedAt: num(r.updated_at)
        }))
      })

    const retry: JobStore["retry"] = (name, id) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const rows = yield* sql<{ readonly id: string }>`UPDATE ${table} SET state = 'queued', attempts = 0, run_after = ${now},
          acquired_by = NULL, lease_until = NULL, updated_at = ${now}
          WHERE queue_name = ${name} AND id = ${id} AND state = 'dead' RETURNING id`
        if (rows.length > 0) yield* signal
        return rows.length > 0
      })

    const ready = (name: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const rows = yield* sql<{ readonly n: number | string }>`SELECT COUNT(*) AS n FROM ${table}
          WHERE queue_name = ${name} AND state = 'queued' AND run_after <= ${now} AND (lease_until IS NULL OR lease_until < ${now})`
        return num(rows[0]?.n ?? 0)
      })

    return {
      queue: PersistedQueue.PersistedQueueStore.of({ offer, take }),
      counts,
      ready,
      list,
      retry,
      held: Effect.map(Ref.get(held), (s) => s.size)
    }
  })
