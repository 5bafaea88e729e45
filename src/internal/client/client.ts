/**
 * The client's logic above the transport: deadlines, redirects, status checks, body reads
 * with limits, scoped release, retries. Shared by the real and the test transports.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Scope from "effect/Scope"
import type { ClientService, RequestInput, RequestOptions, Response, Transport } from "../../Client.js"
import type { HttpError, InvalidRequestError, InvalidUrlError } from "../../Errors.js"
import { pauseGate } from "../policy/gate.js"
import { Hosts, type HostState } from "../policy/hosts.js"
import * as PerHost from "../policy/perHost.js"
import * as Policy from "../policy/policy.js"
import * as RetryPolicy from "../policy/retry.js"
import { timerFor } from "../transport/timer.js"
import { mustAbort, releasing, sendFollowing } from "./attempt.js"
import type { Attempt } from "./deadline.js"
import { type AnyRequestInput, PlainGet, type PreparedRequest, prepare, prepareGet } from "./request.js"
import { makeResponse, statusError } from "./response.js"
import { type CallSettings, resolve, type ResolvedConfig, settingsFor } from "./settings.js"

/** What an {@link Internals.exchange} hands an accepted response to (see `Policy.Accepted`). */
export type Accepted<A, E, R> = Policy.Accepted<A, E, R>

/** What volley's own modules (Batch, Download, the HttpClient bridge) need of a client beyond its public interface. */
export interface Internals {
  /** The client's resolved configuration (durations in ms), for the retry policy and timeouts. */
  readonly config: ResolvedConfig
  /** What the client knows of each origin (pauses, pacing, retry budget), shared by all its consumers. */
  readonly hosts: Hosts
  /** `open`, also for a {@link PlainGet}. */
  readonly open: (input: AnyRequestInput, options?: RequestOptions) => Effect.Effect<Response, HttpError, Scope.Scope>
  /**
   * One call (attempts, retries) whose accepted response goes to `accepted` in the caller's
   * fiber, its body released when `accepted` says: what `execute` and `open` are built from,
   * for the HttpClient bridge, which hands a body over unreleased with no scope of its own.
   */
  readonly exchange: <A, E, R>(
    input: AnyRequestInput,
    options: RequestOptions | undefined,
    accepted: Accepted<A, E, R>
  ) => Effect.Effect<A, E | HttpError, R>
  /** Prepares a request with its call's settings and origin, for a consumer composing its own policies over `attempts`. */
  readonly prepared: <A, E, R>(
    input: AnyRequestInput,
    options: RequestOptions | undefined,
    f: (request: PreparedRequest, settings: CallSettings, host: HostState) => Effect.Effect<A, E, R>,
    invalid?: () => void
  ) => Effect.Effect<A, E | InvalidUrlError | InvalidRequestError, R>
  /** The client's step below its retry: the attempt (its deadline), breaker, pause gate, adaptive limit and exchange. */
  readonly attempts: Policy.Step<Policy.Call> | undefined
}

const internalsKey: unique symbol = Symbol.for("volley/Client/internals")

/** A client built by {@link make}: the public service plus its internals, under a symbol. */
interface Built extends ClientService {
  readonly [internalsKey]: Internals
}

/**
 * The internals of a client. One built by {@link make} carries them; a hand-written
 * `ClientService` gets the defaults and its own `open`, with a {@link PlainGet} sent as the
 * equivalent `HttpClientRequest` (whose module, ~8 MiB of RSS, is loaded only then).
 */
export const internalsOf = (client: ClientService): Internals => {
  if (internalsKey in client) return (client as Built)[internalsKey]
  const open: Internals["open"] = (input, options) =>
    input instanceof PlainGet
      ? Effect.flatMap(
        Effect.promise(() => import("@effect/platform/HttpClientRequest")),
        (HttpClientRequest) => client.open(HttpClientRequest.get(input.url, { headers: input.headers }), options)
      )
      : client.open(input, options)
  const config = resolve({})
  const prepared: Internals["prepared"] = (input, options, f, invalid) => {
    const settings = settingsFor(config, options ?? {})
    return withPrepared(input, config.userAgent, settings, (request) => f(request, settings, hosts.forUrl(request.url)), invalid)
  }
  const hosts = new Hosts(config.retryBudget)
  return { config, hosts, open, exchange: (input, options, accepted) => exchangeOver(open, input, options, accepted), prepared, attempts: undefined }
}

/**
 * {@link Internals.exchange} over `open`, for a client not built here: the response opened in
 * a scope of its own, which releasing the body closes.
 */
const exchangeOver = <A, E, R>(
  open: Internals["open"],
  input: AnyRequestInput,
  options: RequestOptions | undefined,
  accepted: Accepted<A, E, R>
): Effect.Effect<A, E | HttpError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Scope.make(), (scope) =>
      Effect.matchCauseEffect(restore(Scope.extend(open(input, options), scope)), {
        onFailure: (cause) => Effect.zipRight(Scope.close(scope, Exit.failCause(cause)), Effect.failCause(cause)),
        onSuccess: (response) =>
          accepted(response, {
            release: (abort) => Effect.runFork(Scope.close(scope, abort ? Exit.interrupt(FiberId.none) : Exit.void))
          }, restore)
      })))

/** Prepares the request, then continues with it; a plain URL takes no effect step. */
const withPrepared = <A, E, R>(
  input: AnyRequestInput,
  userAgent: string,
  settings: CallSettings,
  f: (request: PreparedRequest) => Effect.Effect<A, E, R>,
  invalid?: () => void
): Effect.Effect<A, E | InvalidUrlError | InvalidRequestError, R> => {
  const prepared = typeof input === "string" || input instanceof URL
    ? prepareGet(input, userAgent, settings.decompress)
    : prepare(input, userAgent, settings.decompress)
  if (Either.isEither(prepared)) {
    if (Either.isRight(prepared)) return f(prepared.right)
    invalid?.()
    return Effect.fail(prepared.left)
  }
  return Effect.flatMap(invalid === undefined ? prepared : Effect.tapError(prepared, () => Effect.sync(invalid)), f)
}

/**
 * Builds the client over a transport. `execute` and `open` share one attempt path and one
 * retry wrap; they differ only in when the body is released (when `use` ends, or with the
 * caller's scope).
 */
export const make = (transport: Transport, config: ResolvedConfig): ClientService => {
  const hosts = new Hosts(config.retryBudget)
  /** The settings of a call without options, resolved once. */
  const plain = settingsFor(config, {})
  /** The last options object seen and its settings: a caller (the HttpClient bridge) passing the same one each call resolves it once. */
  let lastOptions: RequestOptions | undefined
  let lastSettings = plain
  const settingsOf = (options: RequestOptions | undefined): CallSettings => {
    if (options === undefined) return plain
    if (options !== lastOptions) {
      lastSettings = settingsFor(config, options)
      lastOptions = options
    }
    return lastSettings
  }

  /**
   * The attempt step: starts an attempt on the fiber's clock, counting a call's first attempt
   * in its origin's retry budget and setting the attempt's deadline (which bounds every wait
   * below it, the host's gate included), then runs the per-attempt policies and the exchange.
   */
  const attempt = (next: Policy.Step<Policy.Dispatch>): Policy.Step<Policy.Call> => (call, accepted) =>
    Effect.withFiberRuntime((runtime) => {
      const fiber = runtime as Fiber.RuntimeFiber<unknown, unknown>
      const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
      const { request, settings, host } = call
      if (call.started === 0 && settings.deposit) hosts.deposit(host, clock.unsafeCurrentTimeMillis())
      const own = settings.deadlineMs === undefined ? undefined : clock.unsafeCurrentTimeMillis() + settings.deadlineMs
      const deadlineAt = call.deadlineAt === undefined || (own !== undefined && own < call.deadlineAt) ? own : call.deadlineAt
      return next({ clock, request, settings, deadlineAt, timer: timerFor(clock), fiber, retry: call.started++, host }, accepted)
    })

  /**
   * The exchange: send, follow redirects, read the server's signals into its origin's state,
   * then hand an accepted response to `accepted` (still masked; `restore` makes the caller's
   * part interruptible). A refused status becomes a `StatusError` and its body is released at
   * once: a retry must not hold this connection.
   */
  const exchange: Policy.Step<Policy.Dispatch> = (started, accepted) =>
    Effect.uninterruptibleMask((restore) => {
      const seq = ++started.host.sent
      return sendFollowing(transport, started, restore, (acquired) => {
        const request = started.request
        const same = acquired.request === request
        const final: Attempt = same ? started : { ...started, request: acquired.request }
        const { response } = acquired
        if (config.serverSignals) {
          hosts.observe(
            same ? started.host : hosts.forUrl(acquired.request.url),
            response.status,
            response.headers,
            started.clock.unsafeCurrentTimeMillis(),
            same ? seq : undefined
          )
        }
        if (!started.settings.accept(response.status)) {
          return releasing(restore(statusError(final, response, acquired.request.url, acquired.request.method)), response.body)
        }
        return accepted(makeResponse(final, acquired), response.body, restore)
      })
    })

  /**
   * The client's policies, composed once, outermost first: retry (with the origin's budget),
   * the attempt, circuit breaker, the host's pause gate, the adaptive limit, the exchange.
   * Batch composes its own policies over `attempts`, the same step without the retry.
   */
  const attempts: Policy.Step<Policy.Call> = attempt(Policy.compose(PerHost.circuitBreaker(hosts), pauseGate(hosts), PerHost.adaptiveLimit)(exchange))
  const call: Policy.Step<Policy.Call> = RetryPolicy.retrying(hosts)(attempts)

  /** Prepares the request and hands `f` what a call is made of (a plain URL takes no effect step). */
  const prepared: Internals["prepared"] = (input, options, f, invalid) => {
    const settings = settingsOf(options)
    return withPrepared(input, config.userAgent, settings, (request) => f(request, settings, hosts.forUrl(request.url)), invalid)
  }

  /** Prepares the request and runs it through the client's policies. */
  const run = <A, E, R>(
    input: AnyRequestInput,
    options: RequestOptions | undefined,
    accepted: Policy.Accepted<A, E, R>
  ): Effect.Effect<A, E | HttpError, R> => {
    const settings = settingsOf(options)
    return withPrepared(input, config.userAgent, settings, (request) => call({ request, settings, host: hosts.forUrl(request.url), started: 0, deadlineAt: undefined }, accepted))
  }

  const execute = <A, E, R>(
    input: RequestInput,
    use: (response: Response) => Effect.Effect<A, E, R>,
    options?: RequestOptions
  ): Effect.Effect<A, E | HttpError, R> =>
    run(input, options, (response, body, restore) => releasing(restore(use(response)), body))

  const open = (input: AnyRequestInput, options?: RequestOptions): Effect.Effect<Response, HttpError, Scope.Scope> =>
    run(input, options, (response, body) =>
      Effect.as(Effect.addFinalizer((exit) => Effect.sync(() => body.release(mustAbort(exit)))), response))

  const built: Built = { execute, open, [internalsKey]: { config, hosts, open, exchange: run, prepared, attempts } }
  return built
}
