/**
 * Per-host control: what one client knows about each origin it talks to, shared by every
 * request of that client (plain calls, Batch, Download, the HttpClient bridge).
 *
 * - A pause the server asked for (`Retry-After` on 429/503, a quota of 0): no request to the
 *   origin is dispatched before it ends. The gate is checked right before each dispatch, so
 *   queued requests and retries wait too, and checked again after every wait.
 * - A quota the server announced (`RateLimit`, `X-RateLimit-*`): dispatches are spread over
 *   what is left of the window instead of bursting through it and then waiting.
 * - A retry budget (see `budget.ts`).
 *
 * Everything runs on the caller's Clock, so a TestClock drives it. Interruption is never a
 * signal: an interrupted wait gives its place back and changes nothing else.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import { HostPausedError, type NetworkError } from "../../Errors.js"
import { type Attempt, timeoutError } from "../client/deadline.js"
import { parseRetryAfter } from "../client/response.js"
import type { AdaptiveLimit } from "./adaptive.js"
import * as CircuitBreaker from "./breaker.js"
import { Budget, type BudgetSettings } from "./budget.js"
import { mayCarrySignal, quotaOf } from "./signals.js"

export const metrics = {
  pauses: Metric.counter("volley_host_pauses_total", { description: "Pauses a server asked for (Retry-After, an exhausted quota), by origin", incremental: true }),
  pausedSeconds: Metric.counter("volley_host_paused_seconds_total", { description: "Time requests spent waiting for a host's pause or pacing, by origin" }),
  budgetSpent: Metric.counter("volley_host_retry_budget_spent_total", { description: "Retries and hedges taken from the retry budget, by origin", incremental: true }),
  budgetRefused: Metric.counter("volley_host_retry_budget_refused_total", { description: "Retries and hedges refused because the budget was spent, by origin", incremental: true })
}

/** Origins kept before idle ones are forgotten, and how long one must be idle. */
const maxHosts = 10_000
const idleMs = 60_000

/** The grid paced dispatches are released on, in ms. */
const grainMs = 100

/** What one origin's requests share. */
export interface HostState {
  readonly origin: string
  readonly labels: ReadonlyArray<MetricLabel.MetricLabel>
  /** No dispatch before this time (ms on the clock). */
  pausedUntil: number
  /** End of the quota window last announced; pacing applies before it. */
  windowEnd: number
  /** The last remaining count the server announced (to tell a new window from a stale answer). */
  lastRemaining: number
  /** Requests dispatched to it so far: each exchange takes the next number. */
  sent: number
  /** The number of the latest-dispatched request whose quota was read (older answers are stale). */
  heard: number
  /** Dispatches left in the window, after those already reserved. */
  quota: number
  /** Paced dispatches reserved and not yet sent. */
  pending: number
  /** The next free paced slot. */
  nextAt: number
  /** When a request last went to it (for forgetting idle origins). */
  lastUsed: number
  /** Its adaptive concurrency limit, made when a caller first asks for one (`perHost: "adaptive"`). */
  adaptive: AdaptiveLimit | undefined
  readonly budget: Budget | undefined
}

/** What a request's item counts (Batch hands one in per item, see {@link Hosts.track}). */
export interface PauseStats {
  pauses: number
  pausedMs: number
}

/** The per-host state of one client. */
export class Hosts {
  private readonly http = new Map<string, HostState>()
  private readonly https = new Map<string, HostState>()
  /** Stats of the item a fiber runs, for Batch's outcomes (read only when a wait happens). */
  private readonly tracked = new WeakMap<Fiber.RuntimeFiber<unknown, unknown>, PauseStats>()
  /** The latest clock time seen. */
  private now = 0
  /** The size at which idle origins are next looked for (doubles while few are idle). */
  private sweepAt = maxHosts
  constructor(readonly budget: BudgetSettings | undefined) {}

  /**
   * Forgets origins with nothing pending that no request went to in the last `idleMs`: a
   * crawler's millions of origins do not pile up. Their budget history goes with them.
   */
  private forgetIdle(): void {
    for (const states of [this.http, this.https]) {
      for (const [key, host] of states) {
        if (host.pending === 0 && (host.adaptive === undefined || host.adaptive.inFlight() === 0) && host.pausedUntil <= this.now && host.windowEnd <= this.now && host.lastUsed < this.now - idleMs) {
          states.delete(key)
        }
      }
    }
    this.sweepAt = Math.max(maxHosts, (this.http.size + this.https.size) * 2)
  }

  /** Whether any origin has sent a signal yet (until then no wait can happen, and none is tracked). */
  signalled = false

  /** The state of `https://host` / `http://host` (keyed by `host`, one map per scheme: cheaper than `URL.origin`). */
  forUrl(url: URL): HostState {
    const https = url.protocol === "https:"
    const host = url.host
    return (https ? this.https : this.http).get(host) ?? this.create(https ? "https://" + host : "http://" + host, https, host)
  }

  /** The state of an origin (`https://host:port`). */
  state(origin: string): HostState {
    const https = origin.startsWith("https://")
    const host = origin.slice(https ? 8 : 7)
    return (https ? this.https : this.http).get(host) ?? this.create(origin, https, host)
  }

  private create(origin: string, https: boolean, key: string): HostState {
    const states = https ? this.https : this.http
    let state = states.get(key)
    if (state === undefined) {
      if (this.https.size + this.http.size >= this.sweepAt) this.forgetIdle()
      state = {
        origin,
        labels: [MetricLabel.make("origin", origin)],
        pausedUntil: 0,
        windowEnd: 0,
        lastRemaining: -1,
        sent: 0,
        heard: 0,
        quota: 0,
        pending: 0,
        nextAt: 0,
        lastUsed: this.now,
        adaptive: undefined,
        budget: this.budget === undefined ? undefined : new Budget(this.budget)
      }
      states.set(key, state)
    }
    return state
  }

  private circuitBreaker: CircuitBreaker.Breaker | undefined
  /** The client's circuit breaker (one for all origins), made with the options of the first caller that asks. */
  breaker(options: CircuitBreaker.BreakerOptions): CircuitBreaker.Breaker {
    return this.circuitBreaker ??= CircuitBreaker.unsafeMake(options)
  }

  /** Counts `stats` for whatever waits `fiber` does from now on. */
  track(fiber: Fiber.RuntimeFiber<unknown, unknown>, stats: PauseStats): void {
    this.tracked.set(fiber, stats)
  }

  /** Counts a request (a first attempt) in the origin's retry budget. */
  deposit(host: HostState, nowMs: number): void {
    host.lastUsed = nowMs
    if (nowMs > this.now) this.now = nowMs
    host.budget?.deposit(nowMs)
  }

  /** Takes a retry (or a hedge) from the origin's budget: `false` when it is spent. */
  withdraw(host: HostState, nowMs: number): boolean {
    if (host.budget === undefined) return true
    if (host.budget.withdraw(nowMs)) {
      metrics.budgetSpent.unsafeUpdate(1, host.labels)
      return true
    }
    metrics.budgetRefused.unsafeUpdate(1, host.labels)
    return false
  }

  /**
   * Reads a response's signals (a pause, a quota) into the origin's state. `seq` is the number
   * the request took at its dispatch (`++host.sent`), when it went to this origin.
   */
  observe(host: HostState, status: number, headers: Readonly<Record<string, string>>, nowMs: number, seq?: number): void {
    if (!mayCarrySignal(status, headers)) return
    let until = 0
    if (status === 429 || status === 503) {
      const wait = parseRetryAfter(headers["retry-after"], nowMs)
      if (wait._tag === "Some") until = nowMs + Duration.toMillis(wait.value)
    }
    let quota = quotaOf(headers, nowMs)
    // An answer to a request sent before one already heard says less than that one did, unless
    // it finds less remaining: then the server counted it later (it serves connections in any
    // order), and what it says is the newer state.
    if (quota !== undefined && seq !== undefined) {
      if (seq >= host.heard) host.heard = seq
      else if (nowMs >= host.windowEnd || quota.remaining >= host.lastRemaining) quota = undefined
    }
    if (quota !== undefined) {
      const resetAt = nowMs + quota.resetMs
      // A reset given in whole seconds overstates the window's end: within one window keep the
      // earliest end heard. A larger remaining than last heard means the server began a new one.
      const fresh = nowMs >= host.windowEnd || quota.remaining > host.lastRemaining
      host.windowEnd = fresh ? resetAt : Math.min(host.windowEnd, resetAt)
      host.lastRemaining = quota.remaining
      // The server counted this request when it arrived; those sent after it may not be counted
      // yet (draft-ietf-httpapi-ratelimit-headers: concurrent requests), so they come off too.
      const since = seq === undefined ? 0 : host.sent - seq
      host.quota = quota.remaining - since - host.pending
      if (quota.remaining === 0) until = Math.max(until, host.windowEnd)
    }
    if (until > 0 || quota !== undefined) this.signalled = true
    if (until > host.pausedUntil) {
      if (host.pausedUntil <= nowMs) metrics.pauses.unsafeUpdate(1, host.labels)
      host.pausedUntil = until
    }
  }

  /**
   * `proceed()` once the origin may be sent to: at once when it is neither paused nor paced (no
   * effect step of its own), else after the wait, checking the pause again. A pause longer
   * than `capMs` fails at once.
   */
  gate<A, E, R>(
    host: HostState,
    attempt: Attempt,
    proceed: () => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | HostPausedError | NetworkError, R> {
    const { clock, request } = attempt
    const now = clock.unsafeCurrentTimeMillis()
    if (host.pausedUntil > now) {
      const wait = host.pausedUntil - now
      if (wait > attempt.settings.maxPauseMs) {
        return Effect.fail(new HostPausedError({ method: request.method, url: request.redactedUrl, origin: host.origin, remaining: Duration.millis(wait) }))
      }
      return Effect.zipRight(this.wait(host, attempt, wait, "pause"), Effect.suspend(() => this.gate(host, attempt, proceed)))
    }
    const delay = this.reserve(host, now)
    if (delay === 0) return proceed()
    if (delay < 0) {
      // The quota is spent before the window ends: wait for it, then ask again.
      return Effect.zipRight(this.wait(host, attempt, -delay, "quota"), Effect.suspend(() => this.gate(host, attempt, proceed)))
    }
    host.pending++
    // A slot not used (the wait interrupted, or cut by the deadline) is given back.
    const paced = Effect.onExit(this.wait(host, attempt, delay, "pace"), (exit) =>
      Effect.sync(() => {
        host.pending--
        if (Exit.isSuccess(exit)) return
        host.quota++
        if (host.pending === 0) host.nextAt = Math.min(host.nextAt, clock.unsafeCurrentTimeMillis())
      }))
    // After the slot, only a pause that arrived meanwhile holds it back.
    return Effect.zipRight(paced, Effect.suspend(() => host.pausedUntil > clock.unsafeCurrentTimeMillis() ? this.gate(host, attempt, proceed) : proceed()))
  }

  /**
   * The delay before a dispatch now: 0 to go at once; a positive delay is a reserved paced
   * slot; a negative one means the quota is spent and the window ends in `-delay` ms.
   */
  private reserve(host: HostState, now: number): number {
    if (now >= host.windowEnd) return 0
    if (host.quota <= 0) return -(host.windowEnd - now)
    const at = Math.max(now, host.nextAt)
    host.nextAt = at + (host.windowEnd - at) / host.quota
    host.quota--
    // Slots are released together on a grid of `grainMs`: small bursts, far fewer timers. Rounded
    // down, so the window's last slot is not pushed past its end, where it would spend the next
    // window's quota and leave this one's unused (about 10% of the rate).
    const slot = Math.floor(at / grainMs) * grainMs
    return slot <= now ? 0 : slot - now
  }

  /** Waits `ms` on the clock, counted and traced; a wait past the deadline ends at the deadline with its error. */
  private wait(host: HostState, attempt: Attempt, ms: number, why: string): Effect.Effect<void, NetworkError> {
    const clock = attempt.clock
    const left = attempt.deadlineAt === undefined ? Infinity : attempt.deadlineAt - clock.unsafeCurrentTimeMillis()
    const waited = Math.max(0, Math.min(ms, left))
    const stats = this.tracked.get(attempt.fiber)
    if (stats !== undefined) {
      if (why !== "pace") stats.pauses++
      stats.pausedMs += waited
    }
    metrics.pausedSeconds.unsafeUpdate(waited / 1000, host.labels)
    const sleep = Effect.withSpan(clock.sleep(Duration.millis(waited)), "volley.host.wait", {
      kind: "internal",
      attributes: { "server.origin": host.origin, "volley.wait.reason": why, "volley.wait.ms": waited }
    })
    return waited < ms ? Effect.zipRight(sleep, Effect.fail(timeoutError(attempt, "deadline"))) : sleep
  }
}
