/**
 * The durable batch's outcome writer (`writer.ts`) on a real SQLite file: outcomes stored in
 * groups of at most `flushSize`, or `flushInterval` after the oldest arrived; each record
 * emitted once stored; the buffer bounded when the store is slower than the runner; what is
 * buffered at a stop stored on the way out; an upstream failure after what came before it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, type Duration, Effect, Exit, Fiber, Scope, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { open } from "../src/internal/durableBatch/database.js"
import * as store from "../src/internal/durableBatch/store.js"
import * as Writer from "../src/internal/durableBatch/writer.js"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "volley-durable-writer-"))
let files = 0

/** A fresh store holding `n` rows, all claimed by worker `w`. */
const claimedRows = (n: number) =>
  Effect.gen(function*() {
    const s = yield* open(`file:${path.join(tmp, `w${++files}.db`)}`)
    yield* store.startLoad(s, "b", 0)
    yield* store.insertChunk(s, "b", Array.from({ length: n }, (_, i) => [i, JSON.stringify(`item ${i}`)] as const))
    expect((yield* store.claim(s, "b", "w", Date.now(), 60_000, n)).length).toBe(n)
    return s
  })

const options = (flushSize: number, flushInterval: Duration.DurationInput): Writer.WriterOptions<number, number> => ({
  flushSize,
  flushInterval,
  finish: (i, now) => ({ index: i, outcome: "succeeded", status: 200, error: null, value: "{}", bytes: 1, startAt: 0, durationMs: 1, attempts: 1, finishedAt: now }),
  emit: (f) => f.index
})

const doneRows = (s: store.Sql) => Effect.map(store.doneCounts(s, "b"), (c) => c.done)

describe("durable batch writer", () => {
  it.scopedLive("stores groups of at most flushSize, each emitted once stored, every outcome once", () =>
    Effect.gen(function*() {
      const s = yield* claimedRows(50)
      const outcomes = Stream.range(0, 49).pipe(Stream.rechunk(3))
      const stored = yield* Writer.storing(s, "b", "w", outcomes, options(20, "1 hour"))
      const groups = yield* stored.pipe(Stream.chunks, Stream.runCollect)
      const sizes = Chunk.toReadonlyArray(groups).map(Chunk.size)
      expect(sizes.every((n) => n <= 20)).toBe(true)
      expect(Chunk.toReadonlyArray(groups).flatMap(Chunk.toReadonlyArray).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i))
      expect(yield* doneRows(s)).toBe(50)
    }))

  it.scopedLive("stores a group smaller than flushSize once the oldest outcome waited flushInterval", () =>
    Effect.gen(function*() {
      const s = yield* claimedRows(10)
      // Three outcomes, then none for ever: only the time flushes them.
      const outcomes = Stream.concat(Stream.make(0, 1, 2), Stream.never)
      const stored = yield* Writer.storing(s, "b", "w", outcomes, options(100, "30 millis"))
      const first = yield* stored.pipe(Stream.take(3), Stream.runCollect, Effect.timeout("10 seconds"))
      expect(Array.from(first).sort()).toEqual([0, 1, 2])
      expect(yield* doneRows(s)).toBe(3)
    }))

  it.scopedLive("bounds its buffer: while nothing is stored, it takes at most twice flushSize outcomes", () =>
    Effect.gen(function*() {
      const s = yield* claimedRows(10)
      let pulled = 0
      const outcomes = Stream.range(0, 999).pipe(Stream.rechunk(1), Stream.tap(() => Effect.sync(() => pulled++)))
      // The stored stream is never read, so no group is stored.
      yield* Writer.storing(s, "b", "w", outcomes, options(10, "1 hour"))
      yield* Effect.sleep("300 millis")
      expect(pulled).toBeGreaterThanOrEqual(20)
      expect(pulled).toBeLessThanOrEqual(21)
    }))

  it.scopedLive("stores what is buffered when the run stops (its scope closes), before anything else is given back", () =>
    Effect.gen(function*() {
      const s = yield* claimedRows(10)
      const scope = yield* Scope.make()
      const outcomes = Stream.concat(Stream.make(0, 1, 2, 3, 4), Stream.never)
      const stored = yield* Writer.storing(s, "b", "w", outcomes, options(100, "1 hour")).pipe(Scope.extend(scope))
      const running = yield* stored.pipe(Stream.runDrain, Effect.fork)
      yield* Effect.sleep("200 millis")
      expect(yield* doneRows(s)).toBe(0) // buffered, waiting for the group to fill
      yield* Fiber.interrupt(running)
      yield* Scope.close(scope, Exit.void)
      expect(yield* doneRows(s)).toBe(5)
    }))

  it.scopedLive("an upstream failure comes after the outcomes before it are stored and emitted", () =>
    Effect.gen(function*() {
      const s = yield* claimedRows(10)
      const outcomes = Stream.concat(Stream.make(0, 1, 2), Stream.fail("boom"))
      const stored = yield* Writer.storing(s, "b", "w", outcomes, options(100, "1 hour"))
      const emitted: Array<number> = []
      const exit = yield* stored.pipe(Stream.runForEach((i) => Effect.sync(() => emitted.push(i))), Effect.exit)
      expect(exit).toStrictEqual(Exit.fail("boom"))
      expect(emitted.sort()).toEqual([0, 1, 2])
      expect(yield* doneRows(s)).toBe(3)
    }))

  it.scopedLive("stores every field of an outcome as given: text that is JSON, nulls, fractions, epoch ms", () =>
    Effect.gen(function*() {
      const s = yield* claimedRows(3)
      const finishes: ReadonlyArray<store.Finish> = [
        { index: 0, outcome: "succeeded", status: 200, error: null, value: JSON.stringify({ body: "a \"quoted\" [1]" }), bytes: 123_456_789_012, startAt: 1_796_000_000_123, durationMs: 12.625, attempts: 2, finishedAt: 1_796_000_000_456 },
        { index: 2, outcome: "failed", status: undefined, error: JSON.stringify({ _tag: "Timeout", message: "it's late" }), value: null, bytes: 0, startAt: 5, durationMs: 0, attempts: 1, finishedAt: 6 }
      ]
      expect([...(yield* store.finish(s, "b", "w", finishes))].sort()).toEqual([0, 2])
      const rows = yield* store.doneRows(s, "b", -1, 10)
      expect(rows.map((r) => ({ ...r, idx: Number(r.idx) }))).toEqual([
        { idx: 0, item: JSON.stringify("item 0"), state: "done", outcome: "succeeded", status: 200, error: null, value: finishes[0]!.value, bytes: 123_456_789_012, start_at: 1_796_000_000_123, duration_ms: 12.625, attempts: 2, worker: "w", finished_at: 1_796_000_000_456 },
        { idx: 2, item: JSON.stringify("item 2"), state: "done", outcome: "failed", status: null, error: finishes[1]!.error, value: null, bytes: 0, start_at: 5, duration_ms: 0, attempts: 1, worker: "w", finished_at: 6 }
      ])
    }))
})
