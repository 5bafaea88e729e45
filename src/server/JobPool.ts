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
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Brand from "effect/Brand"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { TaggedError } from "../Errors.js"

/**
 * Identifies one submitted job in logs, stats and drain reports (`<pool>-<n>`).
 *
 * @since 0.1.0
 */
export type JobId = Brand.Branded<string, "volley/JobId">

const JobId = Brand.nominal<JobId>()

/**
 * How a failed attempt is retried: any Effect `Schedule` fed with the attempt's error, or the
 * shorthand `{ times, base }` = up to `times` retries with exponential backoff from `base`
 * (default 100 ms). Defects and interruptions are never retried.
 *
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
 * @since 0.1.0
 */
export class JobPool extends Context.Tag("volley/JobPool")<JobPool, JobPoolService>() {}

/**
 * Pool configuration.
 *
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

interface Entry {
  readonly id: JobId
  readonly name: string
  /** The job with timeout, retries, logging and the submitter's context applied. */
  readonly effect: Effect.Effect<void, unknown>
}

interface State {
  readonly closed: boolean
  readonly nextId: number
  readonly queued: number
  readonly running: ReadonlyMap<JobId, string>
  readonly succeeded: number
  readonly failed: number
  readonly rejected: number
  readonly abandoned: ReadonlyArray<AbandonedJob>
}

const withRunning = (running: ReadonlyMap<JobId, string>, f: (m: Map<JobId, string>) => void): ReadonlyMap<JobId, string> => {
  const next = new Map(running)
  f(next)
  return next
}

const toSchedule = <E>(retry: JobRetry<E>): Schedule.Schedule<unknown, E> =>
  Schedule.isSchedule(retry)
    ? retry as Schedule.Schedule<unknown, E>
    : Schedule.intersect(Schedule.exponential(retry.base ?? Duration.millis(100)), Schedule.recurs(Math.max(0, retry.times)))

/** The first jobs by name, the rest counted: thousands of ids in one log line help nobody (the annotation has them all). */
const listJobs = (jobs: ReadonlyArray<AbandonedJob>, shown = 20): string =>
  jobs.slice(0, shown).map((j) => `${j.id} (${j.name}, ${j.state})`).join(", ") +
  (jobs.length > shown ? `, …and ${jobs.length - shown} more` : "")

/** Services that belong to one HTTP request and must not be captured by a job that outlives it. */
const requestScoped = [
  HttpServerRequest.HttpServerRequest,
  HttpServerRequest.ParsedSearchParams,
  HttpRouter.RouteContext,
  Scope.Scope
] as const

/**
 * Builds a pool whose workers live in the current Scope; closing the scope drains it.
 *
 * @since 0.1.0
 */
export const make = (options: JobPoolOptions = {}): Effect.Effect<JobPoolService, never, Scope.Scope> =>
  Effect.gen(function*() {
    const name = options.name ?? defaults.name
    const workerCount = Math.max(1, Math.floor(options.workers ?? defaults.workers))
    const capacity = Math.max(1, Math.floor(options.capacity ?? defaults.capacity))
    const retryAfter = Duration.decode(options.retryAfter ?? defaults.retryAfter)
    const drainTimeout = Duration.decode(options.drainTimeout ?? defaults.drainTimeout)
    const defaultTimeout = options.timeout ?? defaults.timeout
    const defaultRetry = options.retry

    const queued = Metric.tagged(queuedGauge, "pool", name)
    const running = Metric.tagged(runningGauge, "pool", name)
    const succeeded = Metric.tagged(succeededCounter, "pool", name)
    const failed = Metric.tagged(failedCounter, "pool", name)
    const abandonedMetric = Metric.tagged(abandonedCounter, "pool", name)
    const rejectedFull = Metric.tagged(Metric.tagged(rejectedCounter, "pool", name), "reason", "full")
    const rejectedClosed = Metric.tagged(Metric.tagged(rejectedCounter, "pool", name), "reason", "closed")
    // Built once per job name: a tagged metric made per update misses the registry's cache.
    const durations = new Map<string, typeof durationTimer>()
    const durationFor = (job: string): typeof durationTimer => {
      let metric = durations.get(job)
      if (metric === undefined) {
        metric = Metric.tagged(Metric.tagged(durationTimer, "pool", name), "job", job)
        durations.set(job, metric)
      }
      return metric
    }

    const state = yield* Ref.make<State>({
      closed: false,
      nextId: 1,
      queued: 0,
      running: new Map(),
      succeeded: 0,
      failed: 0,
      rejected: 0,
      abandoned: []
    })
    // Slots are reserved in `state` before `offer` and released after `take`, so the queue
    // never holds more than `state.queued` entries and `offer` never suspends.
    const queue = yield* Queue.bounded<Entry>(capacity)
    // Completed once the pool is closed and nothing is queued or running.
    const idle = yield* Deferred.make<void>()
    const drainedReport = yield* Deferred.make<DrainReport>()

    const publishGauges = (s: State) =>
      Effect.zipRight(Metric.set(queued, s.queued), Metric.set(running, s.running.size))

    const isIdle = (s: State) => s.closed && s.queued === 0 && s.running.size === 0

    const submit = <E, R>(job: Job<E, R>): Effect.Effect<JobId, JobQueueFull | JobPoolClosed, Exclude<R, Scope.Scope>> =>
      Effect.gen(function*() {
        // The job keeps what it runs with alive until a worker takes it: drop the request's own
        // services (request, route, parsed params, its Scope), which the job must not use anyway.
        // Measured: ~15 KiB -> ~2 KiB per queued job.
        const context = Context.omit(...requestScoped)(yield* Effect.context<Exclude<R, Scope.Scope>>()) as Context.Context<Exclude<R, Scope.Scope>>
        const verdict = yield* Ref.modify(state, (s): readonly [
          { readonly _tag: "Accepted"; readonly id: JobId } | { readonly _tag: "Full" | "Closed" },
          State
        ] => {
          if (s.closed) return [{ _tag: "Closed" }, { ...s, rejected: s.rejected + 1 }]
          if (s.queued >= capacity) return [{ _tag: "Full" }, { ...s, rejected: s.rejected + 1 }]
          return [{ _tag: "Accepted", id: JobId(`${name}-${s.nextId}`) }, { ...s, nextId: s.nextId + 1, queued: s.queued + 1 }]
        })
        switch (verdict._tag) {
          case "Closed":
            yield* Metric.increment(rejectedClosed)
            return yield* new JobPoolClosed({ pool: name })
          case "Full":
            yield* Metric.increment(rejectedFull)
            return yield* new JobQueueFull({ pool: name, capacity, retryAfter })
          case "Accepted": {
            const effect = prepare(verdict.id, job).pipe(
              Effect.scoped,
              Effect.mapInputContext((outer: Context.Context<never>) => Context.merge(outer, context))
            )
            yield* Queue.offer(queue, { id: verdict.id, name: job.name, effect })
            yield* Effect.flatMap(Ref.get(state), publishGauges)
            return verdict.id
          }
        }
      })

    // Timeout per attempt, retries by policy, a warning per failed attempt.
    const prepare = <E, R>(id: JobId, job: Job<E, R>): Effect.Effect<void, E | JobTimeout, R> => {
      const timeout = job.timeout ?? defaultTimeout
      const attempt: Effect.Effect<void, E | JobTimeout, R> = timeout === "none"
        ? job.run
        : Effect.timeoutFail(job.run, {
          duration: timeout,
          onTimeout: () => new JobTimeout({ jobId: id, job: job.name, timeout: Duration.decode(timeout) })
        })
      const retry = job.retry ?? defaultRetry
      if (retry === undefined) return attempt
      return Effect.gen(function*() {
        const attempts = yield* Ref.make(0)
        const logged = attempt.pipe(
          Effect.tapErrorCause((cause) =>
            Effect.flatMap(
              Ref.updateAndGet(attempts, (n) => n + 1),
              (n) => Effect.logWarning(`job attempt ${n} failed`, cause).pipe(Effect.annotateLogs("attempt", n))
            )
          )
        )
        return yield* Effect.retry(logged, toSchedule<E | JobTimeout>(retry))
      })
    }

    const finish = (entry: Entry, exit: Exit.Exit<void, unknown>) =>
      Effect.gen(function*() {
        const success = Exit.isSuccess(exit)
        const s = yield* Ref.updateAndGet(state, (s) => ({
          ...s,
          running: withRunning(s.running, (m) => m.delete(entry.id)),
          succeeded: s.succeeded + (success ? 1 : 0),
          failed: s.failed + (success ? 0 : 1)
        }))
        yield* publishGauges(s)
        if (Exit.isFailure(exit)) {
          yield* Metric.increment(failed)
          // Never swallowed: the full cause (failures and defects) goes to the log.
          yield* Effect.logError("job failed", exit.cause)
        } else {
          yield* Metric.increment(succeeded)
          yield* Effect.logDebug("job succeeded")
        }
        if (isIdle(s)) yield* Deferred.succeed(idle, undefined)
      })

    const abandonRunning = (entry: Entry) =>
      Effect.gen(function*() {
        const s = yield* Ref.updateAndGet(state, (s) => ({
          ...s,
          running: withRunning(s.running, (m) => m.delete(entry.id)),
          abandoned: [...s.abandoned, { id: entry.id, name: entry.name, state: "running" as const }]
        }))
        yield* publishGauges(s)
        yield* Metric.increment(abandonedMetric)
      })

    // Taking an entry and marking it running happen with interruption off, so an entry is
    // always either in the queue or in `running`: the drain report cannot lose one.
    const worker = Effect.forever(
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const entry = yield* restore(Queue.take(queue))
          const s = yield* Ref.updateAndGet(state, (s) => ({
            ...s,
            queued: s.queued - 1,
            running: withRunning(s.running, (m) => m.set(entry.id, entry.name))
          }))
          yield* publishGauges(s)
          yield* restore(Effect.exit(entry.effect)).pipe(
            Metric.trackDuration(durationFor(entry.name)),
            Effect.onInterrupt(() => abandonRunning(entry)),
            Effect.flatMap((exit) => finish(entry, exit)),
            Effect.annotateLogs({ job: entry.name, jobId: entry.id })
          )
        })
      )
    ).pipe(Effect.annotateLogs({ pool: name }))

    const workers = yield* FiberSet.make<never>()
    for (let i = 0; i < workerCount; i++) {
      // Explicitly interruptible: a layer may be built in an uninterruptible region, and a
      // worker that inherits it could not be stopped by the drain deadline.
      yield* FiberSet.run(workers, Effect.interruptible(worker))
    }

    const drain = Effect.gen(function*() {
      const pending = yield* Ref.modify(state, (s) => [s.queued + s.running.size, { ...s, closed: true }] as const)
      if (pending > 0) yield* Effect.logInfo(`job pool draining: ${pending} job(s) queued or running`)
      // Finalizers run uninterruptibly: the wait must opt back in, or the timeout could not stop it.
      const finished = pending === 0 ||
        Option.isSome(yield* Effect.interruptible(Deferred.await(idle)).pipe(Effect.timeoutOption(drainTimeout)))
      // Interrupting the workers abandons their running jobs (recorded by `abandonRunning`).
      yield* FiberSet.clear(workers)
      const leftovers = yield* Queue.takeAll(queue)
      const neverStarted = Array.from(leftovers, (e): AbandonedJob => ({ id: e.id, name: e.name, state: "queued" }))
      const s = yield* Ref.updateAndGet(state, (s) => ({
        ...s,
        queued: s.queued - neverStarted.length,
        abandoned: [...s.abandoned, ...neverStarted]
      }))
      yield* publishGauges(s)
      yield* Metric.incrementBy(abandonedMetric, neverStarted.length)
      yield* Queue.shutdown(queue)
      const report: DrainReport = { completed: pending - s.abandoned.length, abandoned: s.abandoned, timedOut: !finished }
      if (s.abandoned.length > 0) {
        yield* Effect.logError(
          `job pool drain deadline (${Duration.format(drainTimeout)}) passed: ${s.abandoned.length} job(s) did not complete: ${
            listJobs(s.abandoned)
          }`
        ).pipe(Effect.annotateLogs({ abandoned: s.abandoned.map((j) => j.id) }))
      } else if (pending > 0) {
        yield* Effect.logInfo(`job pool drained: ${report.completed} job(s) completed`)
      }
      yield* Deferred.succeed(drainedReport, report)
    }).pipe(Effect.annotateLogs({ pool: name }))

    // Registered after the workers' FiberSet, so it runs before the set interrupts them.
    yield* Effect.addFinalizer(() => drain)

    return {
      name,
      submit,
      stats: Effect.map(Ref.get(state), (s): JobStats => ({
        queued: s.queued,
        running: s.running.size,
        succeeded: s.succeeded,
        failed: s.failed,
        rejected: s.rejected
      })),
      drained: Deferred.await(drainedReport)
    }
  })

/**
 * The pool as a scoped Layer: workers start when it is built and drain when it is released.
 * Provide it *outside* the HTTP server layer so requests stop before jobs drain (see
 * `GracefulServer`).
 *
 * @since 0.1.0
 */
export const layer = (options: JobPoolOptions = {}): Layer.Layer<JobPool> => Layer.scoped(JobPool, make(options))

/**
 * Submits a job to the pool in context. See {@link JobPoolService.submit}.
 *
 * @since 0.1.0
 */
export const submit = <E, R>(job: Job<E, R>): Effect.Effect<JobId, JobQueueFull | JobPoolClosed, JobPool | Exclude<R, Scope.Scope>> =>
  Effect.flatMap(JobPool, (pool) => pool.submit(job))
