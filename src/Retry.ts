/**
 * Retry policy: which failures are retried, how long to wait between attempts, and when a
 * server's `Retry-After` is honoured or refused.
 *
 * A policy is plain data so it can come from config, be shown in logs and be compared in
 * tests; {@link schedule} turns it into an Effect `Schedule`, so all waiting goes through the
 * Clock and a `TestClock` can drive a whole plan.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { type HttpError, isTransient, StatusError } from "./Errors.js"

/**
 * How a failed request is retried.
 *
 * @category models
 * @since 0.1.0
 */
export interface RetryPolicy {
  /** Attempts in total, the first included. 1 disables retries. */
  readonly maxAttempts: number
  /** Delay before the first retry; later delays grow by `factor`. */
  readonly baseDelay: Duration.Duration
  readonly factor: number
  /** No computed backoff delay exceeds this. */
  readonly maxDelay: Duration.Duration
  /** Randomise each backoff delay by ±20% so many clients do not retry in lock step. */
  readonly jitter: boolean
  /**
   * The longest `Retry-After` (on 429/503) worth waiting for. A longer one fails at once
   * with the `StatusError` rather than parking the caller for hours.
   */
  readonly maxRetryAfter: Duration.Duration
  /**
   * Retry methods that are not idempotent (POST, PATCH) too. Off by default: a retried POST
   * can charge a card twice. A request with an `Idempotency-Key` header is retried anyway.
   */
  readonly retryNonIdempotent: boolean
}

/**
 * The default: 3 attempts, 200 ms doubling to at most 10 s with jitter, `Retry-After` up
 * to 60 s, idempotent methods only.
 *
 * @category retry policies
 * @since 0.1.0
 */
export const defaultPolicy: RetryPolicy = {
  maxAttempts: 3,
  baseDelay: Duration.millis(200),
  factor: 2,
  maxDelay: Duration.seconds(10),
  jitter: true,
  maxRetryAfter: Duration.seconds(60),
  retryNonIdempotent: false
}

/**
 * A policy that never retries.
 *
 * @category retry policies
 * @since 0.1.0
 */
export const none: RetryPolicy = { ...defaultPolicy, maxAttempts: 1 }

/**
 * Input accepted wherever a policy is configured: overrides of the default, with durations
 * in any form Effect accepts.
 *
 * @category models
 * @since 0.1.0
 */
export interface RetryOptions {
  readonly maxAttempts?: number
  readonly baseDelay?: Duration.DurationInput
  readonly factor?: number
  readonly maxDelay?: Duration.DurationInput
  readonly jitter?: boolean
  readonly maxRetryAfter?: Duration.DurationInput
  readonly retryNonIdempotent?: boolean
}

/**
 * Builds a policy from overrides of `base` (the default policy unless given).
 *
 * @category retry policies
 * @since 0.1.0
 */
export const policy = (options: RetryOptions = {}, base: RetryPolicy = defaultPolicy): RetryPolicy => ({
  maxAttempts: Math.max(1, Math.floor(options.maxAttempts ?? base.maxAttempts)),
  baseDelay: options.baseDelay !== undefined ? Duration.decode(options.baseDelay) : base.baseDelay,
  factor: options.factor ?? base.factor,
  maxDelay: options.maxDelay !== undefined ? Duration.decode(options.maxDelay) : base.maxDelay,
  jitter: options.jitter ?? base.jitter,
  maxRetryAfter: options.maxRetryAfter !== undefined ? Duration.decode(options.maxRetryAfter) : base.maxRetryAfter,
  retryNonIdempotent: options.retryNonIdempotent ?? base.retryNonIdempotent
})

/**
 * A retry budget per origin, shared by every request of one client: retries and hedges may
 * add at most `percent` of the requests of the last `ttl`, plus `minPerSecond` whatever the
 * traffic. A retry counts from when it is decided, so retries waiting in backoff count too.
 * On by default (20%, 1 per second, 10 s); `false` in `ClientOptions.retryBudget` turns it off.
 *
 * @since 0.1.0
 */
export interface RetryBudgetOptions {
  readonly percent?: number
  readonly minPerSecond?: number
  readonly ttl?: Duration.DurationInput
}

const idempotentMethods: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"])

/**
 * Whether a request may be sent twice without changing the outcome (RFC 9110 §9.2.2), or
 * carries an `Idempotency-Key` that makes it so.
 *
 * @category guards
 * @since 0.1.0
 */
export const isIdempotent = (method: string, headers?: Readonly<Record<string, string>>): boolean =>
  idempotentMethods.has(method.toUpperCase()) ||
  (headers !== undefined && headers["idempotency-key"] !== undefined)

/**
 * The server-requested wait, when the error is a 429 or 503 that carried `Retry-After`.
 *
 * @category retry policies
 * @since 0.1.0
 */
export const retryAfterOf = (error: unknown): Option.Option<Duration.Duration> =>
  error instanceof StatusError && (error.status === 429 || error.status === 503) ? error.retryAfter : Option.none()

/**
 * Whether the policy retries this error for this request: transient, idempotent (or opted
 * in), and not asking for a wait longer than `maxRetryAfter`.
 *
 * @category retry policies
 * @since 0.1.0
 */
export const shouldRetry = (
  retry: RetryPolicy,
  method: string,
  headers: Readonly<Record<string, string>> | undefined,
  error: unknown
): boolean => {
  if (!isTransient(error)) return false
  if (!retry.retryNonIdempotent && !isIdempotent(method, headers)) return false
  const wait = retryAfterOf(error)
  return Option.isNone(wait) || Duration.lessThanOrEqualTo(wait.value, retry.maxRetryAfter)
}

/**
 * The delays of a policy as a `Schedule` over the errors it sees: exponential backoff
 * (jittered, capped), replaced by the server's `Retry-After` when one was sent, for at most
 * `maxAttempts - 1` retries.
 *
 * @category retry policies
 * @since 0.1.0
 */
export const schedule = <E = HttpError>(retry: RetryPolicy): Schedule.Schedule<[Duration.Duration, E], E> => {
  const backoff = Schedule.exponential(retry.baseDelay, retry.factor)
  const jittered = retry.jitter ? Schedule.jittered(backoff) : backoff
  return jittered.pipe(
    Schedule.modifyDelay((_, delay) => Duration.min(delay, retry.maxDelay)),
    Schedule.intersect(Schedule.recurs(retry.maxAttempts - 1)),
    Schedule.map(([delay]) => delay),
    Schedule.intersect(Schedule.identity<E>()),
    Schedule.modifyDelay(([, error], delay) => Option.getOrElse(retryAfterOf(error), () => delay))
  )
}

/**
 * Retries `effect` by the policy for a request with this method and headers. Interruption
 * stops the plan at once: every wait is an interruptible `Clock` sleep.
 *
 * @category retry policies
 * @since 0.1.0
 */
export const retry = (
  retry: RetryPolicy,
  method: string,
  headers?: Readonly<Record<string, string>>
) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  if (retry.maxAttempts <= 1) return effect
  // The schedule is only built after a first failure: the success path pays nothing.
  return Effect.catchAll(effect, (first) => shouldRetry(retry, method, headers, first) ? retryAfter(retry, method, headers, first, effect) : Effect.fail(first))
}

/**
 * The rest of a retry plan once `effect` failed with `first` (a failure the policy retries):
 * the schedule sees `first` as the first attempt's outcome, then `effect` runs again after
 * each delay. Lets a caller (Batch) put its own bound around the retries alone. `allow`, when
 * given, is asked before each retry's backoff (a retry budget says no by answering `false`;
 * the plan then ends with the last error).
 *
 * @category retry policies
 * @since 0.1.0
 */
export const retryAfter = <A, E, R>(
  retry: RetryPolicy,
  method: string,
  headers: Readonly<Record<string, string>> | undefined,
  first: E,
  effect: Effect.Effect<A, E, R>,
  allow?: Effect.Effect<boolean>
): Effect.Effect<A, E, R> => {
  let replayed = false
  const again = Effect.suspend(() => {
    if (replayed) return effect
    replayed = true
    return Effect.fail(first) // feeds the first error to the schedule without re-sending
  })
  return Effect.retry(again, {
    schedule: schedule<E>(retry),
    while: (error: E) => !shouldRetry(retry, method, headers, error) ? false : allow ?? true
  })
}
