/**
 * What a batch did, in numbers: counts by outcome, latency percentiles (total, service and
 * queue time), pauses, refusals, bytes and throughput, computed in constant memory whatever
 * the number of outcomes.
 *
 * Every name here is exported by `volley/Batch`; import it from there.
 *
 * @since 0.1.0
 */
import type * as Either from "effect/Either"

export {
  /**
   * The outcome key used by summaries: `"ok"`, `"HTTP 503"`, a network reason, or the error's tag.
   *
   * @category running
   * @since 0.1.0
   */
  outcomeKey,
  /**
   * Summarises finished outcomes (e.g. the result of `Batch.settle`).
   *
   * @category running
   * @since 0.1.0
   */
  summarize,
  /**
   * Starts an empty tally, for outcomes counted as they stream.
   *
   * @category running
   * @since 0.1.0
   */
  tally
} from "./internal/batch/summary.js"

/**
 * Latency percentiles of a batch, in milliseconds, over the items that sent a request.
 *
 * @category models
 * @since 0.1.0
 */
export interface Latency {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly mean: number
}

/**
 * What a batch did, in numbers.
 *
 * @category models
 * @since 0.1.0
 */
export interface Summary {
  /** Items that finished (with either outcome). */
  readonly total: number
  readonly succeeded: number
  readonly failed: number
  /**
   * Items per outcome: `"ok"`, `"HTTP <status>"` for a status the caller did not accept, the
   * network reason for a `NetworkError` (`"Timeout"`, `"ConnectionRefused"`, …), or the tag
   * of any other error (`"DecodeError"`, `"BatchDeadlineError"`, …).
   */
  readonly outcomes: Readonly<Record<string, number>>
  /**
   * `"open"` when items were started on a schedule (`rate`), `"closed"` when each started as
   * a slot came free. In an open-loop run `latency` counts from each item's scheduled start.
   */
  readonly loop: "open" | "closed"
  /** Per item: from its scheduled start (open loop) or first request (closed loop) to its outcome. */
  readonly latency: Latency
  /** Per item: from its first request to its outcome (what the server and retries took). */
  readonly service: Latency
  /** Per item: from its scheduled start to its first request (0 in a closed-loop run). */
  readonly queue: Latency
  /** Waits for a pause a host asked for (`Retry-After`, a spent quota), over all items. */
  readonly pauses: number
  /** Ms the items spent waiting for their hosts' pauses or pacing, summed. */
  readonly pausedMs: number
  /** Items whose retry or hedge the retry budget refused. */
  readonly budgetRefused: number
  /** Items refused at once by an open circuit breaker. */
  readonly breakerRefused: number
  /** Body bytes read (see `Outcome.bytes`). */
  readonly bytes: number
  /** Clock time from the batch's start to its last outcome (or to when the summary was taken). */
  readonly elapsedMs: number
  /** Items finished per second of `elapsedMs`. */
  readonly throughput: number
}

/**
 * The part of an outcome a summary needs.
 *
 * @category models
 * @since 0.1.0
 */
export interface Tallied {
  readonly result: Either.Either<unknown, unknown>
  readonly bytes: number
  readonly startMs: number
  readonly durationMs: number
  readonly attempts: number
  readonly scheduledMs?: number | undefined
  readonly queueMs?: number | undefined
  readonly pauses?: number | undefined
  readonly pausedMs?: number | undefined
  readonly retryRefused?: string | undefined
}

/**
 * A running summary: `add` each outcome as it arrives, read `summary` whenever (a progress
 * line reads it many times). O(1) memory whatever the number of outcomes.
 *
 * @category models
 * @since 0.1.0
 */
export interface Tally {
  readonly add: (outcome: Tallied) => void
  /** Items added so far. */
  readonly count: () => number
  /** Failures added so far. */
  readonly failures: () => number
  /** The summary so far; `elapsedMs` defaults to the latest end among the outcomes added. */
  readonly summary: (elapsedMs?: number) => Summary
}
