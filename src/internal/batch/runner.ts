/**
 * The batch runner: one item through the limits (per-host permit, rate limiters), the retry
 * policy, optional hedging and the caller's handler, timed on the Clock. `Batch.ts` builds
 * the three collection modes (settle, fail fast, stream) on top of it.
 *
 * Hot-path notes: nothing here allocates per item beyond one state object and a few
 * closures; limiters are created once per batch (or once per host, lazily), and a request
 * runs through `execute` without a Scope of its own.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { BatchDeadlineError, type HttpError, NetworkError, StatusError } from "../../Errors.js"
import * as Retry from "../../Retry.js"
import type { ClientService, RequestOptions, Response } from "../../Client.js"
import { internalsOf } from "../client/client.js"
import { again, withPerHost } from "../client/settings.js"
import * as PerHost from "../policy/perHost.js"
import * as RetryPolicy from "../policy/retry.js"
import * as Limits from "./limits.js"
import { timerFor, within } from "../transport/timer.js"
import { isLiveClock } from "../liveClock.js"
import { millisOr } from "../duration.js"
import { redactUrl } from "../redact.js"
import { hostOf, originOfInput } from "../url.js"
import type { Fetched, Options, Outcome } from "../../Batch.js"
import type { RequestInput } from "../../Client.js"

/** Mutable per-item record, one allocation per item. */
interface ItemState {
  attempts: number
  status: number | undefined
  bytes: number
  /** Ms (relative to the batch start) when the first request went out; -1 before. */
  sentAt: number
  /** Waits for a pause the host asked for, and ms spent waiting for its pause or pacing. */
  pauses: number
  pausedMs: number
  /** Why a retry or hedge was not made, when one was refused. */
  retryRefused: RetryPolicy.Refusal | undefined
}

/** Bodies announced at most this large are read in one piece; others are streamed and counted. */
const readWholeLimit = 64 * 1024

const defaultHandle = (response: Response, state: ItemState): Effect.Effect<Fetched, HttpError> => {
  const status = response.status
  const length = response.contentLength
  if (length !== undefined && length <= readWholeLimit) {
    return Effect.map(response.bytes, (body) => {
      state.bytes = body.length
      return { status, bytes: body.length }
    })
  }
  return Effect.map(
    Stream.runFold(response.stream, 0, (n, chunk) => n + chunk.length),
    (bytes) => {
      state.bytes = bytes
      return { status, bytes }
    }
  )
}

/** Method, headers and replayability of a request input, for the retry and hedge rules. */
const describe = (input: RequestInput): { method: string; headers: Readonly<Record<string, string>> | undefined; replayable: boolean } =>
  typeof input === "string" || input instanceof URL
    ? plainGet
    : { method: input.method, headers: input.headers, replayable: input.body._tag !== "Stream" }

const plainGet = { method: "GET", headers: undefined, replayable: true } as const


/**
 * Races an attempt against a delayed copy of itself. Rules in `Options.hedge`.
 */
export const hedged = <A, E, R>(
  attempt: Effect.Effect<A, E, R>,
  delay: Duration.Duration,
  allow: Effect.Effect<boolean> = Effect.succeed(true)
): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    let hedgeSent = false
    // A hedge the retry budget refuses is never sent: the first attempt runs alone.
    const second = Effect.zipRight(
      Effect.sleep(delay),
      Effect.flatMap(allow, (ok) => {
        if (!ok) return Effect.never
        hedgeSent = true
        return attempt
      })
    )
    return Effect.raceWith(attempt, second, {
      onSelfDone: (exit, other) =>
        Exit.isSuccess(exit) || !hedgeSent
          ? Effect.zipRight(Fiber.interrupt(other), exit)
          : Effect.flatMap(Fiber.await(other), (otherExit) => (Exit.isSuccess(otherExit) ? otherExit : exit)),
      onOtherDone: (exit, self) =>
        Exit.isSuccess(exit) ? Effect.zipRight(Fiber.interrupt(self), exit) : Effect.flatten(Fiber.await(self))
    })
  })

/** One batch's runner. */
export interface Runner<I, A, E, R> {
  readonly concurrency: number
  readonly batchDeadline: Duration.Duration | undefined
  /** Runs an item to its outcome; never fails (defects aside). Call once per item, as it starts. */
  readonly outcome: (item: I, index: number) => Effect.Effect<Outcome<I, A, E>, never, R>
  /** Runs an item to its value, failing with its error (for fail-fast). Call once per item, as it starts. */
  readonly value: (item: I, index: number) => Effect.Effect<A, E | HttpError, R>
  /** The outcome of an item the batch deadline cut off (call after the batch was interrupted). */
  readonly cutOff: (item: I, index: number) => Outcome<I, A, E>
}

/** When each item of an open-loop run (one with a `rate`) is meant to start, or `undefined` for a closed loop. */
const scheduleFor = (rate: Options<unknown, unknown, unknown, unknown>["rate"]): ((index: number) => number) | undefined => {
  if (rate === undefined) return undefined
  if (typeof rate === "number") return (index) => (index * 1000) / rate
  const { interval, limit } = Limits.rateOptions(rate)
  const intervalMs = Duration.toMillis(Duration.decode(interval))
  return (index) => Math.floor(index / limit) * intervalMs
}

const positive = (name: string, n: number | undefined, fallback: number | undefined): number | undefined => {
  if (n === undefined) return fallback
  if (!(n >= 1) || !Number.isInteger(n)) throw new RangeError(`volley: ${name} must be a positive integer, got ${n}`)
  return n
}

/**
 * Builds the runner for one batch: reads the clock once, creates the global rate limiter in
 * the batch's scope. Per-host semaphores and rate limiters are created on first use.
 * `trackStates` keeps each started item's state so `cutOff` can tell started from unsent.
 */
export const makeRunner = <I, A, E, R>(
  client: ClientService,
  options: Options<I, A, E, R>,
  trackStates: boolean
): Effect.Effect<Runner<I, A, E, R>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const concurrency = positive("concurrency", options.concurrency, 16)!
    const adaptive = options.perHost === "adaptive"
    const perHost = adaptive ? undefined : positive("perHost", options.perHost as number | undefined, undefined)
    const breaker = PerHost.breakerOptions(options.circuitBreaker)
    const limited = yield* Limits.make({ perHost, rate: options.rate, perHostRate: options.perHostRate })
    const hedgeDelay = options.hedge === undefined ? undefined : Duration.decode(options.hedge)
    const batchDeadline = options.batchDeadline === undefined ? undefined : Duration.decode(options.batchDeadline)
    const clock: Clock.Clock = yield* Effect.clock
    const timer = timerFor(clock)
    // Sub-millisecond timing: under the live clock read its monotonic source directly (a bigint
    // read per item costs more than it measures); under any other clock (a TestClock) its millis.
    const now: () => number = isLiveClock(clock)
      ? () => performance.now()
      : () => clock.unsafeCurrentTimeMillis()
    const startMs = now()
    const elapsed = (): number => now() - startMs

    // Per-request options resolved once: the client re-reads them per call, so keep them cheap
    // (a decoded Duration, not a string to parse). Retries are run here, to count attempts.
    const base = options.requestOptions ?? {}
    const retryPolicy = base.retry === false
      ? Retry.none
      : base.retry === undefined
      ? internalsOf(client).config.retry
      : Retry.policy(base.retry, internalsOf(client).config.retry)
    // The item's deadline, and each attempt's own (requestOptions.deadline), in ms.
    const itemMs = millisOr(options.itemDeadline, undefined)
    const attemptMs = millisOr(base.deadline, undefined)
    const plainOptions: RequestOptions = {
      ...base,
      // One attempt per call (the retries run here), paused at most as long as the policy waits.
      retry: { maxAttempts: 1, maxRetryAfter: retryPolicy.maxRetryAfter },
      ...(options.itemDeadline === "none"
        ? { deadline: "none" }
        : attemptMs !== undefined
        ? { deadline: Duration.millis(attemptMs) }
        : {})
    }
    // The per-host policies the batch asks for go to the client's core with each call.
    const requestOptions = adaptive || breaker !== undefined
      ? withPerHost(plainOptions, { adaptiveMax: adaptive ? concurrency : undefined, breaker })
      : plainOptions
    // Retries and hedges are not new requests for the retry budget (they are taken from it).
    const againOptions = again(requestOptions)
    const { hosts } = internalsOf(client)
    /** Whether the item's origin's budget allows one more retry or hedge (asked only on that path). */
    const allowFor = (input: RequestInput, state: ItemState): Effect.Effect<boolean> =>
      Effect.suspend(() => {
        const origin = originOfInput(input)
        return origin === undefined
          ? Effect.succeed(true)
          : RetryPolicy.allowed(hosts, hosts.state(origin), (why) => {
            state.retryRefused = why
          })
      })
    /** The error of an item whose deadline passed. */
    const itemTimeout = (input: RequestInput, method: string) => () =>
      new NetworkError({
        reason: "Timeout",
        phase: "deadline",
        method,
        url: redactUrl(typeof input === "string" || input instanceof URL ? input : input.url)
      })
    /** Ms left before the item's deadline (counted from its first request). */
    const remainingMs = (state: ItemState): number => itemMs! - (elapsed() - state.sentAt)
    /** With a rate (an open-loop run), when item `index` was meant to start, in ms since the batch started. */
    const scheduleOf = scheduleFor(options.rate)
    const toRequest = options.toRequest ?? ((item: I) => item as unknown as RequestInput)
    const handle = options.handle
    const needHost = perHost !== undefined || options.perHostRate !== undefined
    const states: Array<ItemState | undefined> = []

    /** One request (permits and rate tokens taken first), timed and counted. */
    const attemptFor = (input: RequestInput, item: I, state: ItemState): Effect.Effect<A, E | HttpError, R> => {
      const use = handle === undefined
        ? (response: Response) => {
          state.status = response.status
          return defaultHandle(response, state) as unknown as Effect.Effect<A, E, R>
        }
        : (response: Response) => {
          state.status = response.status
          state.bytes = response.contentLength ?? 0
          return handle(response, item)
        }
      const send: Effect.Effect<A, E | HttpError, R> = Effect.withFiberRuntime((fiber) => {
        if (state.sentAt < 0) state.sentAt = elapsed()
        // The host's waits (a pause, pacing) this attempt makes are counted in the item's state.
        if (hosts.signalled) hosts.track(fiber as Fiber.RuntimeFiber<unknown, unknown>, state)
        const callOptions = state.attempts === 0 ? requestOptions : againOptions
        if (itemMs === undefined) {
          state.attempts++
          return client.execute(input, use, callOptions)
        }
        // Under an item deadline each attempt (a retry, a hedge) gets what is left of it.
        const left = remainingMs(state)
        if (left <= 0) return Effect.fail(itemTimeout(input, describe(input).method)())
        state.attempts++
        const ms = attemptMs === undefined ? left : Math.min(left, attemptMs)
        return client.execute(input, use, { ...callOptions, deadline: Duration.millis(ms) })
      })
      return limited(needHost ? hostOf(input) : undefined, send)
    }

    const run = (item: I, state: ItemState): Effect.Effect<A, E | HttpError, R> => {
      const input = toRequest(item)
      const request = describe(input)
      let attempt = attemptFor(input, item, state)
      if (hedgeDelay !== undefined && Retry.isIdempotent(request.method, request.headers)) attempt = hedged(attempt, hedgeDelay, allowFor(input, state))
      if (!request.replayable || retryPolicy.maxAttempts <= 1) return attempt
      // As `Retry.retry` does, but with the retries alone (backoff included) under the item's deadline.
      const { method, headers } = request
      return Effect.catchAll(attempt, (first) => {
        if (!Retry.shouldRetry(retryPolicy, method, headers, first)) return Effect.fail(first)
        const plan = RetryPolicy.retryAfter(retryPolicy, method, headers, first, attempt, allowFor(input, state))
        if (itemMs === undefined) return plan
        // The retry plan, backoff included, ends with the item's deadline.
        const left = remainingMs(state)
        return left <= 0 ? Effect.fail(first) : within(plan, left, itemTimeout(input, method), timer)
      })
    }

    const newState = (index: number): ItemState => {
      const state: ItemState = { attempts: 0, status: undefined, bytes: 0, sentAt: -1, pauses: 0, pausedMs: 0, retryRefused: undefined }
      if (trackStates) states[index] = state
      return state
    }

    const finish = (item: I, index: number, state: ItemState, result: Either.Either<A, E | HttpError | BatchDeadlineError>): Outcome<I, A, E> => {
      const end = elapsed()
      const sentAt = state.sentAt < 0 ? end : state.sentAt
      const scheduledMs = scheduleOf === undefined ? undefined : scheduleOf(index)
      return {
        index,
        item,
        result,
        status: state.status,
        bytes: state.bytes,
        startMs: sentAt,
        durationMs: end - sentAt,
        attempts: state.attempts,
        scheduledMs,
        queueMs: scheduledMs === undefined ? 0 : Math.max(0, sentAt - scheduledMs),
        pauses: state.pauses,
        pausedMs: state.pausedMs,
        retryRefused: state.retryRefused
      }
    }

    // Each call makes the item's state: callers call these once per item, when it starts.
    const outcome = (item: I, index: number): Effect.Effect<Outcome<I, A, E>, never, R> => {
      const state = newState(index)
      return Effect.match(run(item, state), {
        onSuccess: (value) => finish(item, index, state, Either.right(value)),
        onFailure: (error) => {
          if (error instanceof StatusError) state.status = error.status
          return finish(item, index, state, Either.left(error))
        }
      })
    }

    const value = (item: I, index: number): Effect.Effect<A, E | HttpError, R> => run(item, newState(index))

    const cutOff = (item: I, index: number): Outcome<I, A, E> => {
      const state = states[index] ?? { attempts: 0, status: undefined, bytes: 0, sentAt: -1, pauses: 0, pausedMs: 0, retryRefused: undefined }
      const error = new BatchDeadlineError({ deadline: batchDeadline ?? Duration.zero, started: state.attempts > 0 })
      return finish(item, index, state, Either.left(error))
    }

    return { concurrency, batchDeadline, outcome, value, cutOff }
  })
