/**
 * Storing a runner's finished work: many outcomes per statement (grouped by size and time),
 * each written in the statement that marks its row done, and each record emitted once stored.
 * Both runners use it (requests in `run.ts`, any work per item in `each.ts`).
 *
 * Outcomes finished but still in the write buffer when the run stops (Ctrl-C, an interrupted
 * stream) are stored by a finalizer. Call it after `Worker.join`: finalizers run in reverse,
 * so this one runs before the claims are given back, and a finished item is neither run
 * again nor, for a POST, left `unknown` because it sat in the buffer.
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type BatchStoreError, storeError } from "./errors.js"
import * as store from "./store.js"

export interface WriterOptions<O, Out> {
  readonly flushSize: number
  readonly flushInterval: Duration.DurationInput
  /** The row an outcome belongs to. */
  readonly index: (outcome: O) => number
  /** What is stored of an outcome, at `now`. */
  readonly finish: (outcome: O, now: number) => store.Finish
  /** What is emitted once stored. */
  readonly emit: (finish: store.Finish, outcome: O) => Out
}

export const storing = <O, Out, E, R>(
  s: store.Sql,
  name: string,
  worker: string,
  outcomes: Stream.Stream<O, E, R>,
  options: WriterOptions<O, Out>
): Effect.Effect<Stream.Stream<Out, E | BatchStoreError, R>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const unstored = new Map<number, O>()
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        if (unstored.size === 0) return Effect.void
        return Effect.flatMap(Clock.currentTimeMillis, (now) =>
          store.finish(s, name, worker, Array.from(unstored.values(), (o) => options.finish(o, now))))
      }).pipe(
        Effect.tapErrorCause((cause) => Effect.logWarning("durable batch: storing the last outcomes failed (their items run again)", cause)),
        Effect.ignore
      )
    )
    return outcomes.pipe(
      Stream.tap((o) => Effect.sync(() => unstored.set(options.index(o), o))),
      Stream.groupedWithin(Math.max(1, options.flushSize), options.flushInterval),
      Stream.mapEffect((chunk) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const finishes = Chunk.toReadonlyArray(chunk).map((o) => options.finish(o, now))
          const done = yield* Effect.mapError(store.finish(s, name, worker, finishes), storeError("storing outcomes"))
          const out: Array<Out> = []
          Chunk.forEach(chunk, (o, i) => {
            unstored.delete(options.index(o))
            if (done.has(options.index(o))) out.push(options.emit(finishes[i]!, o))
          })
          return out
        })
      ),
      Stream.flattenIterables
    )
  })
