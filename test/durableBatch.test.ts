/**
 * DurableBatch on SQLite files over real loopback sockets: idempotent loads, each item run
 * once, claims taken over after their lease, unknown outcomes for non-idempotent requests a
 * stopped worker may have sent, and the typed errors of bad databases and names.
 */
import { describe, expect, it } from "@effect/vitest"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Effect, Either, Exit, Fiber, Layer, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as DurableBatch from "../src/DurableBatch.js"
import { open } from "../src/internal/durableBatch/database.js"
import * as store from "../src/internal/durableBatch/store.js"
import { clientLayer, faultServer } from "./support/effect.js"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "volley-durable-"))
let files = 0
const freshDb = () => `file:${path.join(tmp, `b${++files}.db`)}`

/** Requests per path (query included) the server received. */
const perPath = (requests: ReadonlyArray<{ readonly path: string }>) => {
  const counts = new Map<string, number>()
  for (const r of requests) counts.set(r.path, (counts.get(r.path) ?? 0) + 1)
  return counts
}

describe("DurableBatch", () => {
  it.scopedLive("loads idempotently: a second load adds nothing, a different list under the name is refused", () =>
    Effect.gen(function*() {
      const urls = Array.from({ length: 1200 }, (_, i) => `http://127.0.0.1:1/item/${i}`)
      const layer = DurableBatch.layer(freshDb())
      const first = yield* DurableBatch.load(urls).pipe(Effect.provide(layer))
      expect(first).toMatchObject({ total: 1200, added: 1200 })
      expect(first.name).toMatch(/^list-[0-9a-f]{16}$/)
      const again = yield* DurableBatch.load(urls).pipe(Effect.provide(layer))
      expect(again).toEqual({ name: first.name, total: 1200, added: 0 })
      const named = yield* DurableBatch.load(Stream.fromIterable(urls), { name: first.name }).pipe(Effect.provide(layer))
      expect(named.added).toBe(0)
      const other = yield* DurableBatch.load([...urls, "http://127.0.0.1:1/extra"], { name: first.name }).pipe(Effect.provide(layer), Effect.flip)
      expect(other._tag).toBe("BatchConflict")
      expect(other.message).toContain(first.name)
      const status = yield* DurableBatch.status(first.name).pipe(Effect.provide(layer))
      expect(status).toMatchObject({ total: 1200, pending: 1200, done: 0 })
    }))

  it.scopedLive("a load cut short is resumed by the same list only: a different one is refused before any row of it is stored", () =>
    Effect.gen(function*() {
      const urls = Array.from({ length: 1200 }, (_, i) => `http://127.0.0.1:1/item/${i}`)
      const layer = DurableBatch.layer(freshDb())
      // The list's reader fails after 700 items: those are stored, with no digest yet.
      const cut = Stream.fromIterable(urls).pipe(Stream.take(700), Stream.concat(Stream.fail("read error")))
      const failed = yield* DurableBatch.load(cut, { name: "crawl" }).pipe(Effect.provide(layer), Effect.flip)
      expect(failed).toBe("read error")
      const other = urls.map((u, i) => i === 321 ? `${u}?other` : u)
      const refused = yield* DurableBatch.load(other, { name: "crawl" }).pipe(Effect.provide(layer), Effect.flip)
      expect(refused).toMatchObject({ _tag: "BatchConflict", name: "crawl" })
      expect(refused.message).toContain("item 321 differs")
      // A shorter list that matches the stored prefix would leave the first list's tail behind.
      const shorter = yield* DurableBatch.load(urls.slice(0, 300), { name: "crawl" }).pipe(Effect.provide(layer), Effect.flip)
      expect(shorter.message).toContain("cut short")
      // The first list resumes: all of it, once, in order.
      const resumed = yield* DurableBatch.load(urls, { name: "crawl" }).pipe(Effect.provide(layer))
      expect(resumed).toEqual({ name: "crawl", total: 1200, added: 500 })
      expect(yield* DurableBatch.status("crawl").pipe(Effect.provide(layer))).toMatchObject({ total: 1200, pending: 1200 })
    }))

  it.scopedLive("creates its SQLite file private (0600 in a 0700 folder), as the jobs database: it holds URLs and bodies", () =>
    Effect.gen(function*() {
      const file = path.join(tmp, "private", "batch.db")
      yield* DurableBatch.load(["http://127.0.0.1:1/a"]).pipe(Effect.provide(DurableBatch.layer(`file:${file}`)))
      expect(fs.statSync(file).mode & 0o777).toBe(0o600)
      expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700)
    }))

  it.scopedLive("runs each item once and returns the records in input order", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const urls = Array.from({ length: 300 }, (_, i) => i % 10 === 9 ? `${server.url}/status/404?i=${i}` : `${server.url}/ok?i=${i}`)
      const layer = Layer.merge(DurableBatch.layer(freshDb()), clientLayer())
      const { name } = yield* DurableBatch.load(urls).pipe(Effect.provide(layer))
      const records = yield* DurableBatch.settle<string>(name, { concurrency: 8, claimSize: 16, flushSize: 20 }).pipe(Effect.provide(layer))
      expect(records.map((r) => r.index)).toEqual(urls.map((_, i) => i))
      expect(records.filter((r) => r.outcome === "failed").length).toBe(30)
      expect(records[9]).toMatchObject({ status: 404, result: Either.left({ _tag: "StatusError" }) })
      expect(records[0]).toMatchObject({ item: urls[0], status: 200, outcome: "succeeded", attempts: 1 })
      expect([...perPath(server.requests).values()].every((n) => n === 1)).toBe(true)
      expect(server.requests.length).toBe(300)
      // Run again: nothing is left, nothing is sent.
      const again = yield* DurableBatch.stream(name).pipe(Stream.runCollect, Effect.provide(layer))
      expect(again.length).toBe(0)
      expect(server.requests.length).toBe(300)
      // Failed items go back and run again.
      expect(yield* DurableBatch.retry(name, { failed: true }).pipe(Effect.provide(layer))).toBe(30)
      const retried = yield* DurableBatch.stream(name).pipe(Stream.runCollect, Effect.provide(layer))
      expect(retried.length).toBe(30)
      expect(server.requests.length).toBe(330)
    }))

  it.scopedLive("takes over a stopped worker's claims after the lease: GETs run again, a sent POST ends unknown", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const items = Array.from({ length: 40 }, (_, i) => ({ url: `${server.url}/ok?i=${i}`, post: i % 2 === 1 }))
      const db = freshDb()
      const layer = Layer.merge(DurableBatch.layer(db), clientLayer())
      const { name } = yield* DurableBatch.load(items).pipe(Effect.provide(layer))
      // A worker that claims ten items, marks its two POSTs sent, and dies (never renews).
      const s = yield* open(db)
      const now = Date.now()
      const claimed = yield* store.claim(s, name, "dead-worker", now, 300, 10)
      expect(claimed.map((c) => c.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      yield* store.markSent(s, name, "dead-worker", 1, now)
      yield* store.markSent(s, name, "dead-worker", 3, now)
      const toRequest = (item: { url: string; post: boolean }) =>
        item.post ? HttpClientRequest.post(item.url) : HttpClientRequest.get(item.url)
      const records = yield* DurableBatch.settle(name, { toRequest, pollInterval: "50 millis" }).pipe(Effect.provide(layer))
      expect(records.length).toBe(40)
      const unknown = records.filter((r) => r.outcome === "unknown").map((r) => r.index)
      expect(unknown).toEqual([1, 3])
      expect(Either.isLeft(records[1]!.result) && records[1]!.result.left.message).toContain("may or may not have been applied")
      // POSTs 5, 7, 9 were claimed but never sent: they run once.
      const counts = perPath(server.requests)
      expect(counts.get("/ok?i=1")).toBeUndefined()
      expect(counts.get("/ok?i=5")).toBe(1)
      expect(server.requests.length).toBe(38)
      const status = yield* DurableBatch.status(name).pipe(Effect.provide(layer))
      expect(status).toMatchObject({ done: 40, unknown: 2, succeeded: 38, running: 0, expired: 0 })
    }))

  it.scopedLive("claims one chunk ahead and never marks a row sent before the pool takes it", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const items = Array.from({ length: 40 }, (_, i) => `${server.url}/slow?ms=400&i=${i}`)
      const db = freshDb()
      const layer = Layer.merge(DurableBatch.layer(db), clientLayer())
      const { name } = yield* DurableBatch.load(items).pipe(Effect.provide(layer))
      const s = yield* open(db)
      const toRequest = (url: string) => HttpClientRequest.post(url)
      const running = yield* DurableBatch.stream(name, { toRequest, concurrency: 2, claimSize: 4, worker: "w" }).pipe(
        Stream.runDrain,
        Effect.provide(layer),
        Effect.fork
      )
      // While the first two POSTs are at the server (400 ms each), nothing else can be taken.
      while (server.requests.length === 0) yield* Effect.sleep("20 millis")
      yield* Effect.sleep("150 millis")
      const [row] = yield* s.sql<{ readonly claimed: number; readonly sent: number }>`
        SELECT COUNT(*) AS claimed, COUNT(sent_at) AS sent FROM volley_batch_items
        WHERE batch = ${name} AND (acquired_by = 'w' OR worker = 'w')`
      // The chunk running (4) and the one claimed ahead (4); only the 2 POSTs the pool took
      // are marked sent, not the rest of the chunk nor the chunk ahead.
      expect(row!.claimed).toBe(8)
      expect(row!.sent).toBe(2)
      yield* Fiber.interrupt(running)
    }))

  it.scopedLive("keeps synchronous = NORMAL on the store's connection after a run that marks POSTs sent", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const urls = Array.from({ length: 30 }, (_, i) => `${server.url}/ok?i=${i}`)
      const layer = Layer.merge(DurableBatch.layer(freshDb()), clientLayer())
      const check = Effect.gen(function*() {
        const { name } = yield* DurableBatch.load(urls)
        const records = yield* DurableBatch.settle(name, { toRequest: (url: string) => HttpClientRequest.post(url), concurrency: 4, claimSize: 8 })
        expect(records.length).toBe(30)
        const store = yield* DurableBatch.DurableBatchStore
        return yield* store.sql<{ readonly synchronous: number }>`PRAGMA synchronous`
      })
      const sync = yield* check.pipe(Effect.provide(layer))
      expect(sync[0]!.synchronous).toBe(1) // NORMAL, after markSent switched to FULL and back
      expect(server.requests.length).toBe(30)
    }))

  it.scopedLive("stores an outcome once: a worker whose claim was taken over cannot store its late outcome", () =>
    Effect.gen(function*() {
      const db = freshDb()
      const { name } = yield* DurableBatch.load(["http://127.0.0.1:1/a"]).pipe(Effect.provide(DurableBatch.layer(db)))
      const s = yield* open(db)
      const outcome = (finishedAt: number): store.Finish => ({
        index: 0, outcome: "succeeded", status: 200, error: null, value: "{}", bytes: 1, startAt: 0, durationMs: 1, attempts: 1, finishedAt
      })
      expect((yield* store.claim(s, name, "slow", 1_000, 100, 10)).length).toBe(1)
      expect((yield* store.claim(s, name, "other", 1_050, 100, 10)).length).toBe(0) // lease still held
      expect((yield* store.claim(s, name, "other", 1_200, 100, 10)).map((c) => c.index)).toEqual([0]) // lease passed
      expect([...(yield* store.finish(s, name, "slow", [outcome(1_250)]))]).toEqual([])
      expect([...(yield* store.finish(s, name, "other", [outcome(1_260)]))]).toEqual([0])
      expect([...(yield* store.finish(s, name, "other", [outcome(1_270)]))]).toEqual([]) // done already
      const [record] = yield* DurableBatch.results(name).pipe(Stream.runCollect, Effect.provide(DurableBatch.layer(db)))
      expect(record).toMatchObject({ worker: "other", finishedAt: 1_260 })
    }))

  it.scopedLive("renews its lease while items run longer than it: a second worker never takes them", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      // Items run twice the lease; renewals come every third of it, so a stall of up to two
      // thirds (1 s: a loaded machine's SQLite commits on this event loop) is tolerated.
      const urls = Array.from({ length: 12 }, (_, i) => `${server.url}/slow?ms=3000&i=${i}`)
      const layer = Layer.merge(DurableBatch.layer(freshDb()), clientLayer())
      const { name } = yield* DurableBatch.load(urls).pipe(Effect.provide(layer))
      const options = { concurrency: 4, claimSize: 4, lease: "1500 millis", pollInterval: "50 millis" } as const
      const [a, b] = yield* Effect.all([
        DurableBatch.stream(name, { ...options, worker: "a" }).pipe(Stream.runCollect),
        DurableBatch.stream(name, { ...options, worker: "b" }).pipe(Stream.runCollect)
      ], { concurrency: 2 }).pipe(Effect.provide(layer))
      expect(a.length + b.length).toBe(12)
      expect([...perPath(server.requests).values()].every((n) => n === 1)).toBe(true)
      expect(server.requests.length).toBe(12)
    }))

  it.scopedLive("names the cause: a bad URL, a file that is not a database, a missing batch, an unreachable server", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.exit(Layer.build(DurableBatch.layer("mysql://x/y")))
      expect(Exit.isFailure(bad) && String(bad.cause)).toContain("DatabaseUrlError")
      const corrupt = path.join(tmp, "corrupt.db")
      fs.writeFileSync(corrupt, "this is not a database ".repeat(400))
      const broken = yield* Layer.build(DurableBatch.layer(`file:${corrupt}`)).pipe(Effect.flip)
      expect(broken._tag).toBe("DatabaseOpenError")
      expect(broken.message).toContain(corrupt)
      expect(broken.message).toMatch(/not a database/)
      const missing = yield* DurableBatch.status("nope").pipe(Effect.provide(DurableBatch.layer(freshDb())), Effect.flip)
      expect(missing.message).toContain(`no batch named "nope"`)
      const refused = yield* Layer.build(DurableBatch.layer("postgres://u:secret@127.0.0.1:1/db")).pipe(Effect.flip)
      expect(refused._tag).toBe("DatabaseOpenError")
      expect(refused.message).not.toContain("secret")
      expect(refused.message).toMatch(/ECONNREFUSED|connect/)
    }))
})
