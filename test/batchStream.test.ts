/**
 * Batch.stream: outcomes as they complete over real loopback sockets, early ends that abort
 * what is in flight, a large input read lazily, and the batch deadline on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Stream, TestClock } from "effect"
import * as Batch from "../src/Batch.js"
import { awaitSleepers, clientLayer, faultServer } from "./support/effect.js"
import { after, eventually, virtual } from "./support/batch.js"

describe("Batch.stream", () => {
  it.scopedLive("emits outcomes as they complete, with their input positions", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const inputs = [`${server.url}/slow?ms=150`, `${server.url}/ok`, `${server.url}/status/500`]
      const outcomes = yield* Batch.stream(inputs, { concurrency: 3 }).pipe(Stream.runCollect, Effect.provide(clientLayer()))
      const order = Chunk.toReadonlyArray(outcomes).map((o) => o.index)
      expect(order[2]).toBe(0) // the slow one finishes last
      expect([...order].sort()).toEqual([0, 1, 2])
    }))

  it.scopedLive("ending the stream early aborts the requests still in flight", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const inputs = [`${server.url}/ok`, `${server.url}/hang?1`, `${server.url}/hang?2`]
      const first = yield* Batch.stream(inputs, { concurrency: 3 }).pipe(
        Stream.tap(() => Effect.promise(() => server.waitForRequest("/hang", 2))),
        Stream.take(1),
        Stream.runCollect,
        Effect.provide(clientLayer())
      )
      expect(Chunk.size(first)).toBe(1)
      yield* eventually(() => server.stats.abortedByClient === 2 && server.stats.inFlight === 0)
    }))

  // What is measured is how far input is pulled ahead of the outcomes (the bound that keeps
  // memory flat), not memory itself: a heap figure without a forced GC would be noise.
  it.effect("reads a large input lazily: never more than an input chunk plus in-flight work pulled ahead", () =>
    Effect.gen(function*() {
      // No deadline: this is about the pool, not the client's timers.
      const { layer } = virtual(() => Effect.succeed(200), { deadline: "none", idleTimeout: "none" })
      let pulled = 0
      let maxAhead = 0
      let emitted = 0
      function* inputs() {
        for (let i = 0; i < 10_000; i++) {
          pulled++
          maxAhead = Math.max(maxAhead, pulled - emitted)
          yield `http://a.test/${i}`
        }
      }
      const tally = Batch.tally()
      yield* Batch.stream(inputs(), { concurrency: 32 }).pipe(
        Stream.runForEach((outcome) => Effect.sync(() => {
          emitted++
          tally.add(outcome)
        })),
        Effect.provide(layer)
      )
      expect(tally.summary().total).toBe(10_000)
      expect(tally.summary().outcomes).toEqual({ ok: 10_000 })
      // Never more than an input chunk plus the in-flight and buffered outcomes ahead.
      expect(maxAhead).toBeLessThan(4096 + 64 + 32 + 1)
    }))

  it.effect("fails with BatchDeadlineError after emitting what finished in time", () =>
    Effect.gen(function*() {
      const { layer, sent } = virtual((request) => (request.url.pathname === "/hang" ? Effect.never : after(10)))
      const fiber = yield* Effect.fork(
        Batch.stream(["http://a.test/ok", "http://a.test/hang"], { batchDeadline: "1 second" }).pipe(
          Stream.either,
          Stream.runCollect,
          Effect.provide(layer)
        )
      )
      yield* awaitSleepers(2)
      yield* TestClock.adjust("10 millis")
      yield* awaitSleepers(1)
      yield* TestClock.adjust("990 millis")
      const results = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      expect(results.length).toBe(2)
      const [first, second] = results
      expect(first?._tag === "Right" && first.right.index).toBe(0)
      expect(second?._tag === "Left" && second.left._tag).toBe("BatchDeadlineError")
      expect(sent.find((s) => s.url.endsWith("/hang"))!.interrupted).toBe(true)
    }))
})
