/**
 * Summaries of batch outcomes in constant memory: counts by outcome, a fixed log-scale
 * latency histogram (percentiles within 1%), bytes and throughput. A batch of millions of
 * items is summarised with the same few kilobytes as a batch of ten.
 */
import * as Either from "effect/Either"
import type { Latency, Summary, Tallied, Tally } from "../../BatchSummary.js"

/**
 * The outcome key used by summaries: `"ok"`, `"HTTP 503"`, a network reason such as
 * `"Timeout"`, or the error's tag.
 *
 * @since 0.1.0
 */
export const outcomeKey = (result: Either.Either<unknown, unknown>): string =>
  Either.isRight(result) ? "ok" : errorKey(result.left)

const errorKey = (error: unknown): string => {
  if (typeof error !== "object" || error === null || !("_tag" in error)) return "Error"
  const tag = String(error._tag)
  if (tag === "StatusError" && "status" in error) return `HTTP ${String(error.status)}`
  if (tag === "NetworkError" && "reason" in error) return String(error.reason)
  return tag
}

// Log-scale buckets: bucket 0 holds everything under 10 µs, bucket k >= 1 holds
// [floor * growth^(k-1), floor * growth^k). 2,400 buckets of 1% cover up to ~64 hours.
const floorMs = 0.01
const growth = 1.01
const logGrowth = Math.log(growth)
const bucketCount = 2_400

const bucketOf = (ms: number): number => {
  if (!(ms >= floorMs)) return 0
  return Math.min(bucketCount - 1, Math.floor(Math.log(ms / floorMs) / logGrowth) + 1)
}

/** Upper bound of a bucket: percentiles err on the slow side, by at most 1%. */
const upperOf = (bucket: number): number => floorMs * Math.pow(growth, bucket)

/** A histogram of one latency, in constant memory. */
class Histogram {
  private readonly buckets = new Float64Array(bucketCount)
  private count = 0
  private sum = 0
  private min = Infinity
  private max = 0

  add(ms: number): void {
    this.count++
    this.sum += ms
    if (ms < this.min) this.min = ms
    if (ms > this.max) this.max = ms
    this.buckets[bucketOf(ms)]! += 1
  }

  private percentile(p: number): number {
    if (this.count === 0) return 0
    const rank = Math.max(1, Math.ceil(p * this.count))
    let seen = 0
    for (let i = 0; i < bucketCount; i++) {
      seen += this.buckets[i]!
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, upperOf(i)))
    }
    return this.max
  }

  latency(): Latency {
    return {
      p50: this.percentile(0.5),
      p90: this.percentile(0.9),
      p99: this.percentile(0.99),
      p999: this.percentile(0.999),
      max: this.max,
      mean: this.count === 0 ? 0 : this.sum / this.count
    }
  }
}

/**
 * Starts an empty tally.
 *
 * @since 0.1.0
 */
export const tally = (): Tally => {
  const service = new Histogram()
  // Only an open-loop run (items with a scheduled start) fills these two.
  const scheduled = new Histogram()
  const queue = new Histogram()
  let open = false
  const outcomes: Record<string, number> = {}
  let total = 0
  let succeeded = 0
  let bytes = 0
  let lastEnd = 0
  let pauses = 0
  let pausedMs = 0
  let budgetRefused = 0
  let breakerRefused = 0

  const add = (outcome: Tallied): void => {
    total++
    const key = Either.isRight(outcome.result) ? "ok" : errorKey(outcome.result.left)
    if (key === "ok") succeeded++
    else if (key === "CircuitOpenError") breakerRefused++
    outcomes[key] = (outcomes[key] ?? 0) + 1
    bytes += outcome.bytes
    if (outcome.pauses !== undefined) pauses += outcome.pauses
    if (outcome.pausedMs !== undefined) pausedMs += outcome.pausedMs
    if (outcome.retryRefused === "budget") budgetRefused++
    const end = outcome.startMs + outcome.durationMs
    if (end > lastEnd) lastEnd = end
    if (outcome.attempts === 0) return // never sent: no latency to speak of
    service.add(outcome.durationMs)
    if (outcome.scheduledMs !== undefined) {
      open = true
      const waited = outcome.queueMs ?? 0
      queue.add(waited)
      scheduled.add(waited + outcome.durationMs)
    }
  }

  const summary = (elapsedMs?: number): Summary => {
    const elapsed = elapsedMs ?? lastEnd
    const serviceLatency = service.latency()
    return {
      total,
      succeeded,
      failed: total - succeeded,
      outcomes: { ...outcomes },
      loop: open ? "open" : "closed",
      latency: open ? scheduled.latency() : serviceLatency,
      service: serviceLatency,
      queue: queue.latency(),
      pauses,
      pausedMs,
      budgetRefused,
      breakerRefused,
      bytes,
      elapsedMs: elapsed,
      throughput: elapsed > 0 ? (total * 1000) / elapsed : 0
    }
  }

  return { add, count: () => total, failures: () => total - succeeded, summary }
}

/**
 * Summarises finished outcomes (e.g. the result of `Batch.settle`).
 *
 * @since 0.1.0
 */
export const summarize = (outcomes: Iterable<Tallied>, elapsedMs?: number): Summary => {
  const t = tally()
  for (const outcome of outcomes) t.add(outcome)
  return t.summary(elapsedMs)
}
