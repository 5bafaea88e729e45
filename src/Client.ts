/**
 * The pooled HTTP client: one Layer, shared by every fiber, and the helpers programs call
 * instead of touching raw responses.
 *
 * Every call has a deadline (on by default), every body lives in a scope, non-2xx is a typed
 * `StatusError`, and transient failures are retried by policy. See `Errors.ts` for what a
 * call can fail with.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Agent } from "undici"
import type { HttpError } from "./Errors.js"
import * as internal from "./internal/client.js"
import type { RequestInput } from "./internal/request.js"
import type { Transport } from "./internal/transport.js"
import * as UndiciTransport from "./internal/undiciTransport.js"
import * as Retry from "./Retry.js"

export type {
  /** @since 0.1.0 */
  ClientService,
  /** @since 0.1.0 */
  RequestOptions,
  /** @since 0.1.0 */
  Response
} from "./internal/client.js"
export type {
  /** @since 0.1.0 */
  RequestInput
} from "./internal/request.js"
export type {
  /** @since 0.1.0 */
  ResponseTiming
} from "./internal/transport.js"

/**
 * The shared client.
 *
 * @since 0.1.0
 */
export class Client extends Context.Tag("volley/Client")<Client, internal.ClientService>() {}

/**
 * Client configuration. Every field has a sane default; see {@link defaults}.
 *
 * @since 0.1.0
 */
export interface ClientOptions {
  /** Most sockets open to one origin at a time; requests beyond it queue. */
  readonly connectionsPerOrigin?: number
  /** How long an idle keep-alive socket is kept for reuse. */
  readonly keepAliveTimeout?: Duration.DurationInput
  /** Overall deadline of one attempt, until its body is read. `"none"` disables it (not advised). */
  readonly deadline?: Duration.DurationInput | "none"
  /** Longest wait for a TCP (and TLS) connection. */
  readonly connectTimeout?: Duration.DurationInput
  /** Longest wait for response headers; by default only the deadline bounds it. */
  readonly headersTimeout?: Duration.DurationInput | "none"
  /** Longest gap between two body chunks. */
  readonly idleTimeout?: Duration.DurationInput | "none"
  readonly maxRedirects?: number
  /** Largest body the in-memory helpers (`json`, `text`, `bytes`) and streams accept. */
  readonly maxBodyBytes?: number
  readonly userAgent?: string
  readonly retry?: Retry.RetryOptions
  /** Follow https -> http redirects. Off: a downgrade is a `RedirectError`. */
  readonly allowHttpsDowngrade?: boolean
  /** Extra trusted CA certificates (PEM), e.g. a private CA. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>
  /**
   * Skip TLS certificate verification. Only for tests against self-signed servers; logs a
   * warning when the layer starts.
   */
  readonly insecureTls?: boolean
}

/**
 * The defaults: 64 connections per origin, 4 s keep-alive, 30 s deadline, 10 s connect
 * timeout, 30 s idle-body timeout, 10 redirects, 32 MiB bodies, 3 attempts.
 *
 * @since 0.1.0
 */
export const defaults = {
  connectionsPerOrigin: 64,
  keepAliveTimeout: Duration.seconds(4),
  deadline: Duration.seconds(30),
  connectTimeout: Duration.seconds(10),
  idleTimeout: Duration.seconds(30),
  maxRedirects: 10,
  maxBodyBytes: 32 * 1024 * 1024,
  userAgent: "volley/0.1"
} as const

const resolve = (options: ClientOptions): internal.ResolvedConfig => {
  const ms = (input: Duration.DurationInput | "none" | undefined, fallback: Duration.DurationInput | undefined) => {
    const value = input ?? fallback
    if (value === undefined || value === "none") return undefined
    const n = Duration.toMillis(Duration.decode(value))
    return Number.isFinite(n) && n > 0 ? n : undefined
  }
  return {
    deadlineMs: ms(options.deadline, defaults.deadline),
    headersTimeoutMs: ms(options.headersTimeout, undefined),
    idleTimeoutMs: ms(options.idleTimeout, defaults.idleTimeout),
    maxRedirects: options.maxRedirects ?? defaults.maxRedirects,
    maxBodyBytes: options.maxBodyBytes ?? defaults.maxBodyBytes,
    userAgent: options.userAgent ?? defaults.userAgent,
    retry: Retry.policy(options.retry ?? {}),
    allowHttpsDowngrade: options.allowHttpsDowngrade ?? false
  }
}

/**
 * Builds a client over any transport: the real one ({@link layer}) or the virtual-time one
 * in `volley/testing`.
 *
 * @since 0.1.0
 */
export const makeWithTransport = (transport: Transport, options: ClientOptions = {}): internal.ClientService =>
  internal.make(transport, resolve(options))

/**
 * A Layer providing the client over a pooled undici `Agent`. The pool lives as long as the
 * layer; closing it closes every socket.
 *
 * @since 0.1.0
 */
export const layer = (options: ClientOptions = {}): Layer.Layer<Client> =>
  Layer.scoped(
    Client,
    Effect.gen(function*() {
      if (options.insecureTls === true) {
        yield* Effect.logWarning("volley: TLS certificate verification is DISABLED (insecureTls); use only against test servers")
      }
      const agent = yield* Effect.acquireRelease(
        Effect.sync(() => makeAgent(options)),
        (agent) => Effect.promise(() => agent.destroy().catch(() => undefined))
      )
      const idle = resolve(options).idleTimeoutMs ?? Duration.toMillis(defaults.idleTimeout)
      return makeWithTransport(UndiciTransport.make(agent, idle), options)
    })
  )

const makeAgent = (options: ClientOptions): Agent => {
  const ca = options.ca === undefined ? undefined : Array.isArray(options.ca) ? [...options.ca] : (options.ca as string | Buffer)
  return new Agent({
    connections: options.connectionsPerOrigin ?? defaults.connectionsPerOrigin,
    keepAliveTimeout: Duration.toMillis(Duration.decode(options.keepAliveTimeout ?? defaults.keepAliveTimeout)),
    // Phase timeouts run on the Effect clock above the transport; undici's own are off so
    // they never race ours. The connect timeout is a socket-level matter and stays here.
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: {
      timeout: Duration.toMillis(Duration.decode(options.connectTimeout ?? defaults.connectTimeout)),
      ...(ca !== undefined ? { ca } : {}),
      ...(options.insecureTls === true ? { rejectUnauthorized: false } : {})
    }
  })
}

/**
 * Client options read from the environment, each `VOLLEY_` + the option in upper snake case
 * (`VOLLEY_CONNECTIONS_PER_ORIGIN=32`, `VOLLEY_DEADLINE="10 seconds"`,
 * `VOLLEY_RETRY_MAX_ATTEMPTS=5`, `VOLLEY_RETRY_JITTER=false`, …). Unset variables keep the
 * defaults. TLS trust (`ca`, `insecureTls`) is not read from the environment: a variable
 * must not be able to turn certificate checks off unseen; set it in code.
 *
 * @since 0.1.0
 */
export const config: Config.Config<ClientOptions> = Config.all({
  connectionsPerOrigin: Config.option(Config.integer("CONNECTIONS_PER_ORIGIN")),
  keepAliveTimeout: Config.option(Config.duration("KEEP_ALIVE_TIMEOUT")),
  deadline: Config.option(Config.duration("DEADLINE")),
  connectTimeout: Config.option(Config.duration("CONNECT_TIMEOUT")),
  headersTimeout: Config.option(Config.duration("HEADERS_TIMEOUT")),
  idleTimeout: Config.option(Config.duration("IDLE_TIMEOUT")),
  maxRedirects: Config.option(Config.integer("MAX_REDIRECTS")),
  maxBodyBytes: Config.option(Config.integer("MAX_BODY_BYTES")),
  userAgent: Config.option(Config.string("USER_AGENT")),
  retryMaxAttempts: Config.option(Config.integer("RETRY_MAX_ATTEMPTS")),
  retryBaseDelay: Config.option(Config.duration("RETRY_BASE_DELAY")),
  retryMaxDelay: Config.option(Config.duration("RETRY_MAX_DELAY")),
  retryMaxRetryAfter: Config.option(Config.duration("RETRY_MAX_RETRY_AFTER")),
  retryFactor: Config.option(Config.number("RETRY_FACTOR")),
  retryJitter: Config.option(Config.boolean("RETRY_JITTER")),
  retryNonIdempotent: Config.option(Config.boolean("RETRY_NON_IDEMPOTENT")),
  allowHttpsDowngrade: Config.option(Config.boolean("ALLOW_HTTPS_DOWNGRADE"))
}).pipe(
  Config.nested("VOLLEY"),
  Config.map(({ retryBaseDelay, retryFactor, retryJitter, retryMaxAttempts, retryMaxDelay, retryMaxRetryAfter, retryNonIdempotent, ...client }) => {
    const retry = present({
      maxAttempts: retryMaxAttempts,
      baseDelay: retryBaseDelay,
      factor: retryFactor,
      maxDelay: retryMaxDelay,
      jitter: retryJitter,
      maxRetryAfter: retryMaxRetryAfter,
      retryNonIdempotent
    })
    return { ...present(client), ...(Object.keys(retry).length > 0 ? { retry } : {}) } as ClientOptions
  })
)

/** Keeps the variables that were set: an unset one must fall back to the default, not to `undefined`. */
const present = (options: Record<string, Option.Option<unknown>>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(options).flatMap(([key, value]) => Option.isSome(value) ? [[key, value.value]] : []))

/**
 * The client Layer configured from the environment (see {@link config}), with `overrides`
 * taking precedence.
 *
 * @since 0.1.0
 */
export const layerConfig = (overrides: ClientOptions = {}): Layer.Layer<Client, import("effect/ConfigError").ConfigError> =>
  Layer.unwrapEffect(Effect.map(config, (fromEnv) => layer({ ...fromEnv, ...overrides })))

/**
 * Reads the body as JSON. Non-2xx (unless `accept` widens it) is a `StatusError`.
 *
 * @since 0.1.0
 */
export const json = (request: RequestInput, options?: internal.RequestOptions): Effect.Effect<unknown, HttpError, Client> =>
  Effect.flatMap(Client, (client) => client.execute(request, (response) => response.json, options))

/**
 * Reads the body as JSON and decodes it with a `Schema`; a mismatch is a `DecodeError`
 * naming the field.
 *
 * @since 0.1.0
 */
export const jsonSchema = <A, I, R>(
  schema: Schema.Schema<A, I, R>,
  request: RequestInput,
  options?: internal.RequestOptions
): Effect.Effect<A, HttpError, Client | R> =>
  Effect.flatMap(Client, (client) =>
    client.execute(request, (response) => Effect.flatMap(response.json, internal.decodeWith(schema, response)), options))

/**
 * Reads the body as UTF-8 text.
 *
 * @since 0.1.0
 */
export const text = (request: RequestInput, options?: internal.RequestOptions): Effect.Effect<string, HttpError, Client> =>
  Effect.flatMap(Client, (client) => client.execute(request, (response) => response.text, options))

/**
 * Reads the body as bytes.
 *
 * @since 0.1.0
 */
export const bytes = (request: RequestInput, options?: internal.RequestOptions): Effect.Effect<Uint8Array, HttpError, Client> =>
  Effect.flatMap(Client, (client) => client.execute(request, (response) => response.bytes, options))

/**
 * What is left of a response once its body is discarded.
 *
 * @since 0.1.0
 */
export interface ResponseHead {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly url: URL
  readonly redirects: number
}

/**
 * Sends the request and discards the body (drained if small so the connection is reused,
 * aborted otherwise). For calls where only the status matters.
 *
 * @since 0.1.0
 */
export const discard = (request: RequestInput, options?: internal.RequestOptions): Effect.Effect<ResponseHead, HttpError, Client> =>
  Effect.flatMap(Client, (client) =>
    client.execute(
      request,
      (response) => Effect.succeed({ status: response.status, headers: response.headers, url: response.url, redirects: response.redirects }),
      options
    ))

/**
 * The body as a stream of chunks, in constant memory. The request is sent when the stream
 * starts and its connection is released when the stream ends, fails or is interrupted.
 * Retries cover the exchange up to the headers, never a half-consumed body.
 *
 * @since 0.1.0
 */
export const stream = (
  request: RequestInput,
  options?: internal.RequestOptions
): Stream.Stream<Uint8Array, HttpError, Client> =>
  Stream.unwrapScoped(Effect.map(open(request, options), (response) => response.stream))

/**
 * Sends the request and returns the response, whose body lives until the enclosing
 * `Scope` closes. Prefer {@link withResponse} unless the response must outlive a callback.
 *
 * @since 0.1.0
 */
export const open = (
  request: RequestInput,
  options?: internal.RequestOptions
): Effect.Effect<internal.Response, HttpError, Client | Scope.Scope> => Effect.flatMap(Client, (client) => client.open(request, options))

/**
 * Sends the request and hands the response to `use`; the body is released when `use`
 * finishes, however it finishes. The whole exchange, `use` included, is retried by the
 * policy.
 *
 * @since 0.1.0
 */
export const withResponse = <A, E, R>(
  request: RequestInput,
  use: (response: internal.Response) => Effect.Effect<A, E, R>,
  options?: internal.RequestOptions
): Effect.Effect<A, E | HttpError, Client | R> => Effect.flatMap(Client, (client) => client.execute(request, use, options))
