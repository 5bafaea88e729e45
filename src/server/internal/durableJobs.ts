/**
 * The durable queue's workers, drain and metrics, over `@effect/experimental`'s
 * `PersistedQueue` and the job store. Types and docs live in `../DurableJobs.ts`.
 */
import * as PersistedQueue from "@effect/experimental/PersistedQueue"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import {
  defaults,
  type DrainReport,
  DurableJobs,
  type DurableJobsOptions,
  type DurableJobsService,
  DurableJobTimeout,
  type DurableRetry,
  type Handler,
  type JobRecord,
  JobNotFound,
  JobStore,
  JobStoreError,
  metrics,
  type UnfinishedJob
} from "../DurableJobs.js"
import { AttemptFailed } from "./jobStore.js"

/** What the queue stores per job: the kind names the handler and the payload's schema. */
const Envelope = Schema.Struct({ kind: Schema.String, payload: Schema.Unknown })

/** The wait before retry `attempt` (1 = after the first failure). */
export const backoff = (retry: DurableRetry, attempt: number): number => {
  const base = Duration.toMillis(Duration.decode(retry.base ?? "1 second"))
  const max = Duration.toMillis(Duration.decode(retry.max ?? "1 hour"))
  return Math.min(max, base * (retry.factor ?? 2) ** Math.max(0, attempt - 1))
}

const errorText = (cause: Cause.Cause<unknown>): string => {
  const text = Cause.pretty(cause, { renderErrorCause: true })
  return text.length > 4_000 ? `${text.slice(0, 4_000)}…` : text
}

/** How long stopping the workers may take once they are interrupted (releasing their claims). */
const stopTimeout = Duration.seconds(5)

const storeError = (operation: string) => (cause: unknown) => new JobStoreError({ operation, cause })

export const make = <R>(options: DurableJobsOptions<R>): Effect.Effect<DurableJobsService, never, JobStore | R | Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* JobStore
    const context = yield* Effect.context<R>()
    const name = options.name ?? defaults.name
    const workerCount = Math.max(0, Math.floor(options.workers ?? defaults.workers))
    const drainTimeout = Duration.decode(options.drainTimeout ?? defaults.drainTimeout)
    const handlers = new Map(options.handlers.map((h) => [h.kind.name, h]))

    const tag = <T extends Metric.Metric<any, any, any>>(metric: T): T => Metric.tagged(metric, "pool", name) as T
    const queued = tag(metrics.queued)
    const running = tag(metrics.running)
    const succeeded = tag(metrics.succeeded)
    const failed = tag(metrics.failed)
    const retried = tag(metrics.retried)
    const dead = tag(metrics.dead)
    const oldestAge = tag(metrics.oldestAge)
    const durations = new Map(options.handlers.map((h) => [h.kind.name, Metric.tagged(tag(metrics.duration), "job", h.kind.name)]))

    const queue = yield* Effect.flatMap(
      PersistedQueue.makeFactory.pipe(Effect.provideService(PersistedQueue.PersistedQueueStore, store.queue)),
      (factory) => factory.make({ name, schema: Envelope })
    )

    // Jobs this process runs now, for the running gauge and the drain report.
    const runningNow = yield* Ref.make(new Map<string, string>())
    const publishRunning = Effect.flatMap(Ref.get(runningNow), (m) => Metric.set(running, m.size))
    const abandoned = yield* Ref.make<ReadonlyArray<UnfinishedJob>>([])
    const drainMode = options.drain ?? "ready"
    // Set when a "claimed" drain begins: workers take nothing new.
    const closing = yield* Ref.make(false)

    const runJob = (envelope: typeof Envelope.Type, meta: { readonly id: string; readonly attempts: number }) =>
      Effect.gen(function*() {
        // Claimed as the drain began: hand it back at once (an interruption counts no attempt).
        if (yield* Ref.get(closing)) return yield* Effect.interrupt
        const attempt = meta.attempts + 1
        const handler = handlers.get(envelope.kind) as Handler<R> | undefined
        if (handler === undefined) {
          return yield* new AttemptFailed({ error: `no handler registered for job kind ${JSON.stringify(envelope.kind)}`, retryIn: Option.none() })
        }
        const payload = yield* Schema.decodeUnknown(handler.kind.payload)(envelope.payload).pipe(
          Effect.mapError((e) => new AttemptFailed({ error: `payload does not decode: ${e.message}`, retryIn: Option.none() }))
        )
        const timeout = handler.kind.timeout ?? options.timeout ?? defaults.timeout
        // Disconnected: the timeout or the drain interrupts the handler and goes on without
        // waiting, so one stuck in an uninterruptible region still has its attempt recorded as
        // timed out (its lease then stops being refreshed) and cannot hold shutdown.
        const run = Effect.disconnect(handler.run(payload, { id: meta.id, attempt }).pipe(Effect.provide(context)))
        const bounded = timeout === "none" ? run : Effect.timeoutFail(run, {
          duration: timeout,
          onTimeout: () => new DurableJobTimeout({ jobId: meta.id, timeout: Duration.decode(timeout) })
        })
        yield* Effect.acquireUseRelease(
          Effect.zipRight(Ref.update(runningNow, (m) => new Map(m).set(meta.id, envelope.kind)), publishRunning),
          () => Effect.exit(bounded).pipe(Metric.trackDuration(durations.get(envelope.kind)!)),
          (_, exit) =>
            Effect.zipRight(
              Ref.update(runningNow, (m) => {
                const next = new Map(m)
                next.delete(meta.id)
                return next
              }),
              publishRunning
            ).pipe(
              Effect.zipRight(
                Exit.isInterrupted(exit)
                  ? Ref.update(abandoned, (list) => [...list, { id: meta.id, state: "running" as const }])
                  : Effect.void
              )
            )
        ).pipe(Effect.flatMap((exit) =>
          Effect.gen(function*() {
            if (Exit.isSuccess(exit)) {
              yield* Metric.increment(succeeded)
              return yield* Effect.logDebug("job succeeded")
            }
            if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.failCause(exit.cause)
            const retry = handler.kind.retry ?? options.retry ?? defaults.retry
            const error = errorText(exit.cause)
            if (attempt <= retry.times) {
              const retryIn = backoff(retry, attempt)
              yield* Metric.increment(retried)
              yield* Effect.logWarning(`job attempt ${attempt} failed; retrying in ${Duration.format(Duration.millis(retryIn))}`, exit.cause)
              return yield* new AttemptFailed({ error, retryIn: Option.some(retryIn) })
            }
            yield* Metric.increment(failed)
            yield* Effect.logError(`job failed for good after ${attempt} attempt(s); kept as a dead letter`, exit.cause)
            return yield* new AttemptFailed({ error, retryIn: Option.none() })
          })
        ))
      }).pipe(Effect.annotateLogs({ pool: name, job: envelope.kind, jobId: meta.id }))

    // Each failure is already stored and logged by the store's finalizer; the worker goes on.
    // Once a "claimed" drain has begun it parks instead of claiming again.
    const worker = Effect.forever(
      Effect.flatMap(Ref.get(closing), (closed) =>
        closed ? Effect.never : queue.take(runJob, { maxAttempts: Number.MAX_SAFE_INTEGER }).pipe(
          // A job handed back at the drain fails its take with an interruption cause; the
          // worker goes on (to park). Interrupting the worker itself is not caught here.
          Effect.catchAllCause(() => Effect.void)
        ))
    )
    // In a scope of their own, which the drain closes with a bound: a worker blocked on the
    // store (a hung connection) must not hold shutdown either.
    const workerScope = yield* Scope.make()
    const workers = yield* Scope.extend(FiberSet.make<never>(), workerScope)
    const stopWorkers = Effect.disconnect(Scope.close(workerScope, Exit.void)).pipe(Effect.timeoutOption(stopTimeout))
    for (let i = 0; i < workerCount; i++) {
      // Interruptible explicitly: a layer may be built uninterruptibly (see JobPool).
      yield* FiberSet.run(workers, Effect.interruptible(worker))
    }

    const counts = Effect.mapError(store.counts(name), storeError("counting jobs"))

    // The depth and oldest-age gauges are read from the store, so they count every process's jobs.
    if (workerCount > 0) {
      yield* Effect.gen(function*() {
        const c = yield* counts
        const now = yield* Clock.currentTimeMillis
        yield* Metric.set(queued, c.queued)
        yield* Metric.set(dead, c.dead)
        yield* Metric.set(oldestAge, c.oldestQueuedAt === null ? 0 : Math.max(0, now - c.oldestQueuedAt) / 1_000)
      }).pipe(
        Effect.tapErrorCause((cause) => Effect.logWarning("job metrics: reading the store failed", cause)),
        Effect.ignore,
        Effect.repeat(Schedule.spaced(options.metricsInterval ?? defaults.metricsInterval)),
        Effect.interruptible,
        Effect.forkScoped
      )
    }

    const drainedReport = yield* Deferred.make<DrainReport>()
    // Idle: nothing claimed by this process and nothing ready to claim. Polled (on the Clock):
    // the store is shared, so readiness is a property of the database, not of this process.
    const idle = drainMode === "claimed"
      ? Effect.map(store.held, (held) => held === 0)
      : Effect.zipWith(store.held, Effect.orElseSucceed(store.ready(name), () => 0), (held, ready) => held === 0 && ready === 0)
    const drain = Effect.gen(function*() {
      if (drainMode === "claimed") yield* Ref.set(closing, true)
      const ready = drainMode === "claimed" ? 0 : yield* Effect.orElseSucceed(store.ready(name), () => 0)
      const pending = (yield* store.held) + ready
      if (pending > 0) yield* Effect.logInfo(`job queue draining: ${pending} job(s) ready or running`)
      const waitIdle = Effect.repeat(idle, { until: (done) => done, schedule: Schedule.spaced("50 millis") })
      const finished = workerCount === 0 || pending === 0 ||
        Option.isSome(yield* Effect.interruptible(waitIdle).pipe(Effect.timeoutOption(drainTimeout)))
      // Interrupted jobs are released in the store (not lost): the next start or another instance runs them.
      if (Option.isNone(yield* stopWorkers)) {
        yield* Effect.logError(`job queue drain: workers did not stop within ${Duration.format(stopTimeout)} of being interrupted; going on`)
      }
      const interrupted = yield* Ref.get(abandoned)
      const left = finished || drainMode === "claimed" ? [] : yield* store.list(name, { state: "queued", limit: 10_000 }).pipe(
        Effect.map((rows) => rows.filter((r) => !interrupted.some((i) => i.id === r.id)).map((r): UnfinishedJob => ({ id: r.id, state: "queued" }))),
        Effect.orElseSucceed(() => [])
      )
      const all = [...interrupted, ...left]
      const report: DrainReport = { completed: Math.max(0, pending - all.length), abandoned: all, timedOut: !finished }
      if (all.length > 0) {
        yield* Effect.logError(
          `job queue drain deadline (${Duration.format(drainTimeout)}) passed: ${all.length} job(s) did not complete (kept in the store): ${
            all.slice(0, 20).map((j) => `${j.id} (${j.state})`).join(", ")
          }${all.length > 20 ? `, …and ${all.length - 20} more` : ""}`
        )
      } else if (pending > 0) {
        yield* Effect.logInfo("job queue drained")
      }
      yield* Deferred.succeed(drainedReport, report)
    }).pipe(
      // Whatever goes wrong, the workers stop and a report is given (`drained` never hangs).
      Effect.catchAllCause((cause) =>
        Effect.gen(function*() {
          yield* Effect.logError("job queue drain failed", cause)
          yield* stopWorkers
          const interrupted = yield* Ref.get(abandoned)
          yield* Deferred.succeed(drainedReport, { completed: 0, abandoned: interrupted, timedOut: true })
        })
      ),
      Effect.annotateLogs({ pool: name })
    )
    yield* Effect.addFinalizer(() => drain)

    const toRecord = (row: import("./jobStore.js").StoredJob): JobRecord => {
      const envelope = Schema.decodeUnknownOption(Envelope)(row.element)
      return {
        id: row.id,
        kind: Option.match(envelope, { onNone: () => "?", onSome: (e) => e.kind }),
        payload: Option.match(envelope, { onNone: () => row.element, onSome: (e) => e.payload }),
        state: row.running ? "running" : row.state,
        attempts: row.attempts,
        lastError: row.lastError,
        runAfter: row.runAfter,
        createdAt: row.createdAt,
        updatedAt: row.updatedAt
      }
    }

    return {
      name,
      submit: (kind, payload, submitOptions) =>
        Effect.gen(function*() {
          const encoded = yield* Schema.encode(kind.payload)(payload).pipe(Effect.mapError(storeError(`encoding a ${kind.name} payload`)))
          const key = submitOptions?.key ?? crypto.randomUUID()
          return yield* queue.offer({ kind: kind.name, payload: encoded }, { id: `${kind.name}:${key}` }).pipe(
            Effect.mapError(storeError(`storing a ${kind.name} job`))
          )
        }),
      stats: Effect.gen(function*() {
        const c = yield* counts
        const now = yield* Clock.currentTimeMillis
        const here = yield* Ref.get(runningNow)
        return {
          queued: c.queued,
          running: c.running,
          done: c.done,
          dead: c.dead,
          oldestQueuedAgeMs: c.oldestQueuedAt === null ? null : Math.max(0, now - c.oldestQueuedAt),
          runningHere: here.size
        }
      }),
      list: (listOptions) => {
        const state = listOptions?.state
        const limit = listOptions?.limit ?? 100
        // `running` is a lease on a queued row: list queued rows and keep the leased ones.
        return store.list(name, { state: state === "running" ? "queued" : state, limit: state === "running" || state === "queued" ? 100_000 : limit }).pipe(
          Effect.map((rows) => rows.map(toRecord).filter((r) => state === undefined || r.state === state).slice(0, limit)),
          Effect.mapError(storeError("listing jobs"))
        )
      },
      retry: (id) =>
        Effect.flatMap(
          Effect.mapError(store.retry(name, id), storeError(`re-queueing ${id}`)),
          (found) => found ? Effect.void : Effect.fail(new JobNotFound({ id }))
        ),
      drained: Deferred.await(drainedReport)
    }
  })

export const layer = <R>(options: DurableJobsOptions<R>): Layer.Layer<DurableJobs, never, JobStore | R> =>
  Layer.scoped(DurableJobs, make(options))

// Keeps `Context` referenced for the R capture's type under `noUnusedLocals`.
export type _Context = Context.Context<never>
