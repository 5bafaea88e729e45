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
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as RateLimiter from "effect/RateLimiter"
import * as Stream from "effect/Stream"
import { type CircuitBreakerOptions, Client, type RequestInput, type RequestOptions, type Response } from "./Client.js"
import type { HttpError } from "./Errors.js"
import * as internal from "./internal/batch/runner.js"
import { runAll } from "./internal/batch/runAll.js"
import { pool } from "./internal/batch/stream.js"

export {
  /**
   * The batch's overall deadline passed before the item finished.
   *
   * @category running
   * @since 0.1.0
   */
  BatchDeadlineError
} from "./Errors.js"
/**
 * Summaries of outcomes: {@link summarize}, {@link tally}, `outcomeKey`, and the `Summary`,
 * `Latency`, `Tally` and `Tallied` models, declared in `BatchSummary.ts`.
 *
 * @category running
 * @since 0.1.0
 */
export * from "./BatchSummary.js"

import { BatchDeadlineError } from "./Errors.js"

/**
 * What the default handler returns: the status and the number of body bytes read.
 *
 * @category models
 * @since 0.1.0
 */
export interface Fetched {
  readonly status: number
  readonly bytes: number
}

/**
 * A rate limit: request starts per second, or Effect `RateLimiter` options for full control
 * (`{ limit, interval, algorithm }`).
 *
 * A plain number `n` is enforced exactly on average and smoothly: at most ~n/10 starts per
 * ~100 ms window (fixed-window algorithm), one start every 1/n s below 10 per second.
 *
 * @category models
 * @since 0.1.0
 */
export type RateLimit = number | RateLimiter.RateLimiter.Options

/**
 * How a batch runs. Every field is optional.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<I, A, E, R> {
  /** Items in progress at once (default 16). An item waiting for a host permit holds its slot. */
  readonly concurrency?: number | undefined
  /**
   * Requests in flight at once to one host (`host:port`), hedges and retries included. Or
   * `"adaptive"`: each origin's limit is found from what the host answers (AIMD on 429, 503,
   * timeouts and resets, and a latency gradient), within `concurrency`; the limit is the
   * client's, shared with its other consumers.
   */
  readonly perHost?: number | "adaptive" | undefined
  /**
   * A circuit breaker per origin (`true` for the defaults, see `Client.CircuitBreakerOptions`):
   * calls to an origin that keeps failing fail at once with `CircuitOpenError`. The breaker is
   * the client's (made with the first options asked for), shared with its other consumers.
   */
  readonly circuitBreaker?: boolean | CircuitBreakerOptions | undefined
  /** Request starts per second across the batch (retries and hedges count). */
  readonly rate?: RateLimit | undefined
  /** Request starts per second to one host. */
  readonly perHostRate?: RateLimit | undefined
  /**
   * Deadline of each item, counted from its first request: its attempts, the waits between
   * retries and any hedge, together. When it passes the item fails with a `NetworkError`
   * (`reason: "Timeout"`, `phase: "deadline"`) and its requests are aborted. `"none"` turns
   * off the client's per-attempt deadline too. (`requestOptions.deadline` bounds each attempt.)
   */
  readonly itemDeadline?: Duration.DurationInput | "none" | undefined
  /**
   * Deadline of the whole batch. When it passes, every in-flight request is interrupted;
   * see each mode for what it returns.
   */
  readonly batchDeadline?: Duration.DurationInput | undefined
  /**
   * Hedging, for idempotent requests only (GET, HEAD, PUT, DELETE, OPTIONS, or with an
   * `Idempotency-Key`): when an attempt has not finished after this delay, a second one is
   * sent; the first to succeed wins and the other is interrupted (its socket aborted). If one
   * fails the other is awaited; if both fail, the first attempt's error is kept. An attempt
   * that fails before the delay is not hedged (retries are the retry policy's job).
   */
  readonly hedge?: Duration.DurationInput | undefined
  /** Further per-request options (`accept`, `retry`, `headersTimeout`, `maxBodyBytes`, …). */
  readonly requestOptions?: RequestOptions | undefined
  /** The request for an item; needed when items are not request inputs themselves. */
  readonly toRequest?: ((item: I) => RequestInput) | undefined
  /**
   * What to do with each response (it may run more than once: retries and hedges). The body
   * is released when it returns. Default: read and discard the body, returning
   * {@link Fetched}.
   */
  readonly handle?: ((response: Response, item: I) => Effect.Effect<A, E, R>) | undefined
}

/**
 * What became of one item.
 *
 * @category models
 * @since 0.1.0
 */
export interface Outcome<I, A, E> {
  /** Position of the item in the input. */
  readonly index: number
  readonly item: I
  /** The handler's value, or the item's own typed error. */
  readonly result: Either.Either<A, E | HttpError | BatchDeadlineError>
  /** Status of the last response received (a success or a `StatusError`), if any. */
  readonly status: number | undefined
  /**
   * Body bytes: counted as read by the default handler; with a custom handler, the
   * `Content-Length` the server announced (0 when it announced none).
   */
  readonly bytes: number
  /** When the item's first request was sent, in ms since the batch started (Clock time). */
  readonly startMs: number
  /** From the first request sent to the outcome, in ms: retries, backoff and hedges included. */
  readonly durationMs: number
  /** Requests sent for this item: retries and hedges included; 0 if it was never sent. */
  readonly attempts: number
  /**
   * With `rate` (an open-loop run): when the schedule meant the item to start, in ms since
   * the batch started. Its latency then counts from here, so a slow server cannot hide the
   * requests it delayed (coordinated omission, corrected as wrk2 and k6 do). `undefined`
   * without a rate (a closed-loop run: each item starts when a slot is free).
   */
  readonly scheduledMs?: number | undefined
  /** With `rate`: from the scheduled start to the first request sent, in ms (0 without). */
  readonly queueMs?: number | undefined
  /** Times the item waited for a pause its host asked for (`Retry-After`, a spent quota). */
  readonly pauses?: number | undefined
  /** Ms the item's requests waited for their host's pause or pacing. */
  readonly pausedMs?: number | undefined
  /** Why a retry (or hedge) the policy wanted was not made: `"budget"`, the host's retry budget was spent. */
  readonly retryRefused?: "budget" | undefined
}

/**
 * Options for items that are not request inputs themselves: `toRequest` is required.
 *
 * @category models
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
 * @category running
 * @since 0.1.0
 */
export const settle: {
  <I extends RequestInput, A = Fetched, E = never, R = never>(
    inputs: Iterable<I>,
    options?: Options<I, A, E, R>
  ): Effect.Effect<Array<Outcome<I, A, E>>, never, Client | R>
  <I, A = Fetched, E = never, R = never>(
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
      const work = runAll(items, runner.concurrency, runner.outcome, (outcome, index) => {
        slots[index] = outcome
      })
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
 * @category running
 * @since 0.1.0
 */
export const failFast: {
  <I extends RequestInput, A = Fetched, E = never, R = never>(
    inputs: Iterable<I>,
    options?: Options<I, A, E, R>
  ): Effect.Effect<Array<A>, E | HttpError | BatchDeadlineError, Client | R>
  <I, A = Fetched, E = never, R = never>(
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
        runAll(items, runner.concurrency, runner.value, (value, index) => {
          values[index] = value
        }),
        values
      )
      const deadline = runner.batchDeadline
      if (deadline === undefined) return yield* work
      return yield* Effect.timeoutFail(work, {
        duration: deadline,
        onTimeout: () => new BatchDeadlineError({ deadline, started: true })
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
 * @category running
 * @since 0.1.0
 */
export const stream: {
  <I extends RequestInput, A = Fetched, E = never, R = never, IE = never, IR = never>(
    inputs: Iterable<I> | Stream.Stream<I, IE, IR>,
    options?: Options<I, A, E, R>
  ): Stream.Stream<Outcome<I, A, E>, IE | BatchDeadlineError, Client | R | IR>
  <I, A = Fetched, E = never, R = never, IE = never, IR = never>(
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
 * An outcome whose item succeeded: `outcome.result.right` is the handler's value.
 *
 * @category models
 * @since 0.1.0
 */
export interface Success<I, A, E> extends Outcome<I, A, E> {
  readonly result: Either.Right<E | HttpError | BatchDeadlineError, A>
}

/**
 * An outcome whose item failed: `outcome.result.left` is its typed error.
 *
 * @category models
 * @since 0.1.0
 */
export interface Failure<I, A, E> extends Outcome<I, A, E> {
  readonly result: Either.Left<E | HttpError | BatchDeadlineError, A>
}

/**
 * Whether an outcome is a success; a type guard, so `outcomes.filter(Batch.isSuccess)` is an
 * array of {@link Success} and `.result.right` is typed.
 *
 * @category guards
 * @since 0.1.0
 */
export const isSuccess = <I, A, E>(outcome: Outcome<I, A, E>): outcome is Success<I, A, E> => outcome.result._tag === "Right"

/**
 * Whether an outcome is a failure; a type guard (see {@link isSuccess}).
 *
 * @category guards
 * @since 0.1.0
 */
export const isFailure = <I, A, E>(outcome: Outcome<I, A, E>): outcome is Failure<I, A, E> => outcome.result._tag === "Left"

/**
 * The values of the successful outcomes, in order: with a typed `handle` (e.g. `Client`'s
 * `jsonSchema` on the response), the decoded bodies of a batch in one line.
 *
 * @example
 * ```ts
 * import { Console, Effect, Schema } from "effect"
 * import { Batch } from "volley"
 * import * as Testing from "volley/Testing"
 *
 * const User = Schema.Struct({ id: Schema.Number, name: Schema.String })
 * const urls = [1, 2, 3].map((id) => `https://api.test/users/${id}`)
 *
 * const program = Effect.gen(function*() {
 *   const outcomes = yield* Batch.settle(urls, {
 *     concurrency: 8,
 *     handle: (response) => Effect.flatMap(response.json, Schema.decodeUnknown(User))
 *   })
 *   const users = Batch.values(outcomes) // ReadonlyArray<{ id: number; name: string }>
 *   const failed = outcomes.filter(Batch.isFailure).map((o) => `${o.item}: ${o.result.left._tag}`)
 *   yield* Console.log(users.map((u) => u.name), failed)
 * })
 *
 * // Here against the test kit's routes; in a program, `Client.layer()`.
 * Effect.runPromise(program.pipe(Effect.provide(Testing.layer({
 *   "/users/3": Testing.status(404),
 *   "/users/:id": (request) => Testing.json({ id: Number(request.params["id"]), name: `user ${request.params["id"]}` })
 * }))))
 * // [ 'user 1', 'user 2' ] [ 'https://api.test/users/3: StatusError' ]
 * ```
 *
 * @category getters
 * @since 0.1.0
 */
export const values = <I, A, E>(outcomes: Iterable<Outcome<I, A, E>>): Array<A> => {
  const out: Array<A> = []
  for (const outcome of outcomes) if (outcome.result._tag === "Right") out.push(outcome.result.right)
  return out
}

/**
 * The failed items with their typed errors, in order.
 *
 * @category getters
 * @since 0.1.0
 */
export const failures = <I, A, E>(
  outcomes: Iterable<Outcome<I, A, E>>
): Array<{ readonly item: I; readonly error: E | HttpError | BatchDeadlineError }> => {
  const out: Array<{ readonly item: I; readonly error: E | HttpError | BatchDeadlineError }> = []
  for (const outcome of outcomes) if (outcome.result._tag === "Left") out.push({ item: outcome.item, error: outcome.result.left })
  return out
}
