/**
 * Storing a runner's finished work: many outcomes per statement (grouped by size and time),
 * each written in the statement that marks its row done, and each record emitted once stored.
 * Both runners use it (requests in `run.ts`, any work per item in `each.ts`).
 *
 * A fiber drains the outcomes into a buffer; the returned stream takes a group from it when
 * `flushSize` are there, or `flushInterval` after the oldest arrived, stores it and emits its
 * records. Why not `Stream.groupedWithin`: it hands every upstream chunk over through a
 * `Handoff` (Deferreds and fibers per chunk), and `Batch.stream` emits small chunks: measured
 * +2 s CPU per 10k loopback GETs, as much as the requests themselves. Here the two sides
 * meet with a bare `Effect.async` only when one must wait (once per group, or when the buffer
 * is full).
 *
 * Outcomes finished but not stored when the run stops (Ctrl-C, an interrupted stream) are
 * stored by a finalizer. Call it after `Worker.join`: finalizers run in reverse, so this one
 * runs before the claims are given back, and a finished item is neither run again nor, for a
 * POST, left `unknown` because it sat in the buffer.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type BatchStoreError, storeError } from "./errors.js"
import * as store from "./store.js"

export interface WriterOptions<O, Out> {
  readonly flushSize: number
  readonly flushInterval: Duration.DurationInput
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
): Effect.Effect<Stream.Stream<Out, E | BatchStoreError>, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const flushSize = Math.max(1, options.flushSize)
    const interval = Duration.toMillis(Duration.decode(options.flushInterval))
    // The producer waits past this many buffered (the store is slower than the runner).
    const limit = 2 * flushSize
    const clock = yield* Effect.clock

    let buffer: Array<O> = []
    /** When the oldest outcome in `buffer` arrived (Clock ms). */
    let oldest = 0
    /** The group being stored. */
    let writing: ReadonlyArray<O> = []
    let ended: Exit.Exit<void, E> | undefined
    let wakeWriter: (() => void) | undefined
    let wakeProducer: (() => void) | undefined
    const resumeWriter = () => {
      const wake = wakeWriter
      wakeWriter = undefined
      wake?.()
    }

    const storeNow = (outcomes: ReadonlyArray<O>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const finishes = outcomes.map((o) => options.finish(o, now))
        return Effect.map(store.finish(s, name, worker, finishes), (done) => ({ finishes, done }))
      })

    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        const unstored = [...writing, ...buffer]
        writing = []
        buffer = []
        // An outcome already stored is not stored twice: its row is no longer claimed.
        return unstored.length === 0 ? Effect.void : storeNow(unstored)
      }).pipe(
        Effect.tapErrorCause((cause) => Effect.logWarning("durable batch: storing the last outcomes failed (their items run again)", cause)),
        Effect.ignore
      )
    )

    /**
     * Waits (bare callback, no Deferred) until the producer resumes the writer, unless `ready`
     * holds already: checked when the wait starts, which may be after the producer ran on.
     */
    const writerWaits = (ready: () => boolean) =>
      Effect.async<void>((resume) => {
        if (ready()) return resume(Effect.void)
        wakeWriter = () => resume(Effect.void)
        return Effect.sync(() => {
          wakeWriter = undefined
        })
      })
    const hasOutcomes = () => buffer.length > 0 || ended !== undefined
    const groupFull = () => buffer.length >= flushSize || ended !== undefined

    yield* Stream.runForEachChunk(outcomes, (chunk) =>
      Effect.suspend(() => {
        if (buffer.length === 0) oldest = clock.unsafeCurrentTimeMillis()
        Chunk.forEach(chunk, (o) => buffer.push(o))
        if (buffer.length >= flushSize || wakeWriter !== undefined && buffer.length === Chunk.size(chunk)) resumeWriter()
        if (buffer.length < limit) return Effect.void
        return Effect.async<void>((resume) => {
          if (buffer.length < limit) return resume(Effect.void)
          wakeProducer = () => resume(Effect.void)
          return Effect.sync(() => {
            wakeProducer = undefined
          })
        })
      })).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            ended = Exit.asVoid(exit)
            resumeWriter()
          })
        ),
        Effect.forkScoped
      )

    const nextGroup: Effect.Effect<Chunk.Chunk<Out>, Option.Option<E | BatchStoreError>> = Effect.gen(function*() {
      while (true) {
        if (buffer.length === 0) {
          if (ended === undefined) {
            yield* writerWaits(hasOutcomes)
            continue
          }
          if (Exit.isSuccess(ended)) return yield* Effect.fail(Option.none())
          return yield* Effect.failCause(Cause.map(ended.cause, Option.some))
        }
        if (buffer.length < flushSize && ended === undefined) {
          const left = oldest + interval - clock.unsafeCurrentTimeMillis()
          if (left > 0) {
            // Woken early when the group fills up (or the outcomes end).
            yield* Effect.raceFirst(writerWaits(groupFull), Effect.sleep(Duration.millis(left)))
            continue
          }
        }
        writing = buffer.length <= flushSize ? buffer : buffer.slice(0, flushSize)
        buffer = buffer.length <= flushSize ? [] : buffer.slice(flushSize)
        if (buffer.length > 0) oldest = clock.unsafeCurrentTimeMillis()
        const wake = wakeProducer
        wakeProducer = undefined
        wake?.()
        const group = writing
        const { done, finishes } = yield* Effect.mapError(storeNow(group), (e) => Option.some(storeError("storing outcomes")(e)))
        writing = []
        const out: Array<Out> = []
        for (let i = 0; i < group.length; i++) {
          if (done.has(finishes[i]!.index)) out.push(options.emit(finishes[i]!, group[i]!))
        }
        if (out.length > 0) return Chunk.unsafeFromArray(out)
      }
    })
    return Stream.repeatEffectChunkOption(nextGroup)
  })
