/**
 * Fan-out: many requests through the shared client, bounded, timed and collected.
 *
 * The WaitGroup + buffered channel program, done right: a global concurrency limit, an
 * optional per-host limit and rate limits, a deadline per item and one for the batch,
 * opt-in hedging, and one typed outcome per input. Three ways to collect:
 *
 * - {@link settle}: every outcome, in input order (success value or typed error, plus timing);
 * - {@link failFast}: all values, or the first error, which interrupts everything in flight;
 * - {@link stream}: outcomes as they complete, in flat memory, for inputs of any size.
 *
 * {@link summarize} and {@link tally} turn outcomes into counts, latency percentiles, bytes
 * and throughput. Interrupting a batch interrupts every in-flight request (their sockets are
 * aborted); nothing it started outlives it.
 *
 * ```ts
 * const outcomes = yield* Batch.settle(urls, { concurrency: 32, perHost: 4, itemDeadline: "5 seconds" })
 * const summary = Batch.summarize(outcomes)
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { Client } from "./Client.js"
import type { HttpError } from "./Errors.js"
import * as internal from "./internal/batch.js"
import { pool } from "./internal/batchStream.js"
import type { RequestInput } from "./internal/request.js"

export {
  /** @since 0.1.0 */
  BatchDeadlineError
} from "./internal/batch.js"
export type {
  /** @since 0.1.0 */
  Fetched,
  /** @since 0.1.0 */
  Options,
  /** @since 0.1.0 */
  Outcome,
  /** @since 0.1.0 */
  RateLimit
} from "./internal/batch.js"
export {
  /** @since 0.1.0 */
  outcomeKey,
  /** @since 0.1.0 */
  summarize,
  /** @since 0.1.0 */
  tally
} from "./internal/batchSummary.js"
export type {
  /** @since 0.1.0 */
  Latency,
  /** @since 0.1.0 */
  Summary,
  /** @since 0.1.0 */
  Tally
} from "./internal/batchSummary.js"

type BatchDeadlineError = internal.BatchDeadlineError
type Options<I, A, E, R> = internal.Options<I, A, E, R>
type Outcome<I, A, E> = internal.Outcome<I, A, E>

/**
 * Options for items that are not request inputs themselves: `toRequest` is required.
 *
 * @since 0.1.0
 */
export type MappedOptions<I, A, E, R> = Options<I, A, E, R> & { readonly toRequest: (item: I) => RequestInput }

/**
 * Runs every input and returns one outcome per input, in input order: the handler's value or
 * the item's own typed error, with its status, bytes, timing and attempt count. Never fails.
 *
 * With `batchDeadline`, when the deadline passes every in-flight request is interrupted and
 * each unfinished item (in flight or not yet sent) settles as a `BatchDeadlineError`.
 *
 * @since 0.1.0
 */
export const settle: {
  <I extends RequestInput, A = internal.Fetched, E = never, R = never>(
    inputs: Iterable<I>,
    options?: Options<I, A, E, R>
  ): Effect.Effect<Array<Outcome<I, A, E>>, never, Client | R>
  <I, A = internal.Fetched, E = never, R = never>(
    inputs: Iterable<I>,
    options: MappedOptions<I, A, E, R>
  ): Effect.Effect<Array<Outcome<I, A, E>>, never, Client | R>
} = <I, A, E, R>(inputs: Iterable<I>, options: Options<I, A, E, R> = {}) =>
  Effect.scoped(
    Effect.gen(function*() {
      const client = yield* Client
      const runner = yield* internal.makeRunner(client, options, options.batchDeadline !== undefined)
      const items = Array.isArray(inputs) ? (inputs as ReadonlyArray<I>) : Array.from(inputs)
      const slots: Array<Outcome<I, A, E>> = new Array(items.length)
      const work = internal.runAll(items, runner.concurrency, (item, index) =>
        Effect.map(runner.outcome(item, index), (outcome) => {
          slots[index] = outcome
        }))
      if (runner.batchDeadline === undefined) {
        yield* work
        return slots
      }
      const finished = yield* Effect.timeoutOption(work, runner.batchDeadline)
      if (Option.isNone(finished)) {
        for (let i = 0; i < items.length; i++) {
          if (slots[i] === undefined) slots[i] = runner.cutOff(items[i]!, i)
        }
      }
      return slots
    })
  )

/**
 * Runs every input and returns the handlers' values in input order, or fails with the first
 * error — which interrupts every other in-flight request at once (errgroup semantics). With
 * `batchDeadline`, fails with `BatchDeadlineError` when it passes.
 *
 * @since 0.1.0
 */
export const failFast: {
  <I extends RequestInput, A = internal.Fetched, E = never, R = never>(
    inputs: Iterable<I>,
    options?: Options<I, A, E, R>
  ): Effect.Effect<Array<A>, E | HttpError | BatchDeadlineError, Client | R>
  <I, A = internal.Fetched, E = never, R = never>(
    inputs: Iterable<I>,
    options: MappedOptions<I, A, E, R>
  ): Effect.Effect<Array<A>, E | HttpError | BatchDeadlineError, Client | R>
} = <I, A, E, R>(inputs: Iterable<I>, options: Options<I, A, E, R> = {}) =>
  Effect.scoped(
    Effect.gen(function*() {
      const client = yield* Client
      const runner = yield* internal.makeRunner(client, options, false)
      const items = Array.isArray(inputs) ? (inputs as ReadonlyArray<I>) : Array.from(inputs)
      const values: Array<A> = new Array(items.length)
      const work = Effect.as(
        internal.runAll(items, runner.concurrency, (item, index) =>
          Effect.map(runner.value(item, index), (value) => {
            values[index] = value
          })),
        values
      )
      const deadline = runner.batchDeadline
      if (deadline === undefined) return yield* work
      return yield* Effect.timeoutFail(work, {
        duration: deadline,
        onTimeout: () => new internal.BatchDeadlineError({ deadline, started: true })
      })
    })
  )

/**
 * Runs every input (an iterable or a `Stream`, read as it goes) and emits outcomes as they
 * complete, in completion order; `Outcome.index` gives each one's input position. At most
 * `concurrency` items are in progress and the input is pulled only as fast as they finish,
 * so millions of inputs run in flat memory.
 *
 * The stream fails only with the input stream's error, or with `BatchDeadlineError` when
 * `batchDeadline` passes (after interrupting everything in flight). Ending the stream early
 * (`Stream.take`, `Stream.takeUntil`, interruption) interrupts every in-flight request.
 *
 * @since 0.1.0
 */
export const stream: {
  <I extends RequestInput, A = internal.Fetched, E = never, R = never, IE = never, IR = never>(
    inputs: Iterable<I> | Stream.Stream<I, IE, IR>,
    options?: Options<I, A, E, R>
  ): Stream.Stream<Outcome<I, A, E>, IE | BatchDeadlineError, Client | R | IR>
  <I, A = internal.Fetched, E = never, R = never, IE = never, IR = never>(
    inputs: Iterable<I> | Stream.Stream<I, IE, IR>,
    options: MappedOptions<I, A, E, R>
  ): Stream.Stream<Outcome<I, A, E>, IE | BatchDeadlineError, Client | R | IR>
} = <I, A, E, R, IE, IR>(inputs: Iterable<I> | Stream.Stream<I, IE, IR>, options: Options<I, A, E, R> = {}) =>
  Stream.unwrapScoped(
    Effect.gen(function*() {
      const client = yield* Client
      const runner = yield* internal.makeRunner(client, options, false)
      const source: Stream.Stream<I, IE, IR> = typeof inputs === "object" && Stream.StreamTypeId in inputs
        ? (inputs as Stream.Stream<I, IE, IR>)
        : Stream.fromIterable(inputs as Iterable<I>)
      return yield* pool(source, runner)
    })
  )

/**
 * Whether an outcome is a success.
 *
 * @since 0.1.0
 */
export const isSuccess = <I, A, E>(outcome: Outcome<I, A, E>): boolean => outcome.result._tag === "Right"
