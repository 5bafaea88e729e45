/**
 * Background jobs that survive a crash and can be shared by several processes: the durable
 * sibling of {@link JobPool} (which stays for ephemeral work).
 *
 * A job is a named kind with a `Schema` payload (a closure cannot be stored) and a handler
 * registered when the layer is built. `submit` returns once the job is stored, in the caller's
 * transaction if it has one, so a row and its job commit or roll back together. Delivery is at
 * least once; a job submitted twice with the same key is stored once. Workers claim jobs under
 * a lease: if a process dies, its jobs run elsewhere (or on restart) once the lease expires.
 * A failed attempt is retried after a backoff whose next-run time is stored, so a restart does
 * not reset it; a job out of retries is kept as a dead letter with its error, listable and
 * re-queueable.
 *
 * The engine is `@effect/experimental`'s `PersistedQueue` over `@effect/sql`: SQLite (libsql,
 * one file, no server) by default, PostgreSQL to scale out. See `internal/jobStore.ts` for the
 * store and why it is not `@effect/sql`'s stock one.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as Schema from "effect/Schema"
import * as JobPool from "./JobPool.js"
import * as internal from "./internal/durableJobs.js"
import type * as store from "./internal/jobStore.js"

/**
 * A kind of job: its name (stored with each job; keep it stable) and payload schema, and the
 * defaults of its attempts.
 *
 * @category models
 * @since 0.1.0
 */
export interface JobKind<A, I = A> {
  readonly name: string
  readonly payload: Schema.Schema<A, I>
  /** Bounds each attempt; a late attempt fails (and may be retried). Default: the layer's. */
  readonly timeout?: Duration.DurationInput | "none" | undefined
  /** Default: the layer's. */
  readonly retry?: DurableRetry | undefined
}

/**
 * Retries with exponential backoff: attempt `n` failed → wait `base * factor^(n-1)`, at most
 * `max`. A plain record, not a `Schedule`: the delay must be computable from the stored attempt
 * count alone, after a restart, where a `Schedule`'s state (in memory) is gone.
 *
 * @category models
 * @since 0.1.0
 */
export interface DurableRetry {
  /** Retries after the first attempt; `times + 1` attempts in all. */
  readonly times: number
  /** Default 1 second. */
  readonly base?: Duration.DurationInput | undefined
  /** Default 2. */
  readonly factor?: number | undefined
  /** Default 1 hour. */
  readonly max?: Duration.DurationInput | undefined
}

/**
 * Declares a job kind.
 *
 * @category durable jobs
 * @since 0.1.0
 */
export const kind = <A, I>(name: string, options: Omit<JobKind<A, I>, "name">): JobKind<A, I> => ({ name, ...options })

/**
 * What a handler learns about the job it runs.
 *
 * @category models
 * @since 0.1.0
 */
export interface JobInfo {
  /** `<kind>:<key>`. */
  readonly id: string
  /** 1 for the first attempt; counts attempts made before a crash too. */
  readonly attempt: number
}

/**
 * A job kind whatever its payload type (a `Schema` is invariant in its type).
 *
 * @category models
 * @since 0.1.0
 */
export type AnyJobKind = Omit<JobKind<never, never>, "payload"> & { readonly payload: Schema.Schema.AnyNoContext }

/**
 * A kind bound to the code that runs it. Build one with {@link handle}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Handler<R> {
  readonly kind: AnyJobKind
  readonly run: (payload: unknown, info: JobInfo) => Effect.Effect<void, unknown, R>
}

/**
 * Registers the code that runs jobs of `kind`. It must be idempotent (delivery is at least
 * once): key its side effects by `info.id`.
 *
 * @category durable jobs
 * @since 0.1.0
 */
export const handle = <A, I, E, R>(
  kind: JobKind<A, I>,
  run: (payload: A, info: JobInfo) => Effect.Effect<void, E, R>
): Handler<R> => ({ kind, run: run as Handler<R>["run"] })

/**
 * A job's state: `running` is `queued` with a live lease (some worker has it now).
 *
 * @category models
 * @since 0.1.0
 */
export type JobState = "queued" | "running" | "done" | "dead"

/**
 * One stored job as listed.
 *
 * @category models
 * @since 0.1.0
 */
export interface JobRecord {
  readonly id: string
  /** `"?"` for a row that is not a job envelope (written by something else; dead-lettered when claimed). */
  readonly kind: string
  /** The stored text itself when the row is not JSON. */
  readonly payload: unknown
  readonly state: JobState
  readonly attempts: number
  /** The last failed attempt's error (kept after a retry succeeds, for history). */
  readonly lastError: string | null
  /** Epoch milliseconds: when a queued job may run next (its backoff). */
  readonly runAfter: number
  readonly createdAt: number
  readonly updatedAt: number
}

/**
 * Counts by state, and the age of the oldest job not yet done (queued or running).
 *
 * @category models
 * @since 0.1.0
 */
export interface DurableStats {
  readonly queued: number
  readonly running: number
  readonly done: number
  readonly dead: number
  readonly oldestQueuedAgeMs: number | null
  /** Jobs this process is running now. */
  readonly runningHere: number
}

/**
 * A job left unfinished when the drain deadline passed. It stays stored: `running` ones were
 * interrupted and released, `queued` ones were never started; both run on the next start or
 * on another instance.
 *
 * @category models
 * @since 0.1.0
 */
export interface UnfinishedJob {
  readonly id: string
  readonly state: "running" | "queued"
}

/**
 * @category models
 * @since 0.1.0
 */
export interface DrainReport {
  readonly completed: number
  readonly abandoned: ReadonlyArray<UnfinishedJob>
  readonly timedOut: boolean
}

/**
 * The store could not be read or written.
 *
 * @category errors
 * @since 0.1.0
 */
export class JobStoreError extends Data.TaggedError("JobStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {
  override get message(): string {
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `job store: ${this.operation} failed: ${cause}`
  }
}

/**
 * `retry` named no dead letter.
 *
 * @category errors
 * @since 0.1.0
 */
export class JobNotFound extends Data.TaggedError("JobNotFound")<{ readonly id: string }> {
  override get message(): string {
    return `no dead job with id ${this.id}`
  }
}

/**
 * One attempt ran longer than its timeout and was interrupted. The attempt is recorded at the
 * timeout even when the handler does not stop (an uninterruptible region): it is interrupted
 * in the background, and its job retried or dead-lettered as usual.
 *
 * @category errors
 * @since 0.1.0
 */
export class DurableJobTimeout extends Data.TaggedError("DurableJobTimeout")<{
  readonly jobId: string
  readonly timeout: Duration.Duration
}> {}

/**
 * The durable queue as seen by handlers and tools.
 *
 * @category models
 * @since 0.1.0
 */
export interface DurableJobsService {
  /** Names the queue in the store, logs and metric tags (`pool`). */
  readonly name: string
  /**
   * Stores a job (in the caller's transaction, if any) and returns its id `<kind>:<key>`.
   * The same kind and key again stores nothing and returns the same id. Default key: random.
   */
  readonly submit: <A, I>(kind: JobKind<A, I>, payload: A, options?: { readonly key?: string | undefined }) => Effect.Effect<string, JobStoreError>
  readonly stats: Effect.Effect<DurableStats, JobStoreError>
  /** Oldest first; `limit` default 100. */
  readonly list: (options?: { readonly state?: JobState | undefined; readonly limit?: number | undefined }) => Effect.Effect<ReadonlyArray<JobRecord>, JobStoreError>
  /** Queues a dead letter again, with a fresh retry budget. */
  readonly retry: (id: string) => Effect.Effect<void, JobNotFound | JobStoreError>
  /** Waits until the layer has drained (its scope closed) and tells how it went. */
  readonly drained: Effect.Effect<DrainReport>
}

/**
 * @category tags
 * @since 0.1.0
 */
export class DurableJobs extends Context.Tag("volley/DurableJobs")<DurableJobs, DurableJobsService>() {}

/**
 * The job table and the reads and writes on it (over the `SqlClient` in context).
 *
 * @category tags
 * @since 0.1.0
 */
export class JobStore extends Context.Tag("volley/JobStore")<JobStore, store.JobStore>() {}

/**
 * @category models
 * @since 0.1.0
 */
export interface DurableJobsOptions<R> {
  readonly handlers: ReadonlyArray<Handler<R>>
  /** Default `"jobs"`. */
  readonly name?: string | undefined
  /** Jobs run at once by this process. Default 4; 0 runs none (a tool that only lists). */
  readonly workers?: number | undefined
  /** Per-attempt timeout of kinds that set none. Default 1 minute. */
  readonly timeout?: Duration.DurationInput | "none" | undefined
  /** Retry policy of kinds that set none. Default `{ times: 3 }`. */
  readonly retry?: DurableRetry | undefined
  /**
   * What shutdown waits for, up to `drainTimeout`, before it interrupts and releases what is
   * left (kept stored: nothing is lost):
   * - `"ready"` (default): keeps running jobs until none is ready, as `JobPool` drains its
   *   queue: one process on its own database sends what it accepted before it exits;
   * - `"claimed"`: stops claiming and finishes only the jobs it runs now: for one of several
   *   processes on a shared queue, whose queued jobs belong to the others.
   */
  readonly drain?: "ready" | "claimed" | undefined
  /** Default 15 s. */
  readonly drainTimeout?: Duration.DurationInput | undefined
  /** How often the depth and oldest-age gauges are read from the store. Default 1 s. */
  readonly metricsInterval?: Duration.DurationInput | undefined
}

/**
 * The queue's defaults.
 *
 * @category durable jobs
 * @since 0.1.0
 */
export const defaults = {
  name: "jobs",
  workers: 4,
  timeout: "1 minute",
  retry: { times: 3 },
  drainTimeout: "15 seconds",
  metricsInterval: "1 second"
} as const

/**
 * Metric keys (JobPool's, tagged `pool`, plus the durable ones): `queued` (depth), `running`,
 * `succeeded`, `failed` (dead-lettered), `retried`, `dead` (dead letters stored), `oldestAge`
 * (seconds), `duration` (per attempt, tagged `job`).
 *
 * @category durable jobs
 * @since 0.1.0
 */
export const metrics = {
  queued: JobPool.metrics.queued,
  running: JobPool.metrics.running,
  succeeded: JobPool.metrics.succeeded,
  failed: JobPool.metrics.failed,
  duration: JobPool.metrics.duration,
  retried: Metric.counter("volley_jobs_retried_total", { description: "Failed attempts scheduled for a retry" }),
  dead: Metric.gauge("volley_jobs_dead", { description: "Dead letters kept in the store" }),
  oldestAge: Metric.gauge("volley_jobs_oldest_age_seconds", { description: "Age of the oldest job not yet done" })
} as const

/**
 * Workers start when the layer is built and drain when it is released. Provide it outside the
 * HTTP server layer, like `JobPool`, so requests stop before jobs drain.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <R>(options: DurableJobsOptions<R>): Layer.Layer<DurableJobs, never, JobStore | R> => internal.layer(options)

/**
 * Opening the job database: `layerSqlite`, `layerPostgres`, `layerUrl`, `layerConfig`,
 * `parseDatabaseUrl`, `defaultDatabaseUrl`, the `Database`, `StoreOptions` models and the
 * `DatabaseUrlError`, `DatabaseOpenError` errors, declared in `JobDatabase.ts`.
 *
 * @category layers
 * @since 0.1.0
 */
export * from "./JobDatabase.js"
