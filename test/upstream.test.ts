/**
 * Effect behaviours volley works around, each pinned by a test that fails once the primitive
 * is good enough, so the workaround can go. Checked against effect 3.22.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Stream, Supervisor } from "effect"

/** Lets every fiber that can run, run (a fail-fast interruption included), without moving the clock. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 300; i++) yield* Effect.yieldNow()
})

describe("upstream: Effect.forEach's fail-fast and a sibling inside Effect.timeout", () => {
  // Why volley has `runAll` (internal/batch/runAll.ts) and `within` (internal/transport/timer.ts)
  // instead of Effect.forEach and Effect.timeoutFail. Nearest upstream change: Effect-TS/effect#4189.
  it.effect("a sibling parked in Effect.timeout holds the failed forEach back (effect 3.22): the workaround is still needed", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const parked = Effect.timeout(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never), "1 hour")
      const failing = Effect.zipRight(Deferred.await(started), Effect.fail("boom"))
      const both: ReadonlyArray<Effect.Effect<unknown, unknown>> = [parked, failing]
      const fiber = yield* Effect.fork(Effect.forEach(both, (e) => e, { concurrency: 2 }))
      yield* settle
      // When this starts failing (the forEach ends at once), switch runAll and within to the primitives.
      expect((yield* Fiber.poll(fiber))._tag).toBe("None")
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("the same forEach ends at once when the sibling waits without Effect.timeout (control)", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const parked = Effect.zipRight(Deferred.succeed(started, undefined), Effect.never)
      const failing = Effect.zipRight(Deferred.await(started), Effect.fail("boom"))
      const both: ReadonlyArray<Effect.Effect<unknown, unknown>> = [parked, failing]
      const fiber = yield* Effect.fork(Effect.forEach(both, (e) => e, { concurrency: 2 }))
      yield* settle
      expect((yield* Fiber.poll(fiber))._tag).toBe("Some")
    }))
})

/** Counts the fibers started under it (`Effect.supervised`). */
class FiberCounter extends Supervisor.AbstractSupervisor<number> {
  started = 0
  readonly value = Effect.sync(() => this.started)
  override onStart(): void {
    this.started++
  }
}

/** Fibers started per run, and the best of three wall times, for `run` over `n` instant items. */
const measure = (n: number, run: (items: ReadonlyArray<number>) => Effect.Effect<unknown>) =>
  Effect.gen(function*() {
    const items = Array.from({ length: n }, (_, i) => i)
    const counter = new FiberCounter()
    let best = Infinity
    for (let round = 0; round < 3; round++) {
      const started = performance.now()
      yield* Effect.supervised(run(items), counter)
      best = Math.min(best, performance.now() - started)
    }
    return { fibersPerRun: counter.started / 3, ms: best }
  })

const viaStream = (items: ReadonlyArray<number>) =>
  Stream.runDrain(Stream.mapEffect(Stream.fromIterable(items), Effect.succeed, { concurrency: 16, unordered: true }))
const viaForEach = (items: ReadonlyArray<number>) => Effect.forEach(items, Effect.succeed, { concurrency: 16, discard: true })

describe("upstream: Stream.mapEffect with concurrency", () => {
  // Why Batch.stream runs its own fixed pool of workers (internal/batch/stream.ts) instead of
  // Stream.mapEffect(f, { concurrency, unordered: true }). No Effect 3 issue tracks this, and 3.x
  // takes bug fixes only (Effect-TS/effect#5994); Effect 4's Stream is a new implementation (its
  // concurrent mapEffect: Effect-TS/effect-smol#66).
  it.live("forks fibers per element (three in effect 3.22), where Effect.forEach forks one per worker: the workaround is still needed", () =>
    Effect.gen(function*() {
      const stream = yield* measure(200, viaStream)
      const forEach = yield* measure(200, viaForEach)
      // When this starts failing (no fiber per element), measure Batch.stream against the primitive again.
      expect(stream.fibersPerRun).toBeGreaterThanOrEqual(200)
      // The control: the counter sees Effect.forEach's 16 workers (and one more that runs them), not one per item.
      expect(forEach.fibersPerRun).toBeLessThanOrEqual(17)
    }))

  it.live("is more than 5x slower than Effect.forEach over the same instant effects (over 100x in effect 3.22): the workaround is still needed", () =>
    Effect.gen(function*() {
      const stream = yield* measure(200, viaStream)
      const forEach = yield* measure(200, viaForEach)
      // When this starts failing, Stream.mapEffect is within 5x of Effect.forEach: bench Batch.stream
      // (`VOLLEY_BENCH=http npm run bench`) over the primitive before keeping internal/batch/stream.ts.
      expect(stream.ms / forEach.ms).toBeGreaterThan(5)
    }), 60_000)
})
