/**
 * The in-memory job pool's workers, queue, metrics and drain. Types and docs live in
 * `../JobPool.ts`.
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
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import {
  type AbandonedJob,
  defaults,
  type DrainReport,
  type Job,
  type JobId,
  JobPoolClosed,
  type JobPoolOptions,
  type JobPoolService,
  JobQueueFull,
  type JobRetry,
  type JobStats,
  JobTimeout,
  metrics
} from "../JobPool.js"

const JobId = Brand.nominal<JobId>()

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

/** See `JobPool.make`. */
export const make = (options: JobPoolOptions = {}): Effect.Effect<JobPoolService, never, Scope.Scope> =>
  Effect.gen(function*() {
    const name = options.name ?? defaults.name
    const workerCount = Math.max(1, Math.floor(options.workers ?? defaults.workers))
    const capacity = Math.max(1, Math.floor(options.capacity ?? defaults.capacity))
    const retryAfter = Duration.decode(options.retryAfter ?? defaults.retryAfter)
    const drainTimeout = Duration.decode(options.drainTimeout ?? defaults.drainTimeout)
    const defaultTimeout = options.timeout ?? defaults.timeout
    const defaultRetry = options.retry

    const queued = Metric.tagged(metrics.queued, "pool", name)
    const running = Metric.tagged(metrics.running, "pool", name)
    const succeeded = Metric.tagged(metrics.succeeded, "pool", name)
    const failed = Metric.tagged(metrics.failed, "pool", name)
    const abandonedMetric = Metric.tagged(metrics.abandoned, "pool", name)
    const rejectedFull = Metric.tagged(Metric.tagged(metrics.rejected, "pool", name), "reason", "full")
    const rejectedClosed = Metric.tagged(Metric.tagged(metrics.rejected, "pool", name), "reason", "closed")
    // Built once per job name: a tagged metric made per update misses the registry's cache.
    const durations = new Map<string, typeof metrics.duration>()
    const durationFor = (job: string): typeof metrics.duration => {
      let metric = durations.get(job)
      if (metric === undefined) {
        metric = Metric.tagged(Metric.tagged(metrics.duration, "pool", name), "job", job)
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
      // Disconnected: a timeout or the drain interrupts the job and goes on without waiting for
      // it, so a job stuck in an uninterruptible region can hold neither its worker nor shutdown.
      const run = Effect.disconnect(job.run)
      const attempt: Effect.Effect<void, E | JobTimeout, R> = timeout === "none"
        ? run
        : Effect.timeoutFail(run, {
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
