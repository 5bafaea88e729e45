import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as JobPool from "../../src/server/JobPool.js"
import { awaitSleepers, captureLogs, eventually } from "./helpers.js"

class Greeting extends Context.Tag("test/Greeting")<Greeting, string>() {}

/** A pool in its own scope, so a test can close it (and drain it) midway. */
const openPool = (options: JobPool.JobPoolOptions) =>
  Effect.gen(function*() {
    // A child of the test's scope: closed by the test midway, or at its end at the latest.
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const pool = yield* JobPool.make(options).pipe(Scope.extend(scope))
    const close = Effect.fork(Scope.close(scope, Exit.void))
    return { pool, close }
  })

const statsReach = (pool: JobPool.JobPoolService, check: (s: JobPool.JobStats) => boolean, what: string) =>
  eventually(Effect.map(pool.stats, check), what)

describe("JobPool", () => {
  it.scoped("submit returns an id at once; the job runs later, with the submitter's services", () =>
    Effect.gen(function*() {
      const { pool } = yield* openPool({ workers: 1 })
      const gate = yield* Deferred.make<void>()
      const ran = yield* Deferred.make<string>()
      const id = yield* pool.submit({
        name: "greet",
        run: Deferred.await(gate).pipe(Effect.zipRight(Effect.flatMap(Greeting, (g) => Deferred.succeed(ran, g))))
      }).pipe(Effect.provideService(Greeting, "hello"))
      expect(id).toBe("jobs-1")
      expect(yield* Deferred.isDone(ran)).toBe(false)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Deferred.await(ran)).toBe("hello")
      yield* statsReach(pool, (s) => s.succeeded === 1, "job succeeded")
      expect(yield* pool.stats).toEqual({ queued: 0, running: 0, succeeded: 1, failed: 0, rejected: 0 })
    }))

  it.scoped("a full queue fails with JobQueueFull (with Retry-After) and loses no accepted job", () =>
    Effect.gen(function*() {
      const { pool } = yield* openPool({ name: "full", workers: 1, capacity: 2, retryAfter: "3 seconds" })
      const gate = yield* Deferred.make<void>()
      const done = yield* Ref.make<ReadonlyArray<string>>([])
      const job = (name: string) => ({
        name,
        run: Deferred.await(gate).pipe(Effect.zipRight(Ref.update(done, (d) => [...d, name])))
      })
      yield* pool.submit(job("a"))
      yield* statsReach(pool, (s) => s.running === 1, "a running")
      yield* pool.submit(job("b"))
      yield* pool.submit(job("c"))
      const refused = yield* Effect.flip(pool.submit(job("d")))
      expect(refused._tag).toBe("JobQueueFull")
      if (refused._tag === "JobQueueFull") {
        expect(refused.capacity).toBe(2)
        expect(refused.retryAfter).toEqual(Duration.seconds(3))
      }
      yield* Deferred.succeed(gate, undefined)
      yield* statsReach(pool, (s) => s.succeeded === 3, "three jobs succeeded")
      expect(yield* Ref.get(done)).toEqual(["a", "b", "c"])
      expect(yield* pool.stats).toEqual({ queued: 0, running: 0, succeeded: 3, failed: 0, rejected: 1 })
      const tagged = (metric: Metric.Metric.Counter<number>) => Metric.tagged(metric, "pool", "full")
      expect((yield* Metric.value(Metric.tagged(tagged(JobPool.metrics.rejected), "reason", "full"))).count).toBe(1)
      expect((yield* Metric.value(tagged(JobPool.metrics.succeeded))).count).toBe(3)
    }))

  it.scoped("a failing job is retried by its policy, then logged with name, id and cause", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const { pool } = yield* openPool({ workers: 1 })
      const attempts = yield* Ref.make(0)
      yield* pool.submit({
        name: "flaky",
        timeout: "none",
        retry: { times: 2, base: "1 second" },
        run: Effect.zipRight(Ref.update(attempts, (n) => n + 1), Effect.fail(new Error("boom")))
      })
      yield* eventually(Effect.map(Ref.get(attempts), (n) => n === 1), "first attempt")
      yield* awaitSleepers(1)
      yield* TestClock.adjust("999 millis")
      expect(yield* Ref.get(attempts)).toBe(1) // the backoff is honoured
      yield* TestClock.adjust("1 millis")
      yield* eventually(Effect.map(Ref.get(attempts), (n) => n === 2), "second attempt after 1 s")
      yield* awaitSleepers(1)
      yield* TestClock.adjust("2 seconds") // exponential: 1 s, then 2 s
      yield* statsReach(pool, (s) => s.failed === 1, "job failed for good")
      expect(yield* Ref.get(attempts)).toBe(3)

      const warnings = logs.entries.filter((e) => e.level === "WARN")
      expect(warnings.map((e) => e.message)).toEqual(["job attempt 1 failed", "job attempt 2 failed", "job attempt 3 failed"])
      const errors = logs.entries.filter((e) => e.level === "ERROR")
      expect(errors).toHaveLength(1)
      expect(errors[0]?.message).toBe("job failed")
      expect(errors[0]?.annotations).toMatchObject({ job: "flaky", jobId: "jobs-1", pool: "jobs" })
      expect(errors[0]?.cause).toContain("boom")
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("an attempt past its timeout is interrupted, retried by a Schedule, then fails with JobTimeout", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const { pool } = yield* openPool({ workers: 1 })
      const interruptions = yield* Ref.make(0)
      const never = yield* Deferred.make<void>()
      yield* pool.submit({
        name: "slow",
        timeout: "5 seconds",
        retry: Schedule.recurs(1),
        run: Deferred.await(never).pipe(Effect.onInterrupt(() => Ref.update(interruptions, (n) => n + 1)))
      })
      for (let i = 1; i <= 2; i++) {
        yield* awaitSleepers(1)
        yield* TestClock.adjust("5 seconds")
        yield* eventually(Effect.map(Ref.get(interruptions), (n) => n === i), `attempt ${i} interrupted`)
      }
      yield* statsReach(pool, (s) => s.failed === 1, "job failed")
      const error = logs.entries.find((e) => e.level === "ERROR")
      expect(error?.cause).toContain("JobTimeout")
      expect(error?.cause).toContain("job slow (jobs-1): attempt timed out after 5s")
      expect(error?.annotations).toMatchObject({ job: "slow", jobId: "jobs-1" })
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("a job stuck in an uninterruptible region: its timeout still fails it (JobTimeout), and the drain does not wait for it", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const { close, pool } = yield* openPool({ workers: 2, drainTimeout: "5 seconds" })
      const gate = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(gate, undefined))
      const stuck = Effect.uninterruptible(Deferred.await(gate))
      yield* pool.submit({ name: "timed", timeout: "5 seconds", run: stuck })
      yield* awaitSleepers(1)
      yield* TestClock.adjust("5 seconds")
      yield* statsReach(pool, (s) => s.failed === 1 && s.running === 0, "the stuck job failed on its timeout")
      expect(logs.entries.find((e) => e.level === "ERROR")?.cause).toContain("JobTimeout")

      yield* pool.submit({ name: "untimed", timeout: "none", run: stuck })
      yield* statsReach(pool, (s) => s.running === 1, "the untimed job running")
      const closing = yield* close
      yield* awaitSleepers(1) // the drain deadline
      yield* TestClock.adjust("5 seconds")
      yield* eventually(Effect.map(Fiber.poll(closing), (exit) => exit._tag === "Some"), "the drain finished")
      expect(yield* pool.drained).toMatchObject({ timedOut: true, abandoned: [{ id: "jobs-2", name: "untimed", state: "running" }] })
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("a defect is logged as a failure, not swallowed, and the worker keeps going", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const { pool } = yield* openPool({ workers: 1 })
      yield* pool.submit({ name: "crash", run: Effect.die(new Error("kaboom")) })
      yield* pool.submit({ name: "fine", run: Effect.void })
      yield* statsReach(pool, (s) => s.failed === 1 && s.succeeded === 1, "one failed, one succeeded")
      const error = logs.entries.find((e) => e.level === "ERROR")
      expect(error?.cause).toContain("kaboom")
      expect(error?.annotations).toMatchObject({ job: "crash", jobId: "jobs-1" })
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("closing the scope drains: queued jobs complete, new submissions are refused", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const { close, pool } = yield* openPool({ workers: 1, drainTimeout: "10 seconds" })
      const done = yield* Ref.make(0)
      const job = { name: "tick", timeout: "none", run: Effect.zipRight(Effect.sleep("1 second"), Ref.update(done, (n) => n + 1)) } as const
      yield* pool.submit(job)
      yield* pool.submit(job)
      yield* pool.submit(job)
      const closing = yield* close
      yield* eventually(Effect.sync(() => logs.entries.some((e) => e.message.startsWith("job pool draining"))), "drain started")
      expect((yield* Effect.flip(pool.submit(job)))._tag).toBe("JobPoolClosed")
      for (let i = 1; i <= 3; i++) {
        yield* awaitSleepers(2) // the job's sleep and the drain deadline
        yield* TestClock.adjust("1 second")
        yield* eventually(Effect.map(Ref.get(done), (n) => n === i), `job ${i} done`)
      }
      yield* Fiber.join(closing)
      expect(yield* pool.drained).toEqual({ completed: 3, abandoned: [], timedOut: false })
      expect(yield* pool.stats).toEqual({ queued: 0, running: 0, succeeded: 3, failed: 0, rejected: 1 })
      expect(logs.entries.some((e) => e.message === "job pool drained: 3 job(s) completed")).toBe(true)
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("the drain deadline interrupts leftovers and reports which jobs did not complete", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const { close, pool } = yield* openPool({ name: "batch", workers: 1, drainTimeout: "5 seconds" })
      const interrupted = yield* Deferred.make<void>()
      const never = yield* Deferred.make<void>()
      const ranLate = yield* Ref.make(false)
      yield* pool.submit({
        name: "stuck",
        run: Deferred.await(never).pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
      })
      yield* statsReach(pool, (s) => s.running === 1, "stuck running")
      yield* pool.submit({ name: "waiting", run: Ref.set(ranLate, true) })
      const closing = yield* close
      yield* awaitSleepers(2) // the stuck job's default timeout and the drain deadline
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(closing)
      // Interrupted in the background (the drain does not wait for a job to stop).
      yield* eventually(Deferred.isDone(interrupted), "the stuck job interrupted")
      expect(yield* Ref.get(ranLate)).toBe(false)
      expect(yield* pool.drained).toEqual({
        completed: 0,
        timedOut: true,
        abandoned: [
          { id: "batch-1", name: "stuck", state: "running" },
          { id: "batch-2", name: "waiting", state: "queued" }
        ]
      })
      const error = logs.entries.find((e) => e.level === "ERROR")
      expect(error?.message).toContain("batch-1 (stuck, running), batch-2 (waiting, queued)")
      expect(error?.annotations).toMatchObject({ pool: "batch", abandoned: ["batch-1", "batch-2"] })
    }).pipe(Effect.provide(logs.layer))
  })
})
