/**
 * The streaming mode's engine: a fixed pool of worker fibers pulling from the input and
 * pushing outcomes to a bounded buffer the consumer drains in chunks.
 *
 * Why not `Stream.mapEffect({ concurrency, unordered: true })`: in effect 3.22 it builds a
 * channel and forks three fibers per element (measured 6x slower than `Effect.forEach` on 20k
 * loopback GETs; over 100x on instant effects, where this pool is within 1.5x of forEach).
 * No Effect 3 issue tracks it, and 3.x takes bug fixes only (Effect-TS/effect#5994); Effect
 * 4's Stream is a new implementation (its concurrent mapEffect:
 * https://github.com/Effect-TS/effect-smol/issues/66). test/upstream.test.ts fails once 3.x no
 * longer forks per element or comes within 5x of `Effect.forEach`.
 *
 * And why not two `Queue`s: every blocking offer or take allocates a `Deferred`, which costs
 * ~15 µs per item here. Workers take items from the current input chunk synchronously (one
 * of them pulls the next chunk when it runs out, under a lock), and only wait — with a bare
 * `Effect.async` — when the output buffer is full. Memory is bounded by one input chunk plus
 * the output buffer, whatever the input's size; the workers live in the stream's scope, so
 * ending the stream interrupts them and every request in flight.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { BatchDeadlineError } from "../../Errors.js"
import type { Outcome } from "../../Batch.js"
import type { Runner } from "./runner.js"

type Resume<A, E> = (effect: Effect.Effect<A, E>) => void

/**
 * Runs `source` through the runner with `runner.concurrency` workers. The returned stream
 * must be consumed within the scope the pool was started in (`Stream.unwrapScoped`).
 */
export const pool = <I, A, E, R, IE, IR>(
  source: Stream.Stream<I, IE, IR>,
  runner: Runner<I, A, E, R>
): Effect.Effect<Stream.Stream<Outcome<I, A, E>, IE | BatchDeadlineError>, never, Scope.Scope | R | IR> =>
  Effect.gen(function*() {
    type Out = Outcome<I, A, E>
    type Failure = IE | BatchDeadlineError
    const n = runner.concurrency
    const capacity = Math.max(n, 64)
    const pullInput = yield* Stream.toPull(source)
    const lock = yield* Effect.makeSemaphore(1)

    // Input side: the current chunk, read by every worker.
    let items: ReadonlyArray<I> = []
    let position = 0
    let exhausted = false
    let index = 0
    // Output side.
    let out: Array<Out> = []
    let consumer: Resume<Chunk.Chunk<Out>, Option.Option<Failure>> | undefined
    const blocked: Array<Resume<void, never>> = []
    /** Set once: the end of the stream (no cause) or its failure. */
    let ended: { readonly cause: Cause.Cause<Failure> | undefined } | undefined
    let running = n

    const endEffect = (): Effect.Effect<never, Option.Option<Failure>> =>
      ended!.cause === undefined ? Effect.fail(Option.none()) : Effect.failCause(Cause.map(ended!.cause, Option.some))

    const takeAll = (): Chunk.Chunk<Out> => {
      const chunk = Chunk.unsafeFromArray(out)
      out = []
      for (const resume of blocked.splice(0)) resume(Effect.void)
      return chunk
    }

    /**
     * What a woken consumer gets: evaluated when its fiber actually resumes, so everything
     * emitted in between arrives as one chunk (not one chunk per outcome).
     */
    const delivery: Effect.Effect<Chunk.Chunk<Out>, Option.Option<Failure>> = Effect.suspend(() =>
      out.length > 0 ? Effect.succeed(takeAll()) : endEffect()
    )

    const wake = (): void => {
      wakeScheduled = false
      const waiting = consumer
      consumer = undefined
      if (waiting !== undefined) waiting(delivery)
    }
    // Responses finish one I/O callback at a time; waking the consumer at once would hand it
    // one outcome per chunk (a stream step each, measured ~30 µs). Waking it once per event
    // loop turn hands it everything that finished in that turn. Pure scheduling: no time rule.
    let wakeScheduled = false
    const wakeSoon = (): void => {
      if (wakeScheduled) return
      wakeScheduled = true
      setImmediate(wake)
    }

    const finish = (cause: Cause.Cause<Failure> | undefined): void => {
      if (ended !== undefined) return
      ended = { cause }
      wake()
    }

    const emit = (outcome: Out): Effect.Effect<void> => {
      out.push(outcome)
      if (consumer !== undefined) wakeSoon()
      if (out.length < capacity) return Effect.void
      return Effect.async<void>((resume) => {
        blocked.push(resume)
        return Effect.sync(() => {
          const at = blocked.indexOf(resume)
          if (at >= 0) blocked.splice(at, 1)
        })
      })
    }

    /** Loads the next input chunk, unless another worker already did. */
    const refill: Effect.Effect<void, never, IR> = lock.withPermits(1)(
      Effect.suspend(() => {
        if (position < items.length || exhausted || ended !== undefined) return Effect.void
        return Effect.matchCause(pullInput, {
          onSuccess: (chunk) => {
            items = Chunk.toReadonlyArray(chunk)
            position = 0
          },
          onFailure: (cause) => {
            exhausted = true
            const failure = Cause.flipCauseOption(cause)
            if (Option.isSome(failure)) finish(failure.value)
          }
        })
      })
    )

    const worker: Effect.Effect<void, never, R | IR> = Effect.suspend(() => {
      if (ended !== undefined) return Effect.void
      if (position < items.length) {
        const item = items[position++]!
        return Effect.zipRight(Effect.flatMap(runner.outcome(item, index++), emit), worker)
      }
      if (!exhausted) return Effect.zipRight(refill, worker)
      if (--running === 0) finish(undefined)
      return Effect.void
    })

    const workers: Array<Fiber.RuntimeFiber<void>> = []
    for (let i = 0; i < n; i++) workers.push(yield* Effect.forkScoped(worker))

    const deadline = runner.batchDeadline
    if (deadline !== undefined) {
      yield* Effect.forkScoped(
        Effect.zipRight(
          Effect.sleep(deadline),
          Effect.suspend(() => {
            if (ended !== undefined) return Effect.void
            exhausted = true
            return Effect.zipRight(
              Fiber.interruptAll(workers),
              Effect.sync(() => finish(Cause.fail(new BatchDeadlineError({ deadline, started: true }))))
            )
          })
        )
      )
    }

    const pull: Effect.Effect<Chunk.Chunk<Out>, Option.Option<Failure>> = Effect.suspend(() => {
      if (out.length > 0) return Effect.succeed(takeAll())
      if (ended !== undefined) return endEffect()
      return Effect.async<Chunk.Chunk<Out>, Option.Option<Failure>>((resume) => {
        consumer = resume
        return Effect.sync(() => {
          if (consumer === resume) consumer = undefined
        })
      })
    })
    return Stream.repeatEffectChunkOption(pull)
  })
