/**
 * Request-level guards for `@effect/platform` HTTP apps: a deadline per request, a bound on
 * concurrent requests, and the 503 + Retry-After answer both use.
 *
 * Each is a plain function from `HttpApp` to `HttpApp`, so it works on a whole app
 * (`HttpServer.serve(withDeadline("5 seconds")(app))`), as `HttpServer.serve` middleware, or
 * per route with `HttpRouter.use`.
 *
 * A note on interruption: `@effect/platform` runs every request in an uninterruptible region
 * and only `HttpRouter` routes opt back in. A raw `HttpApp` is therefore *not* stopped when
 * its client disconnects or when a shutdown deadline passes; wrap it with {@link interruptible}.
 *
 * @since 0.1.0
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Predicate from "effect/Predicate"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as Http from "node:http"
import { isTimeout, TaggedError } from "../Errors.js"
import { isLiveClock } from "../internal/liveClock.js"

/**
 * A handler's call to an upstream service timed out. Failing with it (or with a volley
 * `NetworkError` whose reason is `Timeout`) under {@link withDeadline} answers 504 Gateway
 * Timeout: the upstream was slow, not this server.
 *
 * @category errors
 * @since 0.1.0
 */
export class UpstreamTimeout extends TaggedError("UpstreamTimeout")<{
  /** What timed out, for the log (a service name or a redacted URL). */
  readonly upstream: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `upstream ${this.upstream} timed out`
  }
}

/**
 * Whether an error means "an upstream call timed out": an {@link UpstreamTimeout}, or a
 * volley `NetworkError` with reason `Timeout`.
 *
 * @category guards
 * @since 0.1.0
 */
export const isUpstreamTimeout = (error: unknown): boolean => Predicate.isTagged(error, "UpstreamTimeout") || isTimeout(error)

/**
 * `Retry-After` in whole seconds, rounded up and at least 1, as RFC 9110 wants delay-seconds.
 *
 * @category middleware
 * @since 0.1.0
 */
export const retryAfterSeconds = (retryAfter: Duration.DurationInput): string =>
  String(Math.max(1, Math.ceil(Duration.toMillis(retryAfter) / 1000)))

/**
 * A 503 Service Unavailable answer, with `Retry-After` when a wait is given: what to send
 * when the server sheds load (a full job queue, the concurrency limit).
 *
 * @category middleware
 * @since 0.1.0
 */
export const serviceUnavailable = (
  retryAfter?: Duration.DurationInput,
  body = "service unavailable"
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(body, {
    status: 503,
    ...(retryAfter === undefined ? {} : { headers: { "retry-after": retryAfterSeconds(retryAfter) } })
  })

/**
 * Makes a raw `HttpApp` interruptible, so a client disconnect (NodeHttpServer interrupts the
 * request fiber) or a shutdown deadline can stop it. `HttpRouter` routes already are.
 *
 * @category middleware
 * @since 0.1.0
 */
export const interruptible = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> => Effect.interruptible(app)

/**
 * Gives each request a deadline. When it passes the handler is interrupted (its finalizers
 * run) and the client gets 503; when the handler fails with an upstream timeout
 * ({@link isUpstreamTimeout}) the client gets 504. Other failures, and interruptions that are
 * not the deadline's (a client disconnect, a shutdown), pass through unchanged.
 *
 * The handler is made interruptible: a deadline that cannot interrupt is no deadline.
 *
 * How: the handler runs on the request's own fiber, and the deadline interrupts that fiber
 * (as a client disconnect does); the interruption is caught in an uninterruptible region
 * around the handler and turned into the 503. No fiber is forked per request: a race
 * (`Effect.timeoutTo`) forks two, which cost more than the rest of a small request. Under
 * the live clock no timer is made per request either: every request under one
 * `withDeadline` has the same deadline, so they expire in the order they came, and one queue
 * with one Node timer serves them all (see {@link DeadlineQueue}). Under any other clock
 * (`TestClock`) the deadline is a sleep on that clock in a child fiber, so tests drive it.
 * Once the deadline fired, the answer is the 503 even if the handler completed in the same
 * instant: its fiber stays interrupted, and a response whose body streams could not be sent
 * from it.
 *
 * Where it is placed: around an app or a whole router, which the platform runs
 * uninterruptibly, it answers its own 503. Inside an interruptible region (e.g. a single
 * route under `HttpRouter.use`) the interruption reaches the platform instead, which also
 * answers 503, with an empty body, and outer middleware sees an interruption, not a response.
 *
 * @category middleware
 * @since 0.1.0
 */
export const withDeadline = (deadline: Duration.DurationInput) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> => {
  const duration = Duration.decode(deadline)
  const handler = Effect.interruptible(app)
  type RequestFiber = Fiber.RuntimeFiber<HttpServerResponse.HttpServerResponse, E>
  const exceeded = (fiber: RequestFiber) =>
    Effect.zipRight(
      logWithRequest(`request deadline (${Duration.format(duration)}) exceeded; handler interrupted`),
      Effect.sync(() => answer(fiber, 503, "request deadline exceeded"))
    )
  // Once the handler settled and the deadline is disarmed, one continuation on the handler's
  // outcome gives the 503, the 504 or the handler's own answer.
  const onSuccess = (fiber: RequestFiber, expired: boolean, response: HttpServerResponse.HttpServerResponse) =>
    expired ? exceeded(fiber) : Effect.succeed(connectionGone(fiber) ? HttpServerResponse.empty({ status: response.status }) : response)
  const onFailure = (fiber: RequestFiber, expired: boolean, cause: Cause.Cause<E>) => {
    // Someone else interrupted too (the client left, the server shuts down): theirs to answer.
    if (expired && onlyDeadlineInterrupted(cause)) return exceeded(fiber)
    // As `Effect.catchIf(isUpstreamTimeout, ...)` would: the first failure decides.
    const failure = Cause.failureOrCause(cause)
    return failure._tag === "Left" && isUpstreamTimeout(failure.left)
      ? Effect.as(logWithRequest("upstream timed out", failure.left), answer(fiber, 504, "upstream timed out"))
      : Effect.failCause(cause)
  }
  const queue = new DeadlineQueue(Duration.toMillis(duration))
  // Must run uninterruptibly: once a deadline is armed, the continuation that disarms it runs.
  const run = (fiber: RequestFiber) => {
    const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    if (isLiveClock(clock)) {
      const pending = queue.add(fiber)
      return Effect.matchCauseEffect(handler, {
        onFailure: (cause) => onFailure(fiber, queue.settle(pending), cause),
        onSuccess: (response) => onSuccess(fiber, queue.settle(pending), response)
      })
    }
    // Any other clock: sleep on it in a child fiber (interrupted with the request, too).
    // "expired" is set, and the fiber interrupted, only while the handler has not settled.
    let state: "running" | "settled" | "expired" = "running"
    const expire = Effect.sync(() => {
      if (state !== "running") return
      state = "expired"
      fiber.unsafeInterruptAsFork(deadlineFiberId)
    })
    const settle = (sleeper: Fiber.RuntimeFiber<unknown, unknown>) => {
      sleeper.unsafeInterruptAsFork(FiberId.none)
      const expired = state === "expired"
      state = "settled"
      return expired
    }
    return Effect.flatMap(
      Effect.fork(Effect.interruptible(Effect.zipRight(clock.sleep(duration), expire))),
      (sleeper) =>
        Effect.matchCauseEffect(handler, {
          onFailure: (cause) => onFailure(fiber, settle(sleeper), cause),
          onSuccess: (response) => onSuccess(fiber, settle(sleeper), response)
        })
    )
  }
  const inRegion: HttpApp.Default<E, R> = Effect.uninterruptible(Effect.withFiberRuntime(run))
  // The platform runs an app uninterruptibly (only routes opt back in): there, no region to make.
  return Effect.withFiberRuntime((fiber, status) => RuntimeFlags.interruption(status.runtimeFlags) ? inRegion : run(fiber))
}

/**
 * Who a deadline interrupts as, so its interruption is told apart from anyone else's (a client
 * disconnect, a shutdown): an id of its own, made once, which no fiber ever has.
 */
const deadlineFiberId: FiberId.FiberId = FiberId.unsafeMake()

/**
 * Whether the request's connection is already destroyed (Node's server; elsewhere, never).
 *
 * Why it matters, upstream behaviour in @effect/platform-node 0.108 (Effect 3, branch v3):
 * - a body read that is interrupted destroys the request stream (`NodeStream.toString` /
 *   `toUint8Array` release with `stream.destroy()`, platform-node-shared
 *   `src/internal/stream.ts`), and Node destroys the socket of an incomplete `IncomingMessage`
 *   with it: a deadline that fires while the body still arrives closes the connection;
 * - `handleResponse` (platform-node `src/internal/httpServer.ts`) sends a body with
 *   `nodeResponse.end(body, cb)` and waits for `cb`, in the request's uninterruptible region.
 *   Node hangs `cb` on `'finish'`, which a destroyed socket never emits (it emits `'close'`,
 *   and `_writeRaw` drops the bytes): the request fiber waits forever, the drain reports it in
 *   flight and then "ignored interruption". Effect 4 fixed this for HEAD answers only, by also
 *   resuming on `'close'` (Effect-TS/effect#6506).
 * So an answer for a gone connection has no body: the platform ends it without waiting.
 */
const connectionGone = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
  const source = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest).source
  return source instanceof Http.IncomingMessage && source.socket.destroyed
}

/** A text answer, or (its connection gone, see {@link connectionGone}) a bodiless one. */
const answer = (fiber: Fiber.RuntimeFiber<unknown, unknown>, status: number, text: string): HttpServerResponse.HttpServerResponse =>
  connectionGone(fiber) ? HttpServerResponse.empty({ status }) : HttpServerResponse.text(text, { status })

/** One request's deadline in a {@link DeadlineQueue}. */
interface PendingDeadline {
  /** The request's fiber; dropped once settled or expired, so the queue holds no fiber late. */
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
  /** `performance.now()` at which it expires. */
  readonly at: number
  state: "running" | "settled" | "expired"
  next: PendingDeadline | undefined
}

/**
 * The live-clock deadlines of one `withDeadline`: a timer per request (allocate, insert into
 * Node's timer list, clear) was a measurable part of a small request. All deadlines here have
 * the same duration, so they expire in the order they were added: a FIFO list, whose head is
 * the next to expire, and one Node timer armed for it.
 *
 * Settling only marks an entry; settled entries leave the list when they reach its head (on
 * the next add, or when the timer fires). A request still running holds the ones behind it,
 * at most the requests of one deadline's span, each a few words without its fiber. When the
 * timer fires it interrupts every expired running request and re-arms for the first one
 * still running, so under steady load of quick requests it fires about once per deadline.
 * Time is `performance.now()`, monotonic like Node's timers: a wall-clock jump moves nothing.
 * The timer is unref'd: an in-flight request keeps the process alive through its socket.
 */
class DeadlineQueue {
  private head: PendingDeadline | undefined = undefined
  private tail: PendingDeadline | undefined = undefined
  private timer: ReturnType<typeof setTimeout> | undefined = undefined

  constructor(private readonly millis: number) {}

  add(fiber: Fiber.RuntimeFiber<unknown, unknown>): PendingDeadline {
    const now = performance.now()
    this.dropSettled()
    const pending: PendingDeadline = { fiber, at: now + this.millis, state: "running", next: undefined }
    if (this.tail === undefined) this.head = pending
    else this.tail.next = pending
    this.tail = pending
    if (this.timer === undefined) this.arm(now)
    return pending
  }

  /** Disarms `pending` (its handler settled); tells whether its deadline had fired first. */
  settle(pending: PendingDeadline): boolean {
    pending.fiber = undefined
    if (pending.state === "expired") return true
    pending.state = "settled"
    return false
  }

  private dropSettled(): void {
    let head = this.head
    while (head !== undefined && head.state !== "running") head = head.next
    this.head = head
    if (head === undefined) this.tail = undefined
  }

  private arm(now: number): void {
    const head = this.head
    if (head === undefined) return
    // Node rounds up to whole milliseconds and may wake a fraction early: `fire` re-arms then.
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(head.at - now)))
    this.timer.unref()
  }

  private readonly fire = (): void => {
    this.timer = undefined
    const now = performance.now()
    let head = this.head
    for (; head !== undefined && (head.state !== "running" || head.at <= now); head = head.next) {
      if (head.state !== "running") continue
      head.state = "expired"
      // Only tells the fiber (it runs the interruption on its own turn): no re-entry here.
      head.fiber?.unsafeInterruptAsFork(deadlineFiberId)
      head.fiber = undefined
    }
    this.head = head
    if (head === undefined) this.tail = undefined
    else this.arm(now)
  }
}

/** Whether every interruption in `cause` is the deadline's (failures may come with it). */
const onlyDeadlineInterrupted = (cause: Cause.Cause<unknown>): boolean => {
  for (const id of Cause.interruptors(cause)) {
    if (!Equal.equals(id, deadlineFiberId)) return false
  }
  return true
}

/**
 * Sheds load: at most `limit` requests run the wrapped app at once; one more is answered 503
 * with `Retry-After` at once, never queued (a queue in front of an overloaded server only
 * adds latency).
 *
 * Each application makes its own limit: wrapping an app bounds the app, `HttpRouter.use`
 * bounds each route. The permit covers the handler until it returns its response, not the
 * streaming of a body afterwards.
 *
 * @category middleware
 * @since 0.1.0
 */
export const withConcurrencyLimit = (limit: number, options: { readonly retryAfter?: Duration.DurationInput } = {}) => {
  const retryAfter = options.retryAfter ?? Duration.seconds(1)
  const permits = Math.max(1, Math.floor(limit))
  return <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> => {
    // Made here, not per request: the limit is shared by every request to this app. A plain
    // count, not a Semaphore: nothing ever waits for a permit, and `withPermitsIfAvailable`
    // adds an Option, an `ensuring` and a release effect to every request.
    let taken = 0
    const shed = Effect.as(
      Effect.logDebug(`concurrency limit (${limit}) reached; shedding request`),
      serviceUnavailable(retryAfter, "server busy")
    )
    // Runs however the handler ends (interrupted included: the region around it is not).
    const release = {
      onFailure: (cause: Cause.Cause<E>) => {
        taken--
        return Effect.failCause(cause)
      },
      onSuccess: (response: HttpServerResponse.HttpServerResponse) => {
        taken--
        return Effect.succeed(response)
      }
    }
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        if (taken >= permits) return shed
        taken++
        return Effect.matchCauseEffect(restore(app), release)
      })
    )
  }
}

const logWithRequest = (message: string, error?: unknown): Effect.Effect<void, never, HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    Effect.logWarning(message, ...(error === undefined ? [] : [error])).pipe(
      // The path only: a query string may carry secrets.
      Effect.annotateLogs({ method: request.method, path: request.url.split("?")[0] ?? "" })
    ))
