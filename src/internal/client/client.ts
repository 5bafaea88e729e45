/**
 * The client's logic above the transport: deadlines, redirects, status checks, body reads
 * with limits, scoped release, retries. Shared by the real and the test transports.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type { ClientService, RequestInput, RequestOptions, Response, Timer, Transport } from "../../Client.js"
import type { HttpError, InvalidRequestError, InvalidUrlError } from "../../Errors.js"
import { pauseGate } from "../policy/gate.js"
import { type HostState, Hosts } from "../policy/hosts.js"
import * as PerHost from "../policy/perHost.js"
import * as Policy from "../policy/policy.js"
import * as RetryPolicy from "../policy/retry.js"
import { timerFor } from "../transport/timer.js"
import { mustAbort, releasing, sendFollowing } from "./attempt.js"
import type { Attempt } from "./deadline.js"
import { type Core, TypeId } from "./core.js"
import { type AnyRequestInput, type PreparedRequest, prepare, prepareGet } from "./request.js"
import { makeResponse, statusError } from "./response.js"
import { type CallSettings, type ResolvedConfig, settingsFor } from "./settings.js"

/** One call of the client's own (Batch and Download make theirs). A class, not a literal: see `hotPath.ts`. */
class ClientCall implements Policy.Call {
  started = 0
  deadlineAt: number | undefined = undefined
  constructor(readonly request: PreparedRequest, readonly settings: CallSettings, readonly host: HostState) {}
}

/** One attempt as the policies see it. A class, not a literal: see `hotPath.ts` (pretenuring). */
class StartedAttempt implements Policy.Dispatch {
  constructor(
    readonly clock: Clock.Clock,
    readonly request: PreparedRequest,
    readonly settings: CallSettings,
    readonly deadlineAt: number | undefined,
    readonly timer: Timer,
    readonly fiber: Fiber.RuntimeFiber<unknown, unknown>,
    readonly retry: number,
    readonly host: HostState
  ) {}
}

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
 * caller's scope). Its `core` carries that step below the retry and the per-origin state.
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
      if (call.starting !== undefined) {
        const refused = call.starting(call, fiber)
        if (refused !== undefined) return refused
      }
      const { request, settings, host } = call
      if (call.started === 0) hosts.deposit(host, clock.unsafeCurrentTimeMillis())
      const own = settings.deadlineMs === undefined ? undefined : clock.unsafeCurrentTimeMillis() + settings.deadlineMs
      const deadlineAt = call.deadlineAt === undefined || (own !== undefined && own < call.deadlineAt) ? own : call.deadlineAt
      return next(new StartedAttempt(clock, request, settings, deadlineAt, timerFor(clock), fiber, call.started++, host), accepted)
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
   * Batch, Download and the HttpClient bridge compose their own over `attempts`, the same
   * step without the retry, found on the client's `core`.
   */
  const attempts: Policy.Step<Policy.Call> = attempt(Policy.compose(PerHost.circuitBreaker(hosts), pauseGate(hosts), PerHost.adaptiveLimit)(exchange))
  const call: Policy.Step<Policy.Call> = RetryPolicy.retrying(hosts)(attempts)

  /** Prepares the request and hands `f` what a call is made of (a plain URL takes no effect step). */
  const prepared: Core["prepared"] = (input, options, f, invalid) => {
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
    return withPrepared(input, config.userAgent, settings, (request) => call(new ClientCall(request, settings, hosts.forUrl(request.url)), accepted))
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

  const core: Core = { [TypeId]: TypeId, config, hosts, prepared, attempts }
  return { execute, open, core }
}
