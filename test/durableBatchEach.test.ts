/**
 * The durable batch's runner for work other than one request (`volley download --db`'s): on
 * a SQLite file, the lease renewal that finds a running item taken over stops its work and
 * stores nothing, the guard stops it the same way, and the item runs again once its taker's
 * lease passed.
 */
import { describe, expect, it } from "@effect/vitest"
import { createClient } from "@libsql/client"
import { Deferred, Effect, Exit, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as DurableBatch from "../src/DurableBatch.js"
import * as Download from "../src/internal/download/download.js"
import * as Plan from "../src/internal/download/plan.js"
import { open } from "../src/internal/durableBatch/database.js"
import { type Done, each } from "../src/internal/durableBatch/each.js"
import { tables } from "../src/internal/durableBatch/schema.js"
import * as store from "../src/internal/durableBatch/store.js"
import { clientLayer, faultServer } from "./support/effect.js"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "volley-durable-each-"))
let files = 0
const freshDb = () => `file:${path.join(tmp, `e${++files}.db`)}`

const done: Done = { outcome: "succeeded", status: undefined, error: null, value: "\"ok\"", bytes: 1, startAt: 0, durationMs: 0, attempts: 1 }

/** Takes row 0 away from whoever holds it, for `ms`. */
const steal = (s: Effect.Effect.Success<ReturnType<typeof open>>, ms: number) =>
  s.sql`UPDATE ${s.sql(tables.items)} SET acquired_by = 'thief', lease_until = ${Date.now() + ms} WHERE idx = 0`

describe("durable batch runner (each)", () => {
  it.scopedLive.each(["renewal", "guard"] as const)("a running item taken over is stopped by the %s, nothing is stored, and it runs again after the taker's lease", (by) =>
    Effect.gen(function*() {
      const db = freshDb()
      const s = yield* open(db)
      const { name } = yield* DurableBatch.load(["a"]).pipe(Effect.provide(DurableBatch.layer(db)))
      let calls = 0
      let stopped = 0
      const started = yield* Deferred.make<Effect.Effect<void>>()
      const run = each<string, never>(s, name, { concurrency: 2, lease: 300, pollInterval: "50 millis" }, (_item, _index, guard) => {
        calls++
        if (calls > 1) return Effect.succeed(done)
        // The first run waits (as a download does for its body) until stopped, or, when the
        // guard is under test, until the test calls it.
        return Effect.zipRight(Deferred.succeed(started, guard), Effect.never).pipe(Effect.onInterrupt(() => Effect.sync(() => void stopped++)))
      })
      const fiber = yield* Effect.fork(Stream.runCollect(run))
      const guard = yield* Deferred.await(started)
      yield* steal(s, 600)
      if (by === "guard") yield* Effect.fork(guard) // the renewal (every 100 ms) may get there first: either stops it
      const records = Array.from(yield* fiber.await.pipe(Effect.flatten))
      expect(stopped).toBe(1)
      expect(calls).toBe(2)
      expect(records.map((r) => [r.index, r.outcome])).toEqual([[0, "succeeded"]])
      const rows = yield* s.sql<{ readonly state: string; readonly claims: number }>`SELECT state, claims FROM ${s.sql(tables.items)}`
      expect(rows.map((r) => [r.state, Number(r.claims)])).toEqual([["done", 2]])
      // The renewal also says the worker is alive (`volley batch status`: last seen).
      const workers = yield* s.sql<{ readonly started_at: number; readonly seen_at: number }>`SELECT started_at, seen_at FROM ${s.sql(tables.workers)}`
      expect(workers.length).toBe(1)
      expect(Number(workers[0]!.seen_at)).toBeGreaterThan(Number(workers[0]!.started_at))
    }), 20_000)

  it.scopedLive("a stopped row is given back only by the worker holding it (so it runs again before that worker exits)", () =>
    Effect.gen(function*() {
      const db = freshDb()
      const s = yield* open(db)
      const { name } = yield* DurableBatch.load(["a", "b"]).pipe(Effect.provide(DurableBatch.layer(db)))
      const claimed = yield* store.claim(s, name, "w1", Date.now(), 60_000, 2)
      expect(claimed.map((c) => c.index)).toEqual([0, 1])
      yield* store.releaseOne(s, name, "w2", 0) // not w2's: nothing changes
      yield* store.releaseOne(s, name, "w1", 1)
      const rows = yield* s.sql<{ readonly idx: number; readonly state: string; readonly acquired_by: string | null }>`
        SELECT idx, state, acquired_by FROM ${s.sql(tables.items)} ORDER BY idx`
      expect(rows.map((r) => [Number(r.idx), r.state, r.acquired_by])).toEqual([[0, "claimed", "w1"], [1, "pending", null]])
    }))

  it.scopedLive("the fence turns false when renewals stall, before the lease stored for the row ends", () =>
    Effect.gen(function*() {
      const db = freshDb()
      const s = yield* open(db)
      const { name } = yield* DurableBatch.load(["a"]).pipe(Effect.provide(DurableBatch.layer(db)))
      // Renewals fail at once on a lock (instead of waiting up to 10 s in the driver, which
      // would hold this test's event loop too).
      yield* s.sql`PRAGMA busy_timeout = 0`
      const lease = 900
      const seen = yield* Deferred.make<() => boolean>()
      const run = each<string, never>(s, name, { concurrency: 1, lease, pollInterval: "50 millis" }, (_item, _index, _guard, fence) =>
        Effect.zipRight(Deferred.succeed(seen, fence), Effect.never))
      const fiber = yield* Effect.fork(Stream.runDrain(run))
      const fence = yield* Deferred.await(seen)
      expect(fence()).toBe(true)
      // Another connection holds the write lock: every renewal from here on fails.
      const other = createClient({ url: db })
      const tx = yield* Effect.promise(() => other.transaction("write"))
      const stored = yield* Effect.promise(() => tx.execute(`SELECT lease_until FROM ${tables.items}`))
      const leaseUntil = Number(stored.rows[0]!["lease_until"])
      let falseAt: number | undefined
      while (falseAt === undefined && Date.now() < leaseUntil + lease) {
        if (!fence()) falseAt = Date.now()
        else yield* Effect.sleep("5 millis")
      }
      yield* Effect.promise(() => tx.rollback())
      other.close()
      yield* fiber.interruptAsFork(fiber.id())
      expect(falseAt).toBeDefined()
      // No write starts in the last third of the lease, nor after it (when another worker may claim the row).
      expect(falseAt!).toBeLessThan(leaseUntil)
      expect(falseAt!).toBeGreaterThanOrEqual(leaseUntil - lease / 3 - 1)
    }), 20_000)

  it.scoped("a download asks the fence before each write: once it fails, the guard runs before more bytes reach the .part", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = fs.mkdtempSync(path.join(tmp, "fence-"))
      let asked = 0
      let guards = 0
      // The guard passes while the fence holds (the attempt's and the write session's checks),
      // and stops the download once the fence failed (the claim was lost meanwhile).
      const guard = Effect.suspend(() => (guards++, asked > 3 ? Effect.interrupt : Effect.void))
      const exit = yield* Effect.gen(function*() {
        // A resumable file (length and ETag), so a stopped download keeps its `.part`.
        const plan = yield* Plan.resolve(`${server.url}/files/f.bin?size=${8 << 20}`, {}, { dest: undefined, dir, name: "f.bin" }, undefined)
        return yield* Download.stage({ ...plan, guard, fence: () => ++asked <= 3 })
      }).pipe(Effect.provide(clientLayer()), Effect.exit)
      expect([Exit.isInterrupted(exit), guards, asked, fs.readdirSync(dir).sort()]).toEqual([true, 3, 5, ["f.bin.part", "f.bin.part.meta"]]) // asked: 4 chunks, then the stop (no drain)
      // Three socket reads went to the writer (at most 256 KiB each, undici's reads being
      // smaller); nothing after the fence failed, not even at the stop.
      const kept = fs.statSync(path.join(dir, "f.bin.part")).size
      expect(kept).toBeGreaterThan(0)
      expect(kept).toBeLessThanOrEqual(3 * 256 * 1024)
    }), 20_000)
})
