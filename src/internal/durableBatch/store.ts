/**
 * The durable batch's SQL, one implementation for SQLite (libsql) and PostgreSQL: loading
 * rows, claiming them under a lease, storing outcomes, reading records and counts. Times are
 * epoch ms from Effect's Clock, passed in by the caller, so tests drive leases with TestClock.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { type ItemRow, num, tables } from "./schema.js"

export interface Sql {
  readonly sql: SqlClient.SqlClient
  readonly isPg: boolean
}

/**
 * One write over many of this worker's claimed rows at a time, per database handle: the lease
 * renewal and the outcome writer run at once, on two of PostgreSQL's pooled connections, and two
 * UPDATEs that lock the same rows in different orders (a scan's, a join's) deadlock, which
 * PostgreSQL ends by failing one of them (a failed store stops the run). Why not lock in index
 * order in SQL (`idx IN (SELECT ... ORDER BY idx FOR UPDATE)`): the plan is then left to row
 * estimates, and a stale one ran that subquery once per row, 7 s to renew 3,000 claims. SQLite
 * has one connection, which serializes them anyway. Single-row writes (the guard's check,
 * giving one row back) hold no other lock while they wait, so they need no turn.
 */
const turns = new WeakMap<Sql, Effect.Semaphore>()
const ownRowsWrite = <A, E, R>(s: Sql, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  let turn = turns.get(s)
  if (turn === undefined) {
    turn = Effect.unsafeMakeSemaphore(1)
    turns.set(s, turn)
  }
  return turn.withPermits(1)(effect)
}

/** What an outcome stores, written in the statement that marks its item done. */
export interface Finish {
  readonly index: number
  readonly outcome: "succeeded" | "failed" | "unknown"
  readonly status: number | undefined
  readonly error: string | null
  readonly value: string | null
  readonly bytes: number
  readonly startAt: number
  readonly durationMs: number
  readonly attempts: number
  readonly finishedAt: number
}

export interface Claimed {
  readonly index: number
  readonly item: string
  /** A non-idempotent request was (maybe) sent by a worker that lost its claim. */
  readonly sent: boolean
}

const items = (s: Sql) => s.sql(tables.items)
const skipLocked = (s: Sql) => s.sql.literal(s.isPg ? " FOR UPDATE SKIP LOCKED" : "")

export const findBatch = (s: Sql, name: string) =>
  Effect.map(
    s.sql<{ readonly digest: string | null; readonly total: number | string }>`SELECT digest, total FROM ${s.sql(tables.batch)} WHERE name = ${name}`,
    (rows) => rows[0] === undefined ? undefined : { digest: rows[0].digest, total: num(rows[0].total) }
  )

export const startLoad = (s: Sql, name: string, now: number) =>
  s.sql`INSERT INTO ${s.sql(tables.batch)} (name, digest, total, created_at) VALUES (${name}, NULL, 0, ${now}) ON CONFLICT DO NOTHING`

/**
 * Inserts rows not there yet, in one statement (atomic by itself); returns how many were new.
 * On SQLite the chunk is one JSON parameter read with `json_each` (a short statement to prepare).
 *
 * No explicit transaction on SQLite: `@libsql/client` hands its connection to a transaction and
 * opens a new one for the next statement, and those connections stayed in native memory (a
 * million-row load grew past 600 MiB); one statement per chunk is as atomic and stays flat.
 */
export const insertChunk = (s: Sql, name: string, rows: ReadonlyArray<readonly [number, string]>): Effect.Effect<number, SqlError> => {
  if (rows.length === 0) return Effect.succeed(0)
  const insert = s.isPg
    ? s.sql<{ readonly idx: number }>`INSERT INTO ${items(s)} ${
      s.sql.insert(rows.map(([idx, item]) => ({ batch: name, idx, item, state: "pending", claims: 0 })))
    } ON CONFLICT DO NOTHING RETURNING idx`
    : s.sql<{ readonly idx: number }>`INSERT INTO ${items(s)} (batch, idx, item, state, claims)
      SELECT ${name}, json_extract(value, '$[0]'), json_extract(value, '$[1]'), 'pending', 0 FROM json_each(${JSON.stringify(rows)}) WHERE true
      ON CONFLICT DO NOTHING RETURNING idx`
  return Effect.map(insert, (inserted) => inserted.length)
}

/** The items stored at positions `from`..`to` (inclusive), for checking a load that resumes one cut short. */
export const storedItems = (s: Sql, name: string, from: number, to: number) =>
  Effect.map(
    s.sql<{ readonly idx: number | string; readonly item: string }>`SELECT idx, item FROM ${items(s)}
      WHERE batch = ${name} AND idx >= ${from} AND idx <= ${to}`,
    (rows) => new Map(rows.map((row) => [num(row.idx), row.item]))
  )

/** Marks the load complete unless another loader did; returns the digest stored. */
export const completeLoad = (s: Sql, name: string, digest: string, total: number) =>
  Effect.gen(function*() {
    yield* s.sql`UPDATE ${s.sql(tables.batch)} SET digest = ${digest}, total = ${total} WHERE name = ${name} AND digest IS NULL`
    return (yield* findBatch(s, name))?.digest ?? null
  })

/**
 * Claims up to `n` rows: first claims whose lease passed (a worker died or stalled), then
 * pending rows in input order. SQLite runs one writer at a time, so each statement is atomic;
 * on PostgreSQL `FOR UPDATE SKIP LOCKED` lets concurrent claimers pass each other's rows.
 */
export const claim = (s: Sql, name: string, worker: string, now: number, lease: number, n: number) =>
  Effect.gen(function*() {
    const { sql } = s
    // The rows are picked once, in a CTE: as `idx IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`,
    // PostgreSQL may run the subquery again per row and claim far more than n.
    const materialized = sql.literal(s.isPg ? "MATERIALIZED " : "")
    const expired = yield* sql<{ readonly idx: number | string; readonly item: string; readonly sent_at: number | string | null }>`
      WITH picked AS ${materialized}(SELECT idx FROM ${items(s)} WHERE batch = ${name} AND state = 'claimed' AND lease_until < ${now}
        ORDER BY idx LIMIT ${n}${skipLocked(s)})
      UPDATE ${items(s)} SET acquired_by = ${worker}, lease_until = ${now + lease}, claimed_at = ${now}, claims = claims + 1
      WHERE batch = ${name} AND idx IN (SELECT idx FROM picked)
      RETURNING idx, item, sent_at`
    const fresh = expired.length >= n ? [] : yield* sql<{ readonly idx: number | string; readonly item: string; readonly sent_at: null }>`
      WITH picked AS ${materialized}(SELECT idx FROM ${items(s)} WHERE batch = ${name} AND state = 'pending'
        ORDER BY idx LIMIT ${n - expired.length}${skipLocked(s)})
      UPDATE ${items(s)} SET state = 'claimed', acquired_by = ${worker}, lease_until = ${now + lease}, claimed_at = ${now},
        sent_at = NULL, claims = claims + 1
      WHERE batch = ${name} AND idx IN (SELECT idx FROM picked)
      RETURNING idx, item, sent_at`
    return [...expired, ...fresh]
      .map((r): Claimed => ({ index: num(r.idx), item: r.item, sent: r.sent_at !== null }))
      .sort((a, b) => a.index - b.index)
  })

/**
 * Marks a non-idempotent request sent. On SQLite (synchronous = NORMAL) this commit alone
 * is synced (FULL), which makes it and every earlier commit survive power loss: such an
 * item is never resent, at worst its outcome is lost and it ends unknown. Only `pull` calls
 * this, one at a time, so nothing else resets the setting in between.
 */
export const markSent = (s: Sql, name: string, worker: string, index: number, now: number) => {
  const update = s.sql`UPDATE ${items(s)} SET sent_at = ${now} WHERE batch = ${name} AND idx = ${index} AND acquired_by = ${worker} AND state = 'claimed'`
  return s.isPg ? update : Effect.ensuring(
    Effect.zipRight(s.sql`PRAGMA synchronous = FULL`, update),
    Effect.ignore(s.sql`PRAGMA synchronous = NORMAL`)
  )
}

/**
 * Renews this worker's claims (and says it is alive), returning the indexes it still holds:
 * an index missing from the answer was taken over by another worker (its lease passed) or
 * finished.
 */
export const renew = (s: Sql, name: string, worker: string, now: number, lease: number) =>
  Effect.map(
    ownRowsWrite(s, Effect.zipLeft(
      s.sql<{ readonly idx: number | string }>`UPDATE ${items(s)} SET lease_until = ${now + lease}
        WHERE batch = ${name} AND state = 'claimed' AND acquired_by = ${worker} RETURNING idx`,
      s.sql`UPDATE ${s.sql(tables.workers)} SET seen_at = ${now} WHERE batch = ${name} AND worker = ${worker}`
    )),
    (rows) => new Set(rows.map((r) => num(r.idx)))
  )

/**
 * Whether this worker still holds the claim on `index`, renewing it when so (one atomic
 * statement: a claimer that took the row over changed `acquired_by` first, or waits for it).
 */
export const holds = (s: Sql, name: string, worker: string, index: number, now: number, lease: number) =>
  Effect.map(
    s.sql<{ readonly idx: number | string }>`UPDATE ${items(s)} SET lease_until = ${now + lease}
      WHERE batch = ${name} AND idx = ${index} AND state = 'claimed' AND acquired_by = ${worker} RETURNING idx`,
    (rows) => rows.length > 0
  )

export const registerWorker = (s: Sql, name: string, worker: string, host: string, pid: number, now: number) =>
  s.sql`INSERT INTO ${s.sql(tables.workers)} (batch, worker, host, pid, started_at, seen_at)
    VALUES (${name}, ${worker}, ${host}, ${pid}, ${now}, ${now}) ON CONFLICT DO NOTHING`

/**
 * Stores outcomes, up to 500 per statement (each statement is its own transaction). Each marks its row done only if this worker still
 * holds the claim, so an outcome is stored once even when a lease was lost; returns the
 * indexes stored.
 */
export const finish = (s: Sql, name: string, worker: string, rows: ReadonlyArray<Finish>): Effect.Effect<Set<number>, SqlError> =>
  Effect.map(
    Effect.forEach(chunksOf(rows, 500), (chunk) => ownRowsWrite(s, finishChunk(s, name, worker, chunk))),
    (results) => new Set(results.flat())
  )

const chunksOf = <A>(rows: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size))
  return out
}

/**
 * One statement for many rows, an UPDATE … FROM the rows' values. On PostgreSQL a VALUES
 * list. On SQLite one JSON parameter read with `json_each`: a VALUES list of 10 parameters per
 * row took longer to prepare (libsql prepares every statement anew) than to run. And
 * `+state` keeps the (batch, state, idx) index out of SQLite's plan: with it, SQLite scanned
 * every claimed row and, for each, all the values (claimed rows x group size: 2x the CPU of
 * the rest of the statement at 200 rows, worse as groups grow); without it, each value finds
 * its row by primary key.
 */
const finishChunk = (s: Sql, name: string, worker: string, rows: ReadonlyArray<Finish>) => {
  const { sql } = s
  const t = items(s)
  const set = sql.literal(`state = 'done', outcome = v.outcome, status = CAST(v.status AS INTEGER), error = v.error, value = v.value,
    bytes = CAST(v.bytes AS BIGINT), start_at = CAST(v.start_at AS BIGINT), duration_ms = CAST(v.duration_ms AS DOUBLE PRECISION),
    attempts = CAST(v.attempts AS INTEGER), finished_at = CAST(v.finished_at AS BIGINT), acquired_by = NULL, lease_until = NULL`)
  const statement = s.isPg
    ? sql<{ readonly idx: number | string }>`WITH v (idx, outcome, status, error, value, bytes, start_at, duration_ms, attempts, finished_at) AS (VALUES ${
      sql.csv(rows.map((r) =>
        sql`(${r.index}, ${r.outcome}, ${r.status ?? null}, ${r.error}, ${r.value}, ${r.bytes}, ${r.startAt}, ${r.durationMs}, ${r.attempts}, ${r.finishedAt})`
      ))
    })
      UPDATE ${t} SET ${set}, worker = ${worker}
      FROM v WHERE ${t}.batch = ${name} AND ${t}.idx = CAST(v.idx AS BIGINT) AND ${t}.acquired_by = ${worker} AND ${t}.state = 'claimed'
      RETURNING ${t}.idx`
    : sql<{ readonly idx: number | string }>`WITH v AS MATERIALIZED (SELECT json_extract(value, '$[0]') AS idx, json_extract(value, '$[1]') AS outcome,
        json_extract(value, '$[2]') AS status, json_extract(value, '$[3]') AS error, json_extract(value, '$[4]') AS value,
        json_extract(value, '$[5]') AS bytes, json_extract(value, '$[6]') AS start_at, json_extract(value, '$[7]') AS duration_ms,
        json_extract(value, '$[8]') AS attempts, json_extract(value, '$[9]') AS finished_at
      FROM json_each(${
      JSON.stringify(rows.map((r) => [r.index, r.outcome, r.status ?? null, r.error, r.value, r.bytes, r.startAt, r.durationMs, r.attempts, r.finishedAt]))
    }))
      UPDATE ${t} SET ${set}, worker = ${worker}
      FROM v WHERE ${t}.batch = ${name} AND ${t}.idx = v.idx AND ${t}.acquired_by = ${worker} AND +${t}.state = 'claimed'
      RETURNING ${t}.idx`
  return Effect.map(statement, (done) => done.map((r) => num(r.idx)))
}

/**
 * Gives back this worker's claims: rows never sent become pending at once; rows whose
 * non-idempotent request was sent stay claimed with a lease already over, so whoever claims
 * them next records them unknown instead of sending them again.
 */
export const release = (s: Sql, name: string, worker: string) =>
  ownRowsWrite(s, Effect.zipRight(
    s.sql`UPDATE ${items(s)} SET state = 'pending', acquired_by = NULL, lease_until = NULL
      WHERE batch = ${name} AND state = 'claimed' AND acquired_by = ${worker} AND sent_at IS NULL`,
    s.sql`UPDATE ${items(s)} SET lease_until = 0 WHERE batch = ${name} AND state = 'claimed' AND acquired_by = ${worker}`
  ))

/** {@link release} of one row, if this worker still holds it (a row it stopped working on). */
export const releaseOne = (s: Sql, name: string, worker: string, index: number) =>
  s.sql`UPDATE ${items(s)} SET state = 'pending', acquired_by = NULL, lease_until = NULL
    WHERE batch = ${name} AND idx = ${index} AND state = 'claimed' AND acquired_by = ${worker} AND sent_at IS NULL`

/** Rows still pending, and rows claimed by other workers (alive, or until their lease passes). */
export const remaining = (s: Sql, name: string, worker: string) =>
  Effect.map(
    s.sql<{ readonly state: string; readonly n: number | string }>`
      SELECT state, COUNT(*) AS n FROM ${items(s)}
      WHERE batch = ${name} AND (state = 'pending' OR (state = 'claimed' AND (acquired_by IS NULL OR acquired_by <> ${worker})))
      GROUP BY state`,
    (rows) => {
      let pending = 0
      let claimedByOthers = 0
      for (const r of rows) {
        if (r.state === "pending") pending = num(r.n)
        else claimedByOthers = num(r.n)
      }
      return { pending, claimedByOthers }
    }
  )

const recordColumns = (s: Sql) =>
  s.sql.literal("idx, item, state, outcome, status, error, value, bytes, start_at, duration_ms, attempts, worker, finished_at")

/** Done rows in input order from `after` (exclusive), at most `limit`. */
export const doneRows = (s: Sql, name: string, after: number, limit: number) =>
  s.sql<ItemRow>`SELECT ${recordColumns(s)} FROM ${items(s)} WHERE batch = ${name} AND state = 'done' AND idx > ${after}
    ORDER BY idx LIMIT ${limit}`

/**
 * The done rows right after `after` up to the first row not done (at most `limit`): what
 * can be printed in input order now. Two index lookups find the first row not done.
 */
export const donePrefix = (s: Sql, name: string, after: number, limit: number) =>
  Effect.gen(function*() {
    const firsts = yield* s.sql<{ readonly first: number | string | null }>`
      SELECT MIN(idx) AS first FROM ${items(s)} WHERE batch = ${name} AND state = 'pending' AND idx > ${after}
      UNION ALL SELECT MIN(idx) AS first FROM ${items(s)} WHERE batch = ${name} AND state = 'claimed' AND idx > ${after}`
    const bound = Math.min(after + limit, ...firsts.map((r) => r.first === null ? Infinity : num(r.first) - 1))
    if (bound <= after) return [] as ReadonlyArray<ItemRow>
    return yield* s.sql<ItemRow>`SELECT ${recordColumns(s)} FROM ${items(s)} WHERE batch = ${name} AND state = 'done'
      AND idx > ${after} AND idx <= ${bound} ORDER BY idx`
  })

/**
 * The live progress lines' counts: items done by any worker, how many of them did not
 * succeed, and how many a worker other than `worker` did (all of them when none is named).
 * One statement, read once a second.
 */
export const doneCounts = (s: Sql, name: string, worker = "") =>
  Effect.map(
    s.sql<{ readonly n: number | string; readonly failed: number | string | null; readonly others: number | string | null }>`
      SELECT COUNT(*) AS n, SUM(CASE WHEN outcome = 'succeeded' THEN 0 ELSE 1 END) AS failed,
        SUM(CASE WHEN worker <> ${worker} THEN 1 ELSE 0 END) AS others
      FROM ${items(s)} WHERE batch = ${name} AND state = 'done'`,
    (rows) => ({ done: num(rows[0]?.n ?? 0), failed: num(rows[0]?.failed ?? 0), others: num(rows[0]?.others ?? 0) })
  )

/** Done rows in the order they finished, from the position `(finishedAt, idx)` exclusive. */
export const doneRowsByFinish = (s: Sql, name: string, after: readonly [number, number], limit: number) =>
  s.sql<ItemRow>`SELECT ${recordColumns(s)} FROM ${items(s)} WHERE batch = ${name} AND state = 'done'
    AND (finished_at > ${after[0]} OR (finished_at = ${after[0]} AND idx > ${after[1]}))
    ORDER BY finished_at, idx LIMIT ${limit}`

export const retry = (s: Sql, name: string, outcomes: ReadonlyArray<string>) =>
  Effect.map(
    s.sql<{ readonly idx: number | string }>`UPDATE ${items(s)} SET state = 'pending', outcome = NULL, status = NULL, error = NULL,
      value = NULL, bytes = NULL, start_at = NULL, duration_ms = NULL, attempts = NULL, worker = NULL, finished_at = NULL,
      sent_at = NULL, acquired_by = NULL, lease_until = NULL
      WHERE batch = ${name} AND state = 'done' AND ${s.sql.in("outcome", outcomes)} RETURNING idx`,
    (rows) => rows.length
  )
