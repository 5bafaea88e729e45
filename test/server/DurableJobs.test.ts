/**
 * The durable job queue on its embedded default, a real SQLite file (libsql) in process.
 * Every wait is bounded (real time), so a take that hangs fails the test instead of stalling it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as DurableJobs from "../../src/server/DurableJobs.js"
import * as Prometheus from "../../src/server/Prometheus.js"
import { awaitSleepers, captureLogs, eventually, realDelay } from "./helpers.js"

const Greet = DurableJobs.kind("greet", { payload: Schema.Struct({ to: Schema.String }) })

class Boom extends Data.TaggedError("Boom")<{ readonly n: number }> {
  override get message() {
    return `boom ${this.n}`
  }
}

const tempDb = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "volley-jobs-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => path.join(dir, "jobs.db")))

/** Starts a queue on `filename` in a scope of its own, so a test can stop it and start another. */
const start = <R>(
  filename: string,
  options: DurableJobs.DurableJobsOptions<R>,
  context: Context.Context<R>,
  store: DurableJobs.StoreOptions = { pollInterval: "20 millis", lease: "1 second" }
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const built = yield* Layer.buildWithScope(
      Layer.provideMerge(DurableJobs.layer(options), DurableJobs.layerSqlite({ filename, ...store })),
      scope
    ).pipe(Effect.provide(context))
    return { jobs: Context.get(built, DurableJobs.DurableJobs), sql: Context.get(built, SqlClient.SqlClient), stop: Scope.close(scope, Exit.void) }
  })

const quiet = captureLogs().layer

/** `effect` (uninterruptible, like a scope's close) given `ms` of real time, else a failure naming `what`. */
const bounded = <A, E>(effect: Effect.Effect<A, E>, what: string, ms = 5_000) =>
  Effect.disconnect(effect).pipe(Effect.timeoutFail({ duration: ms, onTimeout: () => new Error(`${what} did not finish within ${ms} ms`) }))

describe("DurableJobs on SQLite", () => {
  it.scopedLive("submit stores the job before it returns; the same key stores one job; the handler runs it once", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const handler = DurableJobs.handle(Greet, ({ to }, info) => Ref.update(seen, (s) => [...s, `${to}@${info.id}#${info.attempt}`]))
      // No workers: nothing runs, so what is listed is exactly what submit stored.
      const idle = yield* start(filename, { handlers: [handler], workers: 0 }, Context.empty())
      expect(yield* idle.jobs.submit(Greet, { to: "ada" }, { key: "u1" })).toBe("greet:u1")
      expect(yield* idle.jobs.submit(Greet, { to: "ada again" }, { key: "u1" })).toBe("greet:u1")
      yield* idle.jobs.submit(Greet, { to: "bo" }, { key: "u2" })
      const stored = yield* idle.jobs.list()
      expect(stored.map((j) => [j.id, j.state, j.payload])).toEqual([["greet:u1", "queued", { to: "ada" }], ["greet:u2", "queued", { to: "bo" }]])
      yield* idle.stop

      const live = yield* start(filename, { handlers: [handler], workers: 2 }, Context.empty())
      yield* eventually(Effect.map(live.jobs.stats, (s) => s.done === 2), "both jobs done", 5_000)
      expect([...(yield* Ref.get(seen))].sort()).toEqual(["ada@greet:u1#1", "bo@greet:u2#1"])
      yield* live.stop
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("a failed attempt waits its stored backoff; attempts and the next-run time survive a restart", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      const runs = yield* Ref.make<ReadonlyArray<number>>([])
      const Flaky = DurableJobs.kind("flaky", { payload: Schema.Number, retry: { times: 3, base: "1500 millis" } })
      const failing = DurableJobs.handle(Flaky, (n, info) =>
        Effect.zipRight(Ref.update(runs, (r) => [...r, Date.now()]), Effect.fail(new Boom({ n: n + info.attempt }))))
      const first = yield* start(filename, { handlers: [failing] }, Context.empty())
      yield* first.jobs.submit(Flaky, 1, { key: "a" })
      yield* eventually(Effect.map(first.jobs.list(), (j) => j[0]?.attempts === 1), "first attempt stored", 5_000)
      yield* first.stop
      // The store after the stop: one attempt, its error, and a next-run time 1.5 s on.
      const second = yield* start(filename, { handlers: [DurableJobs.handle(Flaky, () => Ref.update(runs, (r) => [...r, Date.now()]))] }, Context.empty())
      const [job] = yield* second.jobs.list()
      expect(job).toMatchObject({ id: "flaky:a", state: "queued", attempts: 1 })
      expect(job!.lastError).toContain("boom 2")
      expect(job!.runAfter - job!.updatedAt).toBe(1_500)
      // Restarted, it still waits for the stored time rather than running at once.
      yield* eventually(Effect.map(second.jobs.stats, (s) => s.done === 1), "the retry ran", 5_000)
      const [firstRun, retryRun] = yield* Ref.get(runs)
      expect(retryRun! - firstRun!).toBeGreaterThanOrEqual(1_400)
      expect((yield* second.jobs.list())[0]).toMatchObject({ state: "done", attempts: 2 })
      yield* second.stop
    }).pipe(Effect.provide(quiet)))

  it.scoped("the backoff runs on Effect's Clock: with a TestClock the retry waits for the clock, not for wall time", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      const attempts = yield* Ref.make(0)
      const Flaky = DurableJobs.kind("flaky", { payload: Schema.Number, retry: { times: 1, base: "10 minutes" } })
      const handler = DurableJobs.handle(Flaky, (_, info) =>
        Effect.zipRight(Ref.set(attempts, info.attempt), info.attempt === 1 ? Effect.fail(new Boom({ n: 1 })) : Effect.void))
      // Few virtual wake-ups, so that advancing the clock by minutes stays quick: an idle worker
      // looks every 100 s, leases and gauges refresh hourly.
      const q = yield* start(filename, { handlers: [handler], workers: 1, metricsInterval: "1 hour" }, Context.empty(), {
        pollInterval: "100 seconds",
        lease: "3 hours"
      })
      yield* q.jobs.submit(Flaky, 1, { key: "k" })
      yield* eventually(Effect.map(q.jobs.list(), (j) => j[0]?.attempts === 1), "the first attempt stored")
      const [job] = yield* q.jobs.list()
      expect(job!.runAfter - job!.updatedAt).toBe(600_000)
      // Ten virtual minutes less a second: still waiting (checked after real I/O had its chance).
      yield* awaitSleepers(1)
      yield* TestClock.adjust("599 seconds")
      yield* realDelay(100)
      expect(yield* Ref.get(attempts)).toBe(1)
      // The worker's next look (every 100 virtual seconds) after the next-run time runs it.
      yield* TestClock.adjust("101 seconds")
      yield* eventually(Effect.map(q.jobs.stats, (s) => s.done === 1), "the retry done once the clock passed its time")
      expect(yield* Ref.get(attempts)).toBe(2)
      yield* q.stop
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("drain \"claimed\" (a shared queue): shutdown finishes the running job and leaves the queued ones stored", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      const Slow = DurableJobs.kind("slow", { payload: Schema.Number })
      const q = yield* start(filename, { handlers: [DurableJobs.handle(Slow, () => Effect.sleep("300 millis"))], workers: 1, drain: "claimed" }, Context.empty())
      yield* Effect.forEach([1, 2, 3], (n) => q.jobs.submit(Slow, n, { key: String(n) }))
      yield* eventually(Effect.map(q.jobs.stats, (s) => s.runningHere === 1), "one job running")
      yield* q.stop
      expect(yield* q.jobs.drained).toEqual({ completed: 1, abandoned: [], timedOut: false })
      const after = yield* start(filename, { handlers: [], workers: 0 }, Context.empty())
      expect(yield* after.jobs.stats).toMatchObject({ done: 1, queued: 2, running: 0 })
      yield* after.stop
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("a job that always fails is kept as a dead letter with its error; retry queues it again", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      const healed = yield* Ref.make(false)
      const Fragile = DurableJobs.kind("fragile", { payload: Schema.String, retry: { times: 2, base: "10 millis" } })
      const handler = DurableJobs.handle(Fragile, (_, info) =>
        Effect.flatMap(Ref.get(healed), (ok) => ok ? Effect.void : Effect.fail(new Boom({ n: info.attempt }))))
      const q = yield* start(filename, { handlers: [handler] }, Context.empty())
      yield* q.jobs.submit(Fragile, "x", { key: "k" })
      yield* eventually(Effect.map(q.jobs.stats, (s) => s.dead === 1), "a dead letter", 5_000)
      const [dead] = yield* q.jobs.list({ state: "dead" })
      expect(dead).toMatchObject({ id: "fragile:k", kind: "fragile", state: "dead", attempts: 3 })
      expect(dead!.lastError).toContain("boom 3")
      const metrics = yield* Prometheus.text
      expect(metrics).toMatch(/volley_jobs_failed_total\{pool="jobs"\} [1-9]/)
      expect(metrics).toMatch(/volley_jobs_retried_total\{pool="jobs"\} [1-9]/)

      const missing = yield* Effect.flip(q.jobs.retry("fragile:nope"))
      expect(missing).toBeInstanceOf(DurableJobs.JobNotFound)
      yield* Ref.set(healed, true)
      yield* q.jobs.retry("fragile:k")
      yield* eventually(Effect.map(q.jobs.stats, (s) => s.done === 1 && s.dead === 0), "the re-queued job done", 5_000)
      yield* q.stop
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("an attempt past its timeout fails and is retried", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      const Slow = DurableJobs.kind("slow", { payload: Schema.Number, timeout: "50 millis", retry: { times: 1, base: "10 millis" } })
      const handler = DurableJobs.handle(Slow, (_, info) => info.attempt === 1 ? Effect.never : Effect.void)
      const q = yield* start(filename, { handlers: [handler] }, Context.empty())
      yield* q.jobs.submit(Slow, 1)
      yield* eventually(Effect.map(q.jobs.stats, (s) => s.done === 1), "the second attempt done", 5_000)
      const [job] = yield* q.jobs.list()
      expect(job).toMatchObject({ attempts: 2, state: "done" })
      expect(job!.lastError).toContain("DurableJobTimeout")
      yield* q.stop
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("an attempt stuck in an uninterruptible region still times out: recorded as timed out, its lease let go, retried", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      const gate = yield* Deferred.make<void>()
      // Let go at the end, so the stuck fiber does not outlive the test.
      yield* Effect.addFinalizer(() => Deferred.succeed(gate, undefined))
      const Stuck = DurableJobs.kind("stuck", { payload: Schema.Number, timeout: "100 millis", retry: { times: 1, base: "10 millis" } })
      const handler = DurableJobs.handle(Stuck, (_, info) => info.attempt === 1 ? Effect.uninterruptible(Deferred.await(gate)) : Effect.void)
      const q = yield* start(filename, { handlers: [handler] }, Context.empty())
      yield* q.jobs.submit(Stuck, 1, { key: "k" })
      yield* eventually(Effect.map(q.jobs.stats, (s) => s.done === 1), "the second attempt done (the stuck one timed out)", 5_000)
      const [job] = yield* q.jobs.list()
      expect(job).toMatchObject({ id: "stuck:k", state: "done", attempts: 2 })
      expect(job!.lastError).toContain("DurableJobTimeout")
      yield* bounded(q.stop, "the queue's shutdown")
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("a handler stuck in an uninterruptible region cannot hold shutdown: the drain ends on its deadline, the job released", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      const gate = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(gate, undefined))
      const Stuck = DurableJobs.kind("stuck", { payload: Schema.Number, timeout: "none" })
      const q = yield* start(filename, { handlers: [DurableJobs.handle(Stuck, () => Effect.uninterruptible(Deferred.await(gate)))], drainTimeout: "100 millis" }, Context.empty())
      yield* q.jobs.submit(Stuck, 1, { key: "k" })
      yield* eventually(Effect.map(q.jobs.stats, (s) => s.runningHere === 1), "the job running", 5_000)
      yield* bounded(q.stop, "the queue's shutdown")
      expect(yield* q.jobs.drained).toMatchObject({ timedOut: true, abandoned: [{ id: "stuck:k", state: "running" }] })
      const after = yield* start(filename, { handlers: [], workers: 0 }, Context.empty())
      expect(yield* after.jobs.stats).toMatchObject({ queued: 1, running: 0 })
      yield* after.stop
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("a row that is not JSON (written by something else) is listed as text and dead-lettered, not held; the queue and its drain go on", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      const idle = yield* start(filename, { handlers: [], workers: 0 }, Context.empty())
      yield* idle.sql`INSERT INTO volley_jobs (id, queue_name, element, state, attempts, run_after, created_at, updated_at)
        VALUES ('greet:poison', 'jobs', '{not json', 'queued', 0, 0, 0, 0)`
      expect((yield* idle.jobs.list()).map((j) => [j.id, j.kind, j.payload])).toEqual([["greet:poison", "?", "{not json"]])
      yield* idle.stop
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const q = yield* start(filename, { handlers: [DurableJobs.handle(Greet, ({ to }) => Ref.update(seen, (s) => [...s, to]))], workers: 1 }, Context.empty())
      yield* q.jobs.submit(Greet, { to: "ada" }, { key: "ok" })
      yield* eventually(Effect.map(q.jobs.stats, (s) => s.dead === 1 && s.done === 1 && s.running === 0), "the poison dead, the good job done", 5_000)
      expect(yield* Ref.get(seen)).toEqual(["ada"])
      expect((yield* q.jobs.list({ state: "dead" }))[0]).toMatchObject({ id: "greet:poison", lastError: "stored element is not valid JSON" })
      yield* bounded(q.stop, "the queue's shutdown")
      expect(yield* q.jobs.drained).toMatchObject({ abandoned: [] })
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("a job running longer than its lease keeps it (the lease is refreshed): a second instance polling the same file does not run it too", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      const runs = yield* Ref.make<ReadonlyArray<string>>([])
      const Long = DurableJobs.kind("long", { payload: Schema.Number, timeout: "none" })
      // 2.5 s against a 1 s lease: without refreshes the lease lapses twice before it ends.
      const handler = (who: string) => DurableJobs.handle(Long, () => Effect.zipRight(Ref.update(runs, (r) => [...r, who]), Effect.sleep("2500 millis")))
      const a = yield* start(filename, { handlers: [handler("a")], workers: 1 }, Context.empty())
      yield* a.jobs.submit(Long, 1, { key: "k" })
      yield* eventually(Effect.map(a.jobs.stats, (s) => s.runningHere === 1), "the job running on a", 5_000)
      const b = yield* start(filename, { handlers: [handler("b")], workers: 1 }, Context.empty())
      yield* eventually(Effect.map(b.jobs.stats, (s) => s.done === 1), "the job done", 8_000)
      expect(yield* Ref.get(runs)).toEqual(["a"])
      expect((yield* b.jobs.list())[0]).toMatchObject({ state: "done", attempts: 1 })
      yield* bounded(b.stop, "b's shutdown")
      yield* bounded(a.stop, "a's shutdown")
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("a job cut off by the drain deadline is released, not lost, and runs on the next start", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      const Long = DurableJobs.kind("long", { payload: Schema.Number })
      const q = yield* start(filename, { handlers: [DurableJobs.handle(Long, () => Effect.never)], drainTimeout: "100 millis" }, Context.empty())
      yield* q.jobs.submit(Long, 1, { key: "one" })
      yield* eventually(Effect.map(q.jobs.stats, (s) => s.runningHere === 1), "the job running", 5_000)
      yield* q.stop
      const report = yield* q.jobs.drained
      expect(report).toMatchObject({ timedOut: true, abandoned: [{ id: "long:one", state: "running" }] })

      const ran = yield* Ref.make(0)
      const again = yield* start(filename, { handlers: [DurableJobs.handle(Long, () => Ref.update(ran, (n) => n + 1))] }, Context.empty())
      // Released at shutdown, so no lease to wait out: it runs at once, with the interrupted attempt not counted.
      yield* eventually(Effect.map(again.jobs.stats, (s) => s.done === 1), "the job done after restart", 2_000)
      expect((yield* again.jobs.list())[0]).toMatchObject({ attempts: 1 })
      expect(yield* Ref.get(ran)).toBe(1)
      yield* again.stop
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("a job submitted in a transaction that rolls back is not stored; one that commits is", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      const q = yield* start(filename, { handlers: [], workers: 0 }, Context.empty())
      const inTx = (key: string, fail: boolean) =>
        q.sql.withTransaction(Effect.zipRight(q.jobs.submit(Greet, { to: key }, { key }), fail ? Effect.fail(new Boom({ n: 0 })) : Effect.void))
      yield* Effect.either(inTx("rolled-back", true))
      yield* inTx("committed", false)
      expect((yield* q.jobs.list()).map((j) => j.id)).toEqual(["greet:committed"])
      yield* q.stop
    }).pipe(Effect.provide(quiet)))

  it.effect("a bad database URL is a DatabaseUrlError naming it; a corrupt SQLite file is a DatabaseOpenError and is left as it was", () =>
    Effect.gen(function*() {
      for (const url of ["nope://x", "file:", "postgres://", "postgres://host-only", "redis://localhost"]) {
        const error = yield* Effect.flip(Layer.build(DurableJobs.layerUrl(url)).pipe(Effect.scoped))
        expect(error._tag).toBe("DatabaseUrlError")
        expect(error.message).toContain("bad database URL")
      }
      const secret = yield* Effect.flip(DurableJobs.parseDatabaseUrl("postgres://u:hunter2@/db"))
      expect(secret.message).not.toContain("hunter2")

      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-corrupt-"))
      const file = path.join(dir, "jobs.db")
      const garbage = Buffer.from("this is not a database, but somebody's data ".repeat(200))
      fs.writeFileSync(file, garbage)
      const error = yield* Effect.flip(Layer.build(DurableJobs.layerSqlite({ filename: file })).pipe(Effect.scoped))
      expect(error._tag).toBe("DatabaseOpenError")
      expect(error.message).toContain(file)
      expect(error.message).toMatch(/not a database|malformed|encrypted/i)
      expect(fs.readFileSync(file).equals(garbage)).toBe(true)
      fs.rmSync(dir, { recursive: true, force: true })
    }))
})
