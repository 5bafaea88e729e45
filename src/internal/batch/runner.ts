/**
 * The batch runner: the batch's policies (retry with the item's deadline, hedge, the limits
 * per attempt, the item's counting), composed once per batch over the client's own step
 * below its retry (attempt, breaker, pause gate, adaptive limit, exchange), and the caller's
 * handler, timed on the Clock. `Batch.ts` builds the three collection modes on top of it.
 *
 * Hot-path notes: nothing here allocates per item beyond one state object, its call and a few
 * closures; limiters are created once per batch (or once per host, lazily), and a request
 * runs without a Scope of its own.
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
import { releasing } from "../client/attempt.js"
import { coreOf } from "../client/core.js"
import { bytesAs } from "../client/hotPath.js"
import type { PreparedRequest } from "../client/request.js"
import { type CallSettings, withPerHost } from "../client/settings.js"
import type { HostState } from "../policy/hosts.js"
import * as PerHost from "../policy/perHost.js"
import * as Policy from "../policy/policy.js"
import * as RetryPolicy from "../policy/retry.js"
import * as Limits from "./limits.js"
import { isLiveClock } from "../liveClock.js"
import { millisOr } from "../duration.js"
import { hostOf } from "../url.js"
import type { Fetched, Options, Outcome } from "../../Batch.js"
import type { RequestInput } from "../../Client.js"

/** Mutable per-item record, one allocation per item. A class, not a literal: see `hotPath.ts` (pretenuring). */
class ItemState {
  attempts = 0
  status: number | undefined = undefined
  bytes = 0
  /** Ms (relative to the batch start) when the first request went out; -1 before. */
  sentAt = -1
  /** Waits for a pause the host asked for, and ms spent waiting for its pause or pacing. */
  pauses = 0
  pausedMs = 0
  /** Why a retry or hedge was not made, when one was refused. */
  retryRefused: RetryPolicy.Refusal | undefined = undefined
}

/** One item's call, as the batch's policies see it: the client's `Call` plus the item's input and state. */
class Item implements Policy.Call {
  started = 0
  deadlineAt: number | undefined = undefined
  constructor(
    readonly request: PreparedRequest,
    readonly settings: CallSettings,
    readonly host: HostState,
    readonly starting: NonNullable<Policy.Call["starting"]>,
    readonly state: ItemState,
    readonly input: RequestInput
  ) {}
}

/** Bodies announced at most this large are read in one piece; others are streamed and counted. */
const readWholeLimit = 64 * 1024

const defaultHandle = (response: Response, state: ItemState): Effect.Effect<Fetched, HttpError> => {
  const status = response.status
  const length = response.contentLength
  if (length !== undefined && length <= readWholeLimit) {
    return bytesAs(response, (body) => {
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
    // Sub-millisecond timing: under the live clock read its monotonic source directly (a bigint
    // read per item costs more than it measures); under any other clock (a TestClock) its millis.
    const now: () => number = isLiveClock(clock)
      ? () => performance.now()
      : () => clock.unsafeCurrentTimeMillis()
    const startMs = now()
    const elapsed = (): number => now() - startMs

    // Per-request options resolved once: the client resolves them once per options object.
    const base = options.requestOptions ?? {}
    // The item's deadline, and each attempt's own (requestOptions.deadline), in ms.
    const itemMs = millisOr(options.itemDeadline, undefined)
    const attemptMs = millisOr(base.deadline, undefined)
    // Under an item deadline without an attempt deadline, the item's alone bounds each attempt.
    const plainOptions: RequestOptions = options.itemDeadline === "none" || (itemMs !== undefined && attemptMs === undefined)
      ? { ...base, deadline: "none" }
      : base
    // The per-host policies the batch asks for go to the client's core with each call.
    const requestOptions = adaptive || breaker !== undefined
      ? withPerHost(plainOptions, { adaptiveMax: adaptive ? concurrency : undefined, breaker })
      : plainOptions
    const core = coreOf(client)
    const { hosts } = core
    /** The error of an item whose deadline passed. */
    const itemTimeout = (call: Item) =>
      new NetworkError({ reason: "Timeout", phase: "deadline", method: call.request.method, url: call.request.redactedUrl })
    /** With a rate (an open-loop run), when item `index` was meant to start, in ms since the batch started. */
    const scheduleOf = scheduleFor(options.rate)
    const toRequest = options.toRequest ?? ((item: I) => item as unknown as RequestInput)
    const handle = options.handle
    const needHost = perHost !== undefined || options.perHostRate !== undefined
    const states: Array<ItemState | undefined> = []

    /**
     * Each attempt of an item, inside its limits (the client's attempt step calls it as the
     * attempt starts): counted and timed in the item's state, the item's deadline set when its
     * first request goes out, and an attempt past it not sent. Set on the batch's own calls
     * only, so the call is an `Item`.
     */
    const starting = (call: Policy.Call, fiber: Fiber.RuntimeFiber<unknown, unknown>): Effect.Effect<never, HttpError> | undefined => {
      const item = call as Item
      const state = item.state
      if (state.sentAt < 0) {
        state.sentAt = elapsed()
        if (itemMs !== undefined) item.deadlineAt = clock.unsafeCurrentTimeMillis() + itemMs
      } else if (item.deadlineAt !== undefined && item.deadlineAt - clock.unsafeCurrentTimeMillis() <= 0) {
        return Effect.fail(itemTimeout(item))
      }
      // The host's waits (a pause, pacing) this attempt makes are counted in the item's state.
      if (hosts.signalled) hosts.track(fiber, state)
      state.attempts++
      return undefined
    }

    /** The per-host permit and rate tokens, taken for each attempt. */
    const limits: Policy.Policy<Item> = needHost || options.rate !== undefined
      ? (next) => (call, accepted) => limited(needHost ? hostOf(call.input) : undefined, next(call, accepted))
      : Policy.identity

    /** A hedge for idempotent requests, when the batch asks for one (its budget refusals counted). */
    const hedge: Policy.Policy<Item> = hedgeDelay === undefined ? Policy.identity : (next) => (call, accepted) => {
      const attempt = next(call, accepted)
      const { method, headers } = call.request
      if (!Retry.isIdempotent(method, headers)) return attempt
      return hedged(attempt, hedgeDelay, RetryPolicy.allowed(hosts, call.host, (why) => {
        call.state.retryRefused = why
      }))
    }

    /** The batch's policies, composed once, outermost first, over the client's step. */
    const step: Policy.Step<Item> = Policy.compose<Item>(
      RetryPolicy.retrying<Item>(hosts, (call, why) => {
        call.state.retryRefused = why
      }),
      hedge,
      limits
    )(core.attempts)

    const run = (item: I, state: ItemState): Effect.Effect<A, E | HttpError, R> => {
      const input = toRequest(item)
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
      return core.prepared(input, requestOptions, (request, settings, host) =>
        step<A, E, R>(
          new Item(request, settings, host, starting, state, input),
          (response, body, restore) => releasing(restore(use(response)), body)
        ), () => {
        // An input that is not a request still counts as one attempt, sent now.
        state.sentAt = elapsed()
        state.attempts = 1
      })
    }

    const newState = (index: number): ItemState => {
      const state = new ItemState()
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
      const state = states[index] ?? new ItemState()
      const error = new BatchDeadlineError({ deadline: batchDeadline ?? Duration.zero, started: state.attempts > 0 })
      return finish(item, index, state, Either.left(error))
    }

    return { concurrency, batchDeadline, outcome, value, cutOff }
  })
