/**
 * Reading a stored batch: its records (in input order or as they finished, read in pages so
 * any size streams in flat memory), its counts and workers, and queueing items again.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Record, Status } from "../../DurableBatch.js"
import { BatchNotFound, type BatchStoreError, storeError } from "./errors.js"
import { recordOfRow } from "./records.js"
import { num, tables } from "./schema.js"
import * as store from "./store.js"

const page = 1_000

export const exists = (s: store.Sql, name: string, database: string): Effect.Effect<number, BatchNotFound | BatchStoreError> =>
  Effect.flatMap(Effect.mapError(store.findBatch(s, name), storeError("reading the batch")), (found) =>
    found === undefined ? Effect.fail(new BatchNotFound({ name, database })) : Effect.succeed(found.total))

/** Every finished record; in input order, or in the order the outcomes were stored. */
export const records = <I, A>(s: store.Sql, name: string, order: "input" | "finished"): Stream.Stream<Record<I, A>, BatchStoreError> =>
  (order === "input"
    ? Stream.paginateEffect(-1, (after) =>
      Effect.map(
        Effect.mapError(store.doneRows(s, name, after, page), storeError("reading records")),
        (rows) => {
          const done = rows.map((r) => recordOfRow<I, A>(r))
          return [done, rows.length < page ? Option.none() : Option.some(num(rows[rows.length - 1]!.idx))] as const
        }
      ))
    : Stream.paginateEffect([-1, -1] as readonly [number, number], (after) =>
      Effect.map(
        Effect.mapError(store.doneRowsByFinish(s, name, after, page), storeError("reading records")),
        (rows) => {
          const last = rows[rows.length - 1]
          return [
            rows.map((r) => recordOfRow<I, A>(r)),
            last === undefined || rows.length < page ? Option.none() : Option.some([num(last.finished_at), num(last.idx)] as const)
          ] as const
        }
      ))).pipe(Stream.flattenIterables)

export const status = (s: store.Sql, name: string, database: string): Effect.Effect<Status, BatchNotFound | BatchStoreError> =>
  Effect.gen(function*() {
    const total = yield* exists(s, name, database)
    const now = yield* Clock.currentTimeMillis
    const { sql } = s
    const items = sql(tables.items)
    const read = <A>(what: string, effect: Effect.Effect<A, import("@effect/sql/SqlError").SqlError>) => Effect.mapError(effect, storeError(what))
    const counts = yield* read("counting items", sql<{ readonly state: string; readonly outcome: string | null; readonly live: number | string; readonly n: number | string }>`
      SELECT state, outcome, CASE WHEN state = 'claimed' AND lease_until >= ${now} THEN 1 ELSE 0 END AS live, COUNT(*) AS n
      FROM ${items} WHERE batch = ${name} GROUP BY 1, 2, 3`)
    const out = { pending: 0, running: 0, expired: 0, succeeded: 0, failed: 0, unknown: 0 }
    for (const c of counts) {
      const n = num(c.n)
      if (c.state === "pending") out.pending += n
      else if (c.state === "claimed") num(c.live) === 1 ? (out.running += n) : (out.expired += n)
      else if (c.outcome === "succeeded") out.succeeded += n
      else if (c.outcome === "failed") out.failed += n
      else out.unknown += n
    }
    const span = yield* read("reading timings", sql<{ readonly first: number | string | null; readonly last: number | string | null; readonly recent: number | string }>`
      SELECT MIN(start_at) AS first, MAX(finished_at) AS last,
        SUM(CASE WHEN finished_at >= ${now - 60_000} THEN 1 ELSE 0 END) AS recent
      FROM ${items} WHERE batch = ${name} AND state = 'done'`)
    const done = out.succeeded + out.failed + out.unknown
    const first = span[0]?.first ?? null
    const last = span[0]?.last ?? null
    const elapsed = first === null || last === null ? 0 : num(last) - num(first)
    const workers = yield* read("reading workers", sql<{ readonly worker: string; readonly host: string; readonly pid: number | string; readonly started_at: number | string; readonly seen_at: number | string }>`
      SELECT worker, host, pid, started_at, seen_at FROM ${sql(tables.workers)} WHERE batch = ${name} ORDER BY started_at`)
    const perWorker = yield* read("counting per worker", sql<{ readonly worker: string | null; readonly n: number | string }>`
      SELECT worker, COUNT(*) AS n FROM ${items} WHERE batch = ${name} AND state = 'done' GROUP BY worker`)
    const doneBy = new Map(perWorker.map((w) => [w.worker ?? "", num(w.n)]))
    const oldest = yield* read("finding the oldest claim", sql<{ readonly idx: number | string; readonly acquired_by: string | null; readonly claimed_at: number | string | null }>`
      SELECT idx, acquired_by, claimed_at FROM ${items} WHERE batch = ${name} AND state = 'claimed' ORDER BY claimed_at, idx LIMIT 1`)
    return {
      name,
      total,
      ...out,
      done,
      throughput: { overall: elapsed > 0 ? (done * 1000) / elapsed : 0, lastMinute: num(span[0]?.recent ?? 0) / 60 },
      workers: workers.map((w) => ({
        worker: w.worker,
        host: w.host,
        pid: num(w.pid),
        startedAt: num(w.started_at),
        seenAt: num(w.seen_at),
        done: doneBy.get(w.worker) ?? 0
      })),
      oldestClaim: oldest[0] === undefined ? undefined : {
        index: num(oldest[0].idx),
        worker: oldest[0].acquired_by ?? "",
        claimedAt: num(oldest[0].claimed_at)
      }
    }
  })

export const retry = (s: store.Sql, name: string, database: string, outcomes: ReadonlyArray<"failed" | "unknown">) =>
  Effect.zipRight(exists(s, name, database), Effect.mapError(store.retry(s, name, outcomes), storeError("queueing items again")))
