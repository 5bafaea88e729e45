/**
 * Effect behaviours volley works around, each pinned by a test that fails once the primitive
 * is good enough, so the workaround can go. Checked against effect 3.22.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"

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
