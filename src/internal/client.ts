/**
 * The client's logic above the transport: deadlines, redirects, status checks, body reads
 * with limits, scoped release, retries. Shared by the real and the test transports.
 */
import * as ParseResult from "effect/ParseResult"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import {
  BodyTooLargeError,
  DecodeError,
  type HttpError,
  type InvalidUrlError,
  NetworkError,
  RedirectError,
  StatusError,
  type TimeoutPhase
} from "../Errors.js"
import * as Retry from "../Retry.js"
import { isLiveClock } from "./liveClock.js"
import { redactUrl } from "./redact.js"
import { type AnyRequestInput, type PlainGet, type PreparedRequest, prepare, prepareGet, type RequestInput } from "./request.js"
import type { BodySource, ResponseTiming, Timeout, Transport, TransportResponse } from "./transport.js"

/** Client-wide settings, resolved (durations in milliseconds; `undefined` = off). */
export interface ResolvedConfig {
  readonly deadlineMs: number | undefined
  readonly headersTimeoutMs: number | undefined
  readonly idleTimeoutMs: number | undefined
  readonly maxRedirects: number
  readonly maxBodyBytes: number
  readonly userAgent: string
  readonly retry: Retry.RetryPolicy
  readonly allowHttpsDowngrade: boolean
}

/**
 * Per-request settings. Anything left out falls back to the client's configuration.
 *
 * @since 0.1.0
 */
export interface RequestOptions {
  /** Overall deadline for one attempt (until the body is read); `"none"` disables it. */
  readonly deadline?: Duration.DurationInput | "none" | undefined
  /** Longest wait for response headers; `"none"` leaves it to the deadline. */
  readonly headersTimeout?: Duration.DurationInput | "none" | undefined
  /** Longest gap between body chunks; `"none"` disables it. */
  readonly idleTimeout?: Duration.DurationInput | "none" | undefined
  /** Which statuses count as success. Default: 200–299. */
  readonly accept?: ((status: number) => boolean) | undefined
  /** Retry overrides for this request, or `false` for a single attempt. */
  readonly retry?: Retry.RetryOptions | false | undefined
  /** Largest body the in-memory helpers read, and the largest a stream passes on. */
  readonly maxBodyBytes?: number | undefined
  /** Follow redirects (default) or hand 3xx responses back as they are. */
  readonly followRedirects?: boolean | undefined
  readonly maxRedirects?: number | undefined
}

/**
 * A response whose body lives in a scope. The body can be read once, by one of `bytes`,
 * `text`, `json` or `stream`; whatever is left unread when the scope closes is drained (if
 * small) or the connection is aborted.
 *
 * @since 0.1.0
 */
export interface Response {
  readonly status: number
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>
  readonly method: string
  /** The final URL, after redirects. */
  readonly url: URL
  /** How many redirects were followed to get here. */
  readonly redirects: number
  readonly contentLength: number | undefined
  /** Time to first byte and, when this request opened a connection, its connect time (undici transport). */
  readonly timing: ResponseTiming | undefined
  readonly bytes: Effect.Effect<Uint8Array, NetworkError | BodyTooLargeError>
  readonly text: Effect.Effect<string, NetworkError | BodyTooLargeError>
  readonly json: Effect.Effect<unknown, NetworkError | BodyTooLargeError | DecodeError>
  readonly stream: Stream.Stream<Uint8Array, NetworkError | BodyTooLargeError>
}

/**
 * The client service: one shared transport plus the rules above it.
 *
 * @since 0.1.0
 */
export interface ClientService {
  readonly config: ResolvedConfig
  /**
   * Sends a request and hands the response to `use`; the body is released when `use` ends.
   * The whole exchange is retried by the policy, so `use` may run more than once.
   */
  readonly execute: <A, E, R>(
    request: RequestInput,
    use: (response: Response) => Effect.Effect<A, E, R>,
    options?: RequestOptions
  ) => Effect.Effect<A, E | HttpError, R>
  /** Sends a request; the response (and its body) lives until the enclosing scope closes. */
  readonly open: (request: RequestInput, options?: RequestOptions) => Effect.Effect<Response, HttpError, Scope.Scope>
}

const snippetBytes = 1024
const redirectStatuses: ReadonlySet<number> = new Set([301, 302, 303, 307, 308])
const credentialHeaders = ["authorization", "cookie", "proxy-authorization"] as const
const isOk = (status: number): boolean => status >= 200 && status < 300

const toMs = (input: Duration.DurationInput | "none" | undefined, fallback: number | undefined): number | undefined => {
  if (input === undefined) return fallback
  if (input === "none") return undefined
  const ms = Duration.toMillis(Duration.decode(input))
  return Number.isFinite(ms) && ms > 0 ? ms : undefined
}

/** Settings for one call: the client's, overridden by the call's options. */
interface CallSettings {
  readonly deadlineMs: number | undefined
  readonly headersTimeoutMs: number | undefined
  readonly idleTimeoutMs: number | undefined
  readonly accept: (status: number) => boolean
  readonly retry: Retry.RetryPolicy
  readonly maxBodyBytes: number
  readonly followRedirects: boolean
  readonly maxRedirects: number
  readonly allowHttpsDowngrade: boolean
}

const settingsFor = (config: ResolvedConfig, options: RequestOptions | undefined): CallSettings => {
  if (options === undefined) return defaultSettings(config)
  return {
    deadlineMs: toMs(options.deadline, config.deadlineMs),
    headersTimeoutMs: toMs(options.headersTimeout, config.headersTimeoutMs),
    idleTimeoutMs: toMs(options.idleTimeout, config.idleTimeoutMs),
    accept: options.accept ?? isOk,
    retry: options.retry === false ? Retry.none : options.retry === undefined ? config.retry : Retry.policy(options.retry, config.retry),
    maxBodyBytes: options.maxBodyBytes ?? config.maxBodyBytes,
    followRedirects: options.followRedirects ?? true,
    maxRedirects: options.maxRedirects ?? config.maxRedirects,
    allowHttpsDowngrade: config.allowHttpsDowngrade
  }
}

const defaultSettingsCache = new WeakMap<ResolvedConfig, CallSettings>()
const defaultSettings = (config: ResolvedConfig): CallSettings => {
  let settings = defaultSettingsCache.get(config)
  if (settings === undefined) {
    settings = settingsFor(config, {})
    defaultSettingsCache.set(config, settings)
  }
  return settings
}

/** The clock-based deadline of one attempt, shared by every wait inside it. */
interface Attempt {
  readonly clock: Clock.Clock
  readonly request: PreparedRequest
  readonly settings: CallSettings
  /** Absolute time (Clock millis) at which the attempt's deadline fires, if any. */
  readonly deadlineAt: number | undefined
  /** The clock is the live one, so transport-armed timers are equivalent to clock sleeps. */
  readonly live: boolean
}

const timeoutError = (attempt: Attempt, phase: TimeoutPhase): NetworkError =>
  new NetworkError({ reason: "Timeout", phase, method: attempt.request.method, url: attempt.request.redactedUrl })

/**
 * The bound on one wait: whichever fires first of the phase's own timeout and the attempt's
 * deadline, or `undefined` when neither is set.
 */
const boundFor = (attempt: Attempt, phaseMs: number | undefined, phase: TimeoutPhase): Timeout | undefined => {
  const remaining = attempt.deadlineAt === undefined ? Infinity : attempt.deadlineAt - attempt.clock.unsafeCurrentTimeMillis()
  const usePhase = phaseMs !== undefined && phaseMs < remaining
  const ms = usePhase ? phaseMs : remaining
  if (ms === Infinity) return undefined
  const which: TimeoutPhase = usePhase ? phase : "deadline"
  return { ms: Math.max(0, ms), error: () => timeoutError(attempt, which) }
}

/**
 * Runs one wait under its bound. Firing interrupts the wait, which aborts the transport's
 * request. Under the live clock a transport that arms its own timers does so (a fiber race
 * per wait costs more than a loopback request); under any other clock, `TestClock`
 * included, see {@link within}.
 */
const bounded = <A>(
  attempt: Attempt,
  bound: Timeout | undefined,
  plain: () => Effect.Effect<A, NetworkError>,
  armed: ((timeout: Timeout) => Effect.Effect<A, NetworkError>) | undefined
): Effect.Effect<A, NetworkError> => {
  if (bound === undefined) return plain()
  if (bound.ms <= 0) return Effect.fail(bound.error())
  if (armed !== undefined && attempt.live) return armed(bound)
  return within(plain(), bound.ms, bound.error)
}

/**
 * `effect`, failing with `error()` once `ms` have passed on the fiber's clock; the effect is
 * interrupted first (its requests aborted). Interrupting the caller interrupts both at once.
 *
 * Not `Effect.timeoutFail`: its race waits for the raced effect uninterruptibly, so a caller
 * interrupted mid-wait (a failed sibling in a fan-out) would only stop once the request
 * answered. Here the effect and the timer run as fibers of this async, which interruption
 * cancels at once.
 */
export const within = <A, E, R, E2>(effect: Effect.Effect<A, E, R>, ms: number, error: () => E2): Effect.Effect<A, E | E2, R> =>
  Effect.flatMap(Effect.runtime<R>(), (runtime) =>
    Effect.async<A, E | E2>((resume) => {
      let settled = false
      const work = Runtime.runFork(runtime)(effect)
      const timer = Runtime.runFork(runtime)(Effect.sleep(ms))
      timer.addObserver((exit) => {
        if (settled || Exit.isFailure(exit)) return
        settled = true
        // The request is aborted before the timeout error is seen, as with an interruption.
        resume(Effect.zipRight(Fiber.interrupt(work), Effect.fail(error())))
      })
      work.addObserver((exit) => {
        timer.unsafeInterruptAsFork(FiberId.none)
        if (settled) return
        settled = true
        resume(exit)
      })
      // Interruption completes once the request is aborted, not merely asked to stop.
      return Effect.sync(() => {
        settled = true
      }).pipe(Effect.zipRight(Fiber.interrupt(timer)), Effect.zipRight(Fiber.interrupt(work)))
    }))

/** Waits for more of the body, bounded by the idle timeout and the deadline. */
const waitBody = (attempt: Attempt, body: BodySource): Effect.Effect<void, NetworkError> =>
  bounded(
    attempt,
    boundFor(attempt, attempt.settings.idleTimeoutMs, "body"),
    () => body.wait,
    body.waitWithin === undefined ? undefined : (timeout) => body.waitWithin!(timeout)
  )

/** The body exceeded `limit` bytes. */
const tooLarge = (attempt: Attempt, body: BodySource, limit: number): BodyTooLargeError =>
  new BodyTooLargeError({ method: attempt.request.method, url: attempt.request.redactedUrl, limit, contentLength: body.contentLength })

/**
 * Reads the whole body into memory, failing fast once it exceeds `limit`. Starts reading when
 * called: call it when the effect runs.
 */
const readAll = (
  attempt: Attempt,
  body: BodySource,
  limit: number
): Effect.Effect<Uint8Array, NetworkError | BodyTooLargeError> => {
  if (body.contentLength !== undefined && body.contentLength > limit) return Effect.fail(tooLarge(attempt, body, limit))
  const chunks: Array<Uint8Array> = []
  let size = 0
  return eachChunk(attempt, body, limit, (chunk) => {
    chunks.push(chunk)
    size += chunk.length
    return undefined
  }, () => Effect.succeed(concat(chunks, size)))
}

/** The body as a stream of chunks, each pull bounded by the idle timeout and the deadline. */
const streamBody = (attempt: Attempt, body: BodySource, limit: number): Stream.Stream<Uint8Array, NetworkError | BodyTooLargeError> => {
  let size = 0
  const pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<NetworkError | BodyTooLargeError>> = Effect.suspend(() => {
    const taken: Array<Uint8Array> = []
    for (;;) {
      const chunk = body.poll()
      if (chunk === undefined) break
      if (chunk === null) {
        return taken.length > 0 ? Effect.succeed(Chunk.unsafeFromArray(taken)) : Effect.fail(Option.none())
      }
      size += chunk.length
      if (size > limit) {
        return Effect.fail(Option.some(tooLarge(attempt, body, limit)))
      }
      taken.push(chunk)
    }
    if (taken.length > 0) return Effect.succeed(Chunk.unsafeFromArray(taken))
    return Effect.flatMap(Effect.mapError(waitBody(attempt, body), Option.some), () => pull)
  })
  return Stream.repeatEffectChunkOption(pull)
}

/**
 * The body handed to `onChunk` one chunk at a time, with no Stream in between: chunks already
 * received are taken in a plain loop, and the only Effect per chunk is the wait for the next
 * one (or what `onChunk` returns: `undefined` to go on at once, an Effect to run first). At
 * the end, `onEnd`. Each wait is bounded by the idle timeout and the deadline; past `limit`
 * bytes it fails. Starts reading when called: call it when the effect runs.
 */
const eachChunk = <A, E>(
  attempt: Attempt,
  body: BodySource,
  limit: number,
  onChunk: (chunk: Uint8Array) => Effect.Effect<void, E> | undefined,
  onEnd: () => Effect.Effect<A>
): Effect.Effect<A, E | NetworkError | BodyTooLargeError> => {
  let size = 0
  const loop = (): Effect.Effect<A, E | NetworkError | BodyTooLargeError> => {
    for (;;) {
      const chunk = body.poll()
      if (chunk === null) return onEnd()
      if (chunk === undefined) return Effect.flatMap(waitBody(attempt, body), loop)
      size += chunk.length
      if (size > limit) return Effect.fail(tooLarge(attempt, body, limit))
      const next = onChunk(chunk)
      if (next !== undefined) return Effect.flatMap(next, loop)
    }
  }
  return loop()
}

/** Where a response built here keeps its {@link forEachChunk} reader (not part of the public `Response`). */
const eachChunkKey: unique symbol = Symbol("volley/Response/eachChunk")

interface ReadableResponse extends Response {
  readonly [eachChunkKey]: <E>(onChunk: (chunk: Uint8Array) => Effect.Effect<void, E> | undefined) => Effect.Effect<void, E | NetworkError | BodyTooLargeError>
}

/**
 * Reads a response's body chunk by chunk without a Stream (the download's hot path, where a
 * Stream pull per 64 KiB chunk cost more CPU than the rest of the read). Same rules as
 * `stream`: once per response, each wait bounded by the idle timeout and the deadline.
 */
export const forEachChunk = <E>(
  response: Response,
  onChunk: (chunk: Uint8Array) => Effect.Effect<void, E> | undefined
): Effect.Effect<void, E | NetworkError | BodyTooLargeError> =>
  eachChunkKey in response
    ? (response as ReadableResponse)[eachChunkKey](onChunk)
    : Stream.runForEach(response.stream, (chunk) => onChunk(chunk) ?? Effect.void)

const concat = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

const utf8 = new TextDecoder("utf-8")

/** The longest a diagnostic snippet waits for more of an error body: it must not delay the error. */
const snippetWaitMs = 1_000

/** Reads at most `max` bytes of the body for an error message; never fails, never waits long. */
const snippet = (attempt: Attempt, body: BodySource, max: number): Effect.Effect<string> => {
  const idle = attempt.settings.idleTimeoutMs
  const brief = { ...attempt, settings: { ...attempt.settings, idleTimeoutMs: Math.min(idle ?? snippetWaitMs, snippetWaitMs) } }
  const chunks: Array<Uint8Array> = []
  let size = 0
  const loop = (): Effect.Effect<void, NetworkError> => {
    while (size < max) {
      const chunk = body.poll()
      if (chunk === null) return Effect.void
      if (chunk === undefined) return Effect.flatMap(waitBody(brief, body), loop)
      chunks.push(chunk)
      size += chunk.length
    }
    return Effect.void
  }
  return loop().pipe(
    Effect.ignore,
    Effect.map(() => utf8.decode(concat(chunks, size).subarray(0, max)).replace(/\uFFFD$/, ""))
  )
}

/**
 * Parses `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3), relative to the
 * Effect clock's now. Dates in the past mean "now".
 */
export const parseRetryAfter = (value: string | undefined, nowMs: number): Option.Option<Duration.Duration> => {
  if (value === undefined) return Option.none()
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Option.some(Duration.seconds(Number(trimmed)))
  const at = Date.parse(trimmed)
  if (Number.isNaN(at)) return Option.none()
  return Option.some(Duration.millis(Math.max(0, at - nowMs)))
}

const statusError = (attempt: Attempt, response: TransportResponse, url: URL, method: string) =>
  Effect.flatMap(snippet(attempt, response.body, snippetBytes), (bodySnippet) =>
    Effect.fail(
      new StatusError({
        status: response.status,
        method,
        url: redactUrl(url),
        retryAfter: parseRetryAfter(response.headers["retry-after"], attempt.clock.unsafeCurrentTimeMillis()),
        bodySnippet,
        headers: response.headers
      })
    ))

const originOf = (url: URL): string => `${url.protocol}//${url.host}`

/** Where a redirect goes next, or why it may not. */
const nextHop = (
  current: PreparedRequest,
  response: TransportResponse,
  hops: number,
  visited: Set<string>,
  settings: CallSettings
): PreparedRequest | RedirectError | undefined => {
  const location = response.headers["location"]
  if (location === undefined) return undefined // a 3xx without Location is a final answer
  const fail = (reason: RedirectError["reason"], target?: URL) =>
    new RedirectError({
      reason,
      method: current.method,
      url: current.redactedUrl,
      location: target !== undefined ? redactUrl(target) : redactUrl(location),
      hops
    })
  let target: URL
  try {
    target = new URL(location, current.url)
  } catch {
    return fail("InvalidLocation")
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") return fail("InvalidLocation", target)
  target.hash = ""
  if (hops >= settings.maxRedirects) return fail("TooMany", target)
  if (current.url.protocol === "https:" && target.protocol === "http:" && !settings.allowHttpsDowngrade) {
    return fail("Downgrade", target)
  }
  const status = response.status
  const toGet = status === 303 ? current.method !== "HEAD" : (status === 301 || status === 302) && current.method === "POST"
  const method = toGet ? "GET" : current.method
  if (!toGet && current.body !== undefined && !current.replayable) return fail("BodyNotReplayable", target)
  const key = `${method} ${target.href}`
  if (visited.has(key)) return fail("Loop", target)
  visited.add(key)
  const headers: Record<string, string> = { ...current.headers }
  if (toGet) {
    delete headers["content-type"]
    delete headers["content-length"]
    delete headers["transfer-encoding"]
  }
  if (originOf(target) !== originOf(current.url)) {
    // Credentials were meant for the origin the caller named, not wherever it points us.
    for (const name of credentialHeaders) delete headers[name]
  }
  return {
    url: target,
    method,
    headers,
    body: toGet ? undefined : current.body,
    redactedUrl: redactUrl(target),
    replayable: current.replayable
  }
}

/** Sends one request, bounded by the headers timeout and the deadline. */
const sendBounded = (
  transport: Transport,
  attempt: Attempt,
  received: (response: TransportResponse) => void
): Effect.Effect<TransportResponse, NetworkError> => {
  const request = attempt.request
  const armed = transport.sendWithin
  return bounded(
    attempt,
    boundFor(attempt, attempt.settings.headersTimeoutMs, "headers"),
    () => transport.send(request, received),
    armed === undefined ? undefined : (timeout) => armed(request, timeout, received)
  )
}

interface Acquired {
  readonly response: TransportResponse
  readonly request: PreparedRequest
  readonly redirects: number
}

/**
 * Sends the request and follows redirects. Must run with interruption masked: only the
 * transport waits are made interruptible (`restore`), so an intermediate response is
 * always released and the final one is always handed to the caller to release.
 */
const sendFollowing = (
  transport: Transport,
  attempt: Attempt,
  restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
): Effect.Effect<Acquired, HttpError> => {
  const settings = attempt.settings
  let visited: Set<string> | undefined
  const hop = (request: PreparedRequest, redirects: number): Effect.Effect<Acquired, HttpError> => {
    // The transport reports its response the moment it has one. If this wait then ends in
    // anything but handing it over (an interruption crossing the headers, a timer firing at
    // the same instant), the response would be dropped with its connection: release it.
    // (Already masked, so a plain match does what `Effect.onExit` would, in fewer steps.)
    let received: TransportResponse | undefined
    const sent = restore(sendBounded(transport, request === attempt.request ? attempt : { ...attempt, request }, (r) => {
      received = r
    }))
    return Effect.matchCauseEffect(sent, {
      onFailure: (cause) => {
        received?.body.release(true)
        return Effect.failCause(cause)
      },
      onSuccess: (response) => {
        if (!settings.followRedirects || !redirectStatuses.has(response.status)) {
          return Effect.succeed({ response, request, redirects })
        }
        visited ??= new Set([`${attempt.request.method} ${attempt.request.url.href}`])
        const next = nextHop(request, response, redirects, visited, settings)
        if (next === undefined) return Effect.succeed({ response, request, redirects })
        response.body.release(false)
        return next instanceof RedirectError ? Effect.fail(next) : hop(next, redirects + 1)
      }
    })
  }
  return hop(attempt.request, 0)
}

/** Errors after which the connection is in an unknown state: close it rather than drain it. */
const mustAbort = (exit: Exit.Exit<unknown, unknown>): boolean => Exit.isFailure(exit) && mustAbortCause(exit.cause)

const mustAbortCause = (cause: Cause.Cause<unknown>): boolean => {
  if (Cause.isInterrupted(cause)) return true
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return true // a defect
  const error = failure.value
  const tag = typeof error === "object" && error !== null && "_tag" in error ? error._tag : undefined
  return tag === "NetworkError" || tag === "BodyTooLargeError"
}

/**
 * Runs `effect` (already made interruptible by the caller's `restore`), then releases the
 * body however it ended. Must run masked: what `Effect.onExit` does, in fewer steps.
 */
const releasing = <A, E, R>(effect: Effect.Effect<A, E, R>, body: BodySource): Effect.Effect<A, E, R> =>
  Effect.matchCauseEffect(effect, {
    onFailure: (cause) => {
      body.release(mustAbortCause(cause))
      return Effect.failCause(cause)
    },
    onSuccess: (value) => {
      body.release(false)
      return Effect.succeed(value)
    }
  })

const makeResponse = (attempt: Attempt, acquired: Acquired): ReadableResponse => new ScopedResponse(attempt, acquired)

/**
 * The `Response` handed to callers. A class, not an object literal, because one is made per
 * request: its ways to read (`bytes`, `text`, `json`, `stream`) are built on the prototype
 * when asked for, instead of as closures for every response (a stream costs more to build
 * than a small body costs to read). The body can be taken once, by any of them.
 */
class ScopedResponse implements ReadableResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly method: string
  readonly url: URL
  readonly redirects: number
  readonly contentLength: number | undefined
  readonly timing: ResponseTiming | undefined
  private consumed = false

  constructor(private readonly attempt: Attempt, private readonly acquired: Acquired) {
    const { request, response } = acquired
    this.status = response.status
    this.headers = response.headers
    this.method = request.method
    this.url = request.url
    this.redirects = acquired.redirects
    this.contentLength = response.body.contentLength
    this.timing = response.timing
  }

  private once<A, E>(read: () => Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.suspend(() => {
      if (this.consumed) return Effect.dieMessage("volley: a response body can be read only once")
      this.consumed = true
      return read()
    })
  }

  get bytes(): Effect.Effect<Uint8Array, NetworkError | BodyTooLargeError> {
    // A HEAD answer, 204 and 304 have no body, whatever Content-Length announces (RFC 9110 §6.4.1).
    const bodyless = this.method === "HEAD" || this.status === 204 || this.status === 304
    return this.once(() =>
      bodyless ? Effect.succeed(new Uint8Array(0)) : readAll(this.attempt, this.acquired.response.body, this.attempt.settings.maxBodyBytes)
    )
  }

  get text(): Effect.Effect<string, NetworkError | BodyTooLargeError> {
    return Effect.map(this.bytes, (b) => utf8.decode(b))
  }

  get json(): Effect.Effect<unknown, NetworkError | BodyTooLargeError | DecodeError> {
    const request = this.acquired.request
    return Effect.flatMap(this.text, (raw) =>
      Effect.try({
        try: () => JSON.parse(raw) as unknown,
        catch: (cause) =>
          new DecodeError({
            method: request.method,
            url: request.redactedUrl,
            status: this.status,
            detail: `invalid JSON: ${(cause as Error).message}`,
            cause
          })
      }))
  }

  get stream(): Stream.Stream<Uint8Array, NetworkError | BodyTooLargeError> {
    return Stream.unwrap(
      this.once(() => Effect.succeed(streamBody(this.attempt, this.acquired.response.body, this.attempt.settings.maxBodyBytes)))
    )
  }

  [eachChunkKey]<E>(onChunk: (chunk: Uint8Array) => Effect.Effect<void, E> | undefined) {
    return this.once(() => eachChunk(this.attempt, this.acquired.response.body, this.attempt.settings.maxBodyBytes, onChunk, () => Effect.void))
  }
}

/**
 * Decodes a JSON value with a schema, turning a mismatch into a `DecodeError` that says
 * which field was wrong.
 */
export const decodeWith = <A, I, R>(schema: Schema.Schema<A, I, R>, response: Response) => {
  // ParseResult's decoder plus the ParseError that Schema.decodeUnknown would wrap around the
  // issue, without loading effect/Schema (~8 MiB of RSS) in programs that never decode.
  const decode = ParseResult.decodeUnknown(schema, { errors: "all", onExcessProperty: "ignore" })
  return (value: unknown): Effect.Effect<A, DecodeError, R> =>
    Effect.mapError(decode(value), (issue) => {
      const error = ParseResult.parseError(issue)
      return new DecodeError({
        method: response.method,
        url: redactUrl(response.url),
        status: response.status,
        detail: error.message,
        cause: error
      })
    })
}

/**
 * Builds the client over a transport.
 */
export const make = (transport: Transport, config: ResolvedConfig): ClientService => {
  /** Prepares the request, then continues with it; a plain URL takes no effect step. */
  const withPrepared = <A, E, R>(
    input: AnyRequestInput,
    f: (request: PreparedRequest) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | InvalidUrlError, R> => {
    if (typeof input === "string" || input instanceof URL) {
      const prepared = prepareGet(input, config.userAgent)
      return Either.isRight(prepared) ? f(prepared.right) : Effect.fail(prepared.left)
    }
    return Effect.flatMap(prepare(input, config.userAgent), f)
  }

  /** Starts an attempt: reads the fiber's clock (one step, where `Effect.clockWith` takes two). */
  const begin = <A, E, R>(request: PreparedRequest, settings: CallSettings, f: (attempt: Attempt) => Effect.Effect<A, E, R>) =>
    Effect.withFiberRuntime<A, E, R>((fiber) => {
      const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
      const deadlineAt = settings.deadlineMs === undefined ? undefined : clock.unsafeCurrentTimeMillis() + settings.deadlineMs
      return f({ clock, request, settings, deadlineAt, live: isLiveClock(clock) })
    })

  const attemptOnce = <A, E, R>(
    request: PreparedRequest,
    settings: CallSettings,
    use: (response: Response) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | HttpError, R> =>
    begin(request, settings, (attempt) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(sendFollowing(transport, attempt, restore), (acquired) => {
          const final: Attempt = acquired.request === request ? attempt : { ...attempt, request: acquired.request }
          const { response } = acquired
          const run: Effect.Effect<A, E | HttpError, R> = settings.accept(response.status)
            ? use(makeResponse(final, acquired))
            : statusError(final, response, acquired.request.url, acquired.request.method)
          return releasing(restore(run), response.body)
        })
      ))

  const execute = <A, E, R>(
    input: RequestInput,
    use: (response: Response) => Effect.Effect<A, E, R>,
    options?: RequestOptions
  ): Effect.Effect<A, E | HttpError, R> => {
    const settings = settingsFor(config, options)
    return withPrepared(input, (request) => {
      const once = attemptOnce(request, settings, use)
      return request.replayable ? Retry.retry(settings.retry, request.method, request.headers)(once) : once
    })
  }

  const open = (input: AnyRequestInput, options?: RequestOptions): Effect.Effect<Response, HttpError, Scope.Scope> => {
    const settings = settingsFor(config, options)
    const attemptScoped = (request: PreparedRequest): Effect.Effect<Response, HttpError, Scope.Scope> =>
      begin(request, settings, (attempt) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(sendFollowing(transport, attempt, restore), (acquired) => {
            const final: Attempt = acquired.request === request ? attempt : { ...attempt, request: acquired.request }
            const { response } = acquired
            if (!settings.accept(response.status)) {
              // Released now, not with the caller's scope: a retry must not hold this connection.
              return releasing(restore(statusError(final, response, acquired.request.url, acquired.request.method)), response.body)
            }
            return Effect.as(
              Effect.addFinalizer((exit) => Effect.sync(() => response.body.release(mustAbort(exit)))),
              makeResponse(final, acquired)
            )
          })
        ))
    return withPrepared(input, (request) => {
      const once = attemptScoped(request)
      return request.replayable ? Retry.retry(settings.retry, request.method, request.headers)(once) : once
    })
  }

  const service: ClientService = { config, execute, open }
  plainOpeners.set(service, open)
  return service
}

type Open = (input: AnyRequestInput, options?: RequestOptions) => Effect.Effect<Response, HttpError, Scope.Scope>

/** The `open` of each service built by `make`, which also takes a {@link PlainGet}. */
const plainOpeners = new WeakMap<ClientService, Open>()

/**
 * `client.open` for a {@link PlainGet}. A service not built by `make` (a hand-written stub)
 * gets the equivalent `HttpClientRequest`, whose module is loaded then.
 */
export const openPlain = (client: ClientService, request: PlainGet, options?: RequestOptions): Effect.Effect<Response, HttpError, Scope.Scope> => {
  const open = plainOpeners.get(client)
  if (open !== undefined) return open(request, options)
  return Effect.flatMap(
    Effect.promise(() => import("@effect/platform/HttpClientRequest")),
    (HttpClientRequest) => client.open(HttpClientRequest.get(request.url, { headers: request.headers }), options)
  )
}

const httpErrorTags: ReadonlySet<string> = new Set([
  "NetworkError",
  "StatusError",
  "DecodeError",
  "BodyTooLargeError",
  "RedirectError",
  "InvalidUrlError"
])

/** Whether a value is one of volley's HTTP errors (a `use` callback may fail with its own). */
export const isHttpError = (error: unknown): error is HttpError =>
  typeof error === "object" && error !== null && "_tag" in error && httpErrorTags.has(error._tag as string)
