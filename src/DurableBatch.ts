/**
 * A batch whose items and outcomes live in a database, run by one process or many.
 *
 * The same engines and URLs as `DurableJobs`: a SQLite file (`file:PATH`, the default) or
 * PostgreSQL (`postgres://…`) for workers on several machines.
 *
 * - {@link load} stores a list under a name (by default derived from its content), in chunks
 *   and flat memory; loading it again attaches to it and adds nothing.
 * - {@link stream} and {@link settle} run it here: rows are claimed in chunks under a lease
 *   renewed while they run and handed to `Batch.stream` with the caller's options, so every
 *   Batch rule (concurrency, per-host limits, rate, retries, deadlines) applies, per process.
 *   Each outcome is stored in the statement that marks its row done, many per transaction.
 * - A worker that dies loses its claims when their lease passes, and another worker takes
 *   them over. A non-idempotent request (POST, PATCH… without an `Idempotency-Key`) that
 *   may have been sent by a worker that stopped is never sent again: it ends `unknown`.
 * - {@link results}, {@link status} and {@link retry} read and requeue what is stored.
 *
 * ```ts
 * const { name } = yield* DurableBatch.load(urls)
 * const records = yield* DurableBatch.settle(name, { concurrency: 32, perHost: 4 })
 * ```
 *
 * Items and handler values are stored as JSON: use plain data.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type * as Batch from "./Batch.js"
import type { Client } from "./Client.js"
import { type DatabaseOpenError, type DatabaseUrlError, defaultDatabaseUrl } from "./server/DurableJobs.js"
import { open } from "./internal/durableBatch/database.js"
import { BatchConflict, BatchNotFound, BatchStoreError, storeError } from "./internal/durableBatch/errors.js"
import * as loading from "./internal/durableBatch/load.js"
import * as read from "./internal/durableBatch/read.js"
import { run } from "./internal/durableBatch/run.js"

export {
  /**
   * A name already holds a different list.
   *
   * @since 0.1.0
   */
  BatchConflict,
  /**
   * No batch has this name in the database.
   *
   * @since 0.1.0
   */
  BatchNotFound,
  /**
   * A statement failed while the batch ran or was read.
   *
   * @since 0.1.0
   */
  BatchStoreError
}

/**
 * The opened database of durable batches.
 *
 * @since 0.1.0
 */
export interface Store {
  /** The database, as printed (a file path, or a URL with its password hidden). */
  readonly database: string
  readonly sql: SqlClient.SqlClient
  readonly isPg: boolean
}

/**
 * @since 0.1.0
 * @category tags
 */
export class DurableBatchStore extends Context.Tag("volley/DurableBatch/Store")<DurableBatchStore, Store>() {}

/**
 * Opens `file:PATH` (SQLite) or `postgres://…` and creates the tables if missing. A bad URL is
 * a `DatabaseUrlError`; an unreachable server or a file that is not a database a
 * `DatabaseOpenError` naming it and the driver's reason.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (url: string): Layer.Layer<DurableBatchStore, DatabaseUrlError | DatabaseOpenError> =>
  Layer.scoped(DurableBatchStore, open(url))

/**
 * {@link layer} of `VOLLEY_DB`, else of `file:.volley/volley.db`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<DurableBatchStore, DatabaseUrlError | DatabaseOpenError> = Layer.unwrapEffect(
  Effect.sync(() => layer(process.env["VOLLEY_DB"] || defaultDatabaseUrl))
)

/**
 * A stored list, after {@link load}.
 *
 * @since 0.1.0
 */
export interface Loaded {
  readonly name: string
  readonly total: number
  /** Items this load inserted: 0 when the list was already stored. */
  readonly added: number
}

/**
 * A stored failure: the error's tag, network reason and phase, and its one-line message.
 * `_tag: "Unknown"` marks a request that may or may not have been applied.
 *
 * @since 0.1.0
 */
export interface Failure {
  readonly _tag: string
  readonly message: string
  readonly reason?: string
  readonly phase?: string
}

/**
 * What became of one stored item. A `Batch.Tallied`, so `Batch.summarize` and `Batch.tally`
 * take records as they take outcomes.
 *
 * @since 0.1.0
 */
export interface Record<I, A> {
  /** Position of the item in the loaded list. */
  readonly index: number
  readonly item: I
  /**
   * `succeeded`, `failed`, or `unknown`: a non-idempotent request that was in flight when its
   * worker stopped, not sent again.
   */
  readonly outcome: "succeeded" | "failed" | "unknown"
  readonly result: Either.Either<A, Failure>
  readonly status: number | undefined
  readonly bytes: number
  /** When the item's first request was sent, epoch ms (Clock time of the worker). */
  readonly startMs: number
  readonly durationMs: number
  readonly attempts: number
  /** The worker that stored it (`host:pid:id`). */
  readonly worker: string
  /** When it was stored, epoch ms. */
  readonly finishedAt: number
}

/**
 * How this process runs a stored batch: Batch's options, plus the claim's.
 *
 * @since 0.1.0
 */
export interface RunOptions<I, A, E, R> extends Batch.Options<I, A, E, R> {
  /** How long a claim lasts without renewal; another worker takes the items over after it (default 30 s). */
  readonly lease?: Duration.DurationInput | undefined
  /** Items claimed at once (default `max(4 × concurrency, 128)`); one more chunk is claimed ahead. */
  readonly claimSize?: number | undefined
  /** How often to look again while other workers hold the last claims (default 200 ms). */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Most outcomes stored per transaction (default 256). */
  readonly flushSize?: number | undefined
  /** Longest an outcome waits to be stored with others (default 50 ms). */
  readonly flushInterval?: Duration.DurationInput | undefined
  /** This worker's name in the store (default `host:pid:random`). */
  readonly worker?: string | undefined
}

/**
 * The counts and workers of a stored batch.
 *
 * @since 0.1.0
 */
export interface Status {
  readonly name: string
  readonly total: number
  readonly pending: number
  /** Claimed under a live lease. */
  readonly running: number
  /** Claimed, lease passed: the worker stopped; the next claim takes them over. */
  readonly expired: number
  readonly succeeded: number
  readonly failed: number
  readonly unknown: number
  readonly done: number
  /** Items per second: from the first start to the last outcome, and over the last minute. */
  readonly throughput: { readonly overall: number; readonly lastMinute: number }
  readonly workers: ReadonlyArray<{
    readonly worker: string
    readonly host: string
    readonly pid: number
    readonly startedAt: number
    readonly seenAt: number
    readonly done: number
  }>
  readonly oldestClaim: { readonly index: number; readonly worker: string; readonly claimedAt: number } | undefined
}

const toStream = <I, IE, IR>(inputs: Iterable<I> | Stream.Stream<I, IE, IR>): Stream.Stream<I, IE, IR> =>
  typeof inputs === "object" && inputs !== null && Stream.StreamTypeId in inputs
    ? (inputs as Stream.Stream<I, IE, IR>)
    : Stream.fromIterable(inputs as Iterable<I>)

/**
 * Stores a list under `name` (default: `list-` and the start of the list's SHA-256). Loading
 * the same list again attaches to it and adds nothing; a different list under a stored name
 * fails with `BatchConflict`. Inputs are read in chunks (flat memory), twice when no name is
 * given (once to name them) or when the name is stored already (to compare).
 *
 * @since 0.1.0
 */
export const load = <I, IE = never, IR = never>(
  inputs: Iterable<I> | Stream.Stream<I, IE, IR>,
  options: { readonly name?: string | undefined } = {}
): Effect.Effect<Loaded, BatchConflict | BatchStoreError | IE, DurableBatchStore | IR> =>
  Effect.gen(function*() {
    const s = yield* DurableBatchStore
    const encoded = Stream.map(toStream(inputs), (item) => JSON.stringify(item))
    const known = options.name === undefined ? yield* loading.digestOf(encoded) : undefined
    const name = options.name ?? loading.nameOf(known!.digest)
    return yield* loading.load(s, name, encoded, known).pipe(
      Effect.mapError((e) => e instanceof SqlError ? storeError(`loading ${JSON.stringify(name)}`)(e) : e)
    )
  })

/**
 * Runs the stored batch `name` in this process, with other workers if any, and emits each
 * record this process stored, as stored. Ends when no item is left pending or claimed by
 * another worker: a worker that died is waited for until its lease passes, then its items
 * are taken over. Ending the stream early releases this worker's unsent claims at once.
 *
 * @since 0.1.0
 */
export const stream = <I, A = Batch.Fetched, E = never, R = never>(
  name: string,
  options: RunOptions<I, A, E, R> = {}
): Stream.Stream<Record<I, A>, BatchNotFound | BatchStoreError | Batch.BatchDeadlineError, Client | R | DurableBatchStore> =>
  Stream.unwrap(Effect.map(
    Effect.tap(DurableBatchStore, (s) => read.exists(s, name, s.database)),
    (s) => run(s, name, options)
  ))

/**
 * Runs the stored batch to its end (see {@link stream}) and returns every record, whoever
 * stored it, in input order.
 *
 * @since 0.1.0
 */
export const settle = <I, A = Batch.Fetched, E = never, R = never>(
  name: string,
  options: RunOptions<I, A, E, R> = {}
): Effect.Effect<Array<Record<I, A>>, BatchNotFound | BatchStoreError | Batch.BatchDeadlineError, Client | R | DurableBatchStore> =>
  Effect.zipRight(Stream.runDrain(stream(name, options)), Stream.runCollect(results<I, A>(name))).pipe(
    Effect.map((chunk) => Array.from(chunk))
  )

/**
 * The stored records, in input order (default) or in the order they were stored; paged, so
 * any size streams in flat memory. Items not finished yet are left out.
 *
 * @since 0.1.0
 */
export const results = <I, A = Batch.Fetched>(
  name: string,
  options: { readonly order?: "input" | "finished" | undefined } = {}
): Stream.Stream<Record<I, A>, BatchNotFound | BatchStoreError, DurableBatchStore> =>
  Stream.unwrap(Effect.map(
    Effect.tap(DurableBatchStore, (s) => read.exists(s, name, s.database)),
    (s) => read.records<I, A>(s, name, options.order ?? "input")
  ))

/**
 * Counts by state and outcome, throughput, the workers seen and the oldest claim.
 *
 * @since 0.1.0
 */
export const status = (name: string): Effect.Effect<Status, BatchNotFound | BatchStoreError, DurableBatchStore> =>
  Effect.flatMap(DurableBatchStore, (s) => read.status(s, name, s.database))

/**
 * Queues again the items that failed (and, with `unknown: true`, those that ended unknown);
 * returns how many. Their stored outcomes are cleared.
 *
 * @since 0.1.0
 */
export const retry = (
  name: string,
  options: { readonly failed?: boolean | undefined; readonly unknown?: boolean | undefined } = {}
): Effect.Effect<number, BatchNotFound | BatchStoreError, DurableBatchStore> =>
  Effect.flatMap(DurableBatchStore, (s) => {
    const outcomes: Array<"failed" | "unknown"> = []
    if (options.failed !== false) outcomes.push("failed")
    if (options.unknown === true) outcomes.push("unknown")
    return read.retry(s, name, s.database, outcomes)
  })
