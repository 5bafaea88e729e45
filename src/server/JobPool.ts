/**
 * Supervised background jobs: the answer to `go delegate(w)` in a handler.
 *
 * A handler that has work to do after it answers submits a job and returns its response at
 * once. The job runs on one of a fixed number of workers that live in the pool's Layer scope,
 * not in the request's, so it outlives the request and never touches its response. The queue
 * is bounded: when it is full, `submit` fails with {@link JobQueueFull} (which a handler turns
 * into 503 + Retry-After) instead of growing without limit.
 *
 * Every job has an id, a per-attempt timeout and an optional retry policy; every failure and
 * defect is logged with the job's name, id and cause, and counted in metrics. When the scope
 * closes the pool stops accepting, lets queued and running jobs finish within `drainTimeout`,
 * then interrupts what is left and reports exactly which jobs did not complete.
 *
 * All waiting goes through Effect's Clock, so tests drive timeouts, backoff and the drain
 * deadline with `TestClock`.
 *
 * @since 0.1.0
 */
import type * as Brand from "effect/Brand"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { TaggedError } from "../Errors.js"
import * as internal from "./internal/jobPool.js"

/**
 * Identifies one submitted job in logs, stats and drain reports (`<pool>-<n>`).
 *
 * @category models
 * @since 0.1.0
 */
export type JobId = Brand.Branded<string, "volley/JobId">

/**
 * How a failed attempt is retried: any Effect `Schedule` fed with the attempt's error, or the
 * shorthand `{ times, base }` = up to `times` retries with exponential backoff from `base`
 * (default 100 ms). Defects and interruptions are never retried.
 *
 * @category models
 * @since 0.1.0
 */
export type JobRetry<E> =
  | Schedule.Schedule<unknown, E>
  | { readonly times: number; readonly base?: Duration.DurationInput }

/**
 * A unit of background work.
 *
 * `run` may use any service the submitting fiber has (its context is captured at submit
 * time) but gets its own Scope: the request's scope closing must not finalize the job's
 * resources.
 *
 * @category models
 * @since 0.1.0
 */
export interface Job<E = never, R = never> {
  /** Shown in logs and metrics; keep it low-cardinality (`"send-welcome-email"`, not an address). */
  readonly name: string
  readonly run: Effect.Effect<void, E, R>
  /** Bounds each attempt; a late attempt fails with {@link JobTimeout}. Defaults to the pool's `timeout`. */
  readonly timeout?: Duration.DurationInput | "none"
  /** Retries failed attempts (timeouts included). Defaults to the pool's `retry`, else none. */
  readonly retry?: JobRetry<E | JobTimeout>
}

/**
 * `submit` found the queue full. `retryAfter` is the pool's hint for when to try again,
 * meant for a `Retry-After` header on a 503.
 *
 * @category errors
 * @since 0.1.0
 */
export class JobQueueFull extends TaggedError("JobQueueFull")<{
  readonly pool: string
  readonly capacity: number
  readonly retryAfter: Duration.Duration
}> {
  override get message(): string {
    return `job pool ${this.pool}: queue full (${this.capacity} jobs), retry after ${Duration.format(this.retryAfter)}`
  }
}

/**
 * `submit` was called after the pool began shutting down.
 *
 * @category errors
 * @since 0.1.0
 */
export class JobPoolClosed extends TaggedError("JobPoolClosed")<{
  readonly pool: string
}> {
  override get message(): string {
    return `job pool ${this.pool}: closed, not accepting jobs`
  }
}

/**
 * One attempt of a job ran longer than its timeout and was interrupted.
 *
 * @category errors
 * @since 0.1.0
 */
export class JobTimeout extends TaggedError("JobTimeout")<{
  readonly jobId: JobId
  /** The job's name (`name` is taken by `Error`). */
  readonly job: string
  readonly timeout: Duration.Duration
}> {
  override get message(): string {
    return `job ${this.job} (${this.jobId}): attempt timed out after ${Duration.format(this.timeout)}`
  }
}

/**
 * Counters since the pool started (`queued` and `running` are current values).
 *
 * @category models
 * @since 0.1.0
 */
export interface JobStats {
  readonly queued: number
  readonly running: number
  readonly succeeded: number
  /** Jobs that exhausted their retries, timed out for good, or died. */
  readonly failed: number
  /** Submissions refused: queue full or pool closed. */
  readonly rejected: number
}

/**
 * A job that had not completed when the drain deadline passed: `running` jobs were
 * interrupted, `queued` ones never started.
 *
 * @category models
 * @since 0.1.0
 */
export interface AbandonedJob {
  readonly id: JobId
  readonly name: string
  readonly state: "running" | "queued"
}

/**
 * What the shutdown drain achieved.
 *
 * @category models
 * @since 0.1.0
 */
export interface DrainReport {
  /** Jobs (queued or running when the drain began) that finished, successfully or not. */
  readonly completed: number
  readonly abandoned: ReadonlyArray<AbandonedJob>
  /** Whether `drainTimeout` passed before the pool was idle. */
  readonly timedOut: boolean
}

/**
 * The pool as seen by handlers.
 *
 * @category models
 * @since 0.1.0
 */
export interface JobPoolService {
  /** The pool's name, used in job ids, logs and metric tags. */
  readonly name: string
  /** Queues a job and returns its id at once; never waits for a free slot or for the job. */
  readonly submit: <E, R>(job: Job<E, R>) => Effect.Effect<JobId, JobQueueFull | JobPoolClosed, Exclude<R, Scope.Scope>>
  readonly stats: Effect.Effect<JobStats>
  /** Waits until the pool has drained (its scope closed) and tells how it went. */
  readonly drained: Effect.Effect<DrainReport>
}

/**
 * The background job pool service.
 *
 * @category tags
 * @since 0.1.0
 */
export class JobPool extends Context.Tag("volley/JobPool")<JobPool, JobPoolService>() {}

/**
 * Pool configuration.
 *
 * @category models
 * @since 0.1.0
 */
export interface JobPoolOptions {
  /** Names the pool in job ids, logs and metric tags. Default `"jobs"`. */
  readonly name?: string
  /** Jobs run at the same time. Default 4. */
  readonly workers?: number
  /** Jobs waiting for a worker; one more is refused with {@link JobQueueFull}. Default 100. */
  readonly capacity?: number
  /** The hint carried by {@link JobQueueFull}. Default 1 second. */
  readonly retryAfter?: Duration.DurationInput
  /** Per-attempt timeout of jobs that set none; `"none"` disables it. Default 1 minute. */
  readonly timeout?: Duration.DurationInput | "none"
  /** Retry policy of jobs that set none. Default: no retries (a job may not be idempotent). */
  readonly retry?: JobRetry<unknown>
  /**
   * How long queued and running jobs get to finish when the pool shuts down; then running
   * jobs are interrupted (and awaited: an uninterruptible section delays shutdown) and queued
   * ones dropped. Default 15 seconds: after the server's 10 s drain, shutdown still fits a
   * 30 s SIGTERM grace period.
   */
  readonly drainTimeout?: Duration.DurationInput
}

/**
 * The defaults of {@link JobPoolOptions}.
 *
 * @category job pool
 * @since 0.1.0
 */
export const defaults = {
  name: "jobs",
  workers: 4,
  capacity: 100,
  retryAfter: Duration.seconds(1),
  timeout: Duration.minutes(1),
  drainTimeout: Duration.seconds(15)
} as const

// Metrics are global (Effect's registry); the `pool` tag keeps pools apart.
const queuedGauge = Metric.gauge("volley_jobs_queued", { description: "Jobs waiting for a worker" })
const runningGauge = Metric.gauge("volley_jobs_running", { description: "Jobs running now" })
const succeededCounter = Metric.counter("volley_jobs_succeeded_total", { description: "Jobs that succeeded" })
const failedCounter = Metric.counter("volley_jobs_failed_total", { description: "Jobs that failed for good" })
const rejectedCounter = Metric.counter("volley_jobs_rejected_total", { description: "Submissions refused (tag reason)" })
const abandonedCounter = Metric.counter("volley_jobs_abandoned_total", { description: "Jobs cut off by the drain deadline" })
const durationTimer = Metric.timerWithBoundaries(
  "volley_job_duration",
  [5, 25, 100, 250, 1_000, 5_000, 30_000, 120_000],
  "Job run time in milliseconds, retries included"
)

/**
 * Metric keys the pool reports to, for exporters and tests: tag them with `pool` (and
 * `reason` = `full` | `closed` for `rejected`; `job` for `duration`) to read one series.
 *
 * @category job pool
 * @since 0.1.0
 */
export const metrics = {
  queued: queuedGauge,
  running: runningGauge,
  succeeded: succeededCounter,
  failed: failedCounter,
  rejected: rejectedCounter,
  abandoned: abandonedCounter,
  duration: durationTimer
} as const

/**
 * Builds a pool whose workers live in the current Scope; closing the scope drains it.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: JobPoolOptions = {}): Effect.Effect<JobPoolService, never, Scope.Scope> => internal.make(options)

/**
 * The pool as a scoped Layer: workers start when it is built and drain when it is released.
 * Provide it *outside* the HTTP server layer so requests stop before jobs drain (see
 * `GracefulServer`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: JobPoolOptions = {}): Layer.Layer<JobPool> => Layer.scoped(JobPool, make(options))

/**
 * Submits a job to the pool in context. See {@link JobPoolService.submit}.
 *
 * @category job pool
 * @since 0.1.0
 */
export const submit = <E, R>(job: Job<E, R>): Effect.Effect<JobId, JobQueueFull | JobPoolClosed, JobPool | Exclude<R, Scope.Scope>> =>
  Effect.flatMap(JobPool, (pool) => pool.submit(job))
