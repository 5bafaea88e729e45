/**
 * A fixed pool of worker fibers over an array, stopping at the first failure: Batch's
 * `settle` and `failFast`, and `Download.many`, run their items with it.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"

/**
 * Runs `f` over `items` with `n` worker fibers, stopping at the first failure: the other
 * workers are interrupted (and awaited) before it is returned.
 *
 * Why not `Effect.forEach({ concurrency })`: in effect 3.22 its fail-fast interruption does
 * not reach a sibling blocked inside `Effect.timeout` (or any `raceFibersWith`) until that
 * race ends on its own (pinned by `test/upstream.test.ts`; nearest upstream change:
 * Effect-TS/effect#4189) — a hung request under a `TestClock`, or a handler with its own
 * timeout, would hold the failure back. Explicit `Fiber.interruptAll` does reach them. It
 * also saves forEach's per-item `yieldNow` and exit bookkeeping.
 */
export const runAll = <I, A, E, R>(
  items: ReadonlyArray<I>,
  n: number,
  f: (item: I, index: number) => Effect.Effect<A, E, R>,
  /** Given each item's value as it ends: where a caller keeps it, with no `Effect.map` step per item. */
  each: (value: A, index: number) => void = () => {}
): Effect.Effect<void, E, R> =>
  Effect.suspend(() => {
    if (items.length === 0) return Effect.void
    const workers = Math.min(n, items.length)
    const finished = Deferred.unsafeMake<void, E>(FiberId.none)
    let next = 0
    let running = workers
    // One runtime step per item (a suspend + zipRight chain takes three), its value handed to
    // `each` by the loop itself (an `Effect.map` would take two more: `clientSteps` bench,
    // `Batch.settle` row). A worker runs one item at a time, so `current` is its item's index.
    const loop = (): Effect.Effect<void, E, R> => {
      let current = 0
      return Effect.whileLoop({
        while: () => next < items.length,
        body: () => {
          current = next++
          return f(items[current]!, current)
        },
        step: (value) => each(value, current)
      })
    }
    const worker = () => Effect.matchCauseEffect(loop(), {
      onFailure: (cause) => Deferred.failCause(finished, cause),
      onSuccess: () => (--running === 0 ? Deferred.succeed(finished, undefined) : Effect.void)
    })
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(Effect.all(Array.from({ length: workers }, () => Effect.fork(restore(worker())))), (fibers) =>
        Effect.ensuring(restore(Deferred.await(finished)), Fiber.interruptAll(fibers))))
  })

