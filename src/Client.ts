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
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { BodyTooLargeError, DecodeError, HttpError, NetworkError } from "./Errors.js"
import * as internal from "./internal/client/client.js"
import * as core from "./internal/client/core.js"
import * as internalConfig from "./internal/config.js"
import { decodeWith } from "./internal/client/response.js"
import { millis } from "./internal/duration.js"
import * as settings from "./internal/client/settings.js"
import { invalidProxy, makeAgent, proxyAddresses } from "./internal/transport/agent.js"
import * as UndiciTransport from "./internal/transport/undici.js"
import * as Retry from "./Retry.js"
import type { ClientOptions, ProxyOptions } from "./ClientOptions.js"
import type { ResponseTiming, Transport } from "./Transport.js"


/**
 * What the request helpers accept: a URL (string or `URL`, sent as a GET) or an
 * `@effect/platform` `HttpClientRequest`.
 *
 * @category models
 * @since 0.1.0
 */
export type RequestInput = string | URL | HttpClientRequest.HttpClientRequest

/**
 * Per-request settings. Anything left out falls back to the client's configuration.
 *
 * @category models
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
  /**
   * Send `Accept-Encoding` and decode gzip, deflate, br (and zstd where Node has it) while
   * streaming. Default: the client's (on). `maxBodyBytes` counts decoded bytes.
   */
  readonly decompress?: boolean | undefined
  /**
   * More header names (any case) never sent to another origin on a redirect, on top of the
   * built-in list (Authorization, Cookie, X-Api-Key, ... and any name with auth, token,
   * secret, key, session, csrf or signature in it) and the client's own.
   */
  readonly sensitiveHeaders?: ReadonlyArray<string> | undefined
}

/**
 * A response whose body lives in a scope. The body can be read once, by one of `bytes`,
 * `text`, `json` or `stream`; whatever is left unread when the scope closes is drained (if
 * small) or the connection is aborted.
 *
 * @category models
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
 * The mark of a {@link ClientCore}.
 *
 * @category symbols
 * @since 0.1.0
 */
export const ClientCoreTypeId: unique symbol = core.TypeId

/**
 * @category symbols
 * @since 0.1.0
 */
export type ClientCoreTypeId = typeof ClientCoreTypeId

/**
 * What `Batch`, `Download` and the `HttpClient` bridge compose their own policies over,
 * sharing this client's per-origin state (pauses, pacing, retry budget, breaker). Opaque:
 * clients are built with {@link layer}, {@link layerConfig}, {@link makeWithTransport} or the
 * test kit (`volley/testing`), never by hand.
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientCore {
  readonly [ClientCoreTypeId]: ClientCoreTypeId
}

/**
 * The client service: one shared transport plus the rules above it. Build one with
 * {@link layer}, {@link makeWithTransport} or the test kit; to fake a server in tests, use
 * `volley/testing` rather than a hand-written service.
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientService {
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
  /** The core the other modules compose over, carried with the client (see {@link ClientCore}). */
  readonly core: ClientCore
}

/**
 * The transport contract, declared in `volley/Transport` and exported here too, so a program
 * building a client over its own transport needs one import: `Transport`, `TransportRequest`,
 * `TransportResponse`, `TransportBody`, `BodySource`, `ResponseTiming`, `Timeout`, `Timer`.
 *
 * @category models
 * @since 0.1.0
 */
export type * from "./Transport.js"

/**
 * The shared client.
 *
 * @category tags
 * @since 0.1.0
 */
export class Client extends Context.Tag("volley/Client")<Client, ClientService>() {}

/**
 * `f` with the client from the context: one runtime step where `Effect.flatMap(Client, f)`
 * takes three (`clientSteps` bench, `Client.text` row).
 */
const withClient = <A, E, R>(f: (client: ClientService) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R | Client> =>
  Effect.withFiberRuntime((fiber) => f(Context.unsafeGet(fiber.currentContext, Client)))

/**
 * The client's configuration, declared in `ClientOptions.ts` and exported here:
 * `ClientOptions`, `CircuitBreakerOptions`, `ProxyOptions`.
 *
 * @category models
 * @since 0.1.0
 */
export type * from "./ClientOptions.js"

/**
 * The defaults: 64 connections per origin, 4 s keep-alive, 30 s deadline, 10 s connect
 * timeout, 30 s idle-body timeout, 10 redirects, 32 MiB bodies, 3 attempts.
 *
 * @category config
 * @since 0.1.0
 */
export const defaults: {
  readonly connectionsPerOrigin: 64
  readonly keepAliveTimeout: Duration.Duration
  readonly deadline: Duration.Duration
  readonly connectTimeout: Duration.Duration
  readonly idleTimeout: Duration.Duration
  readonly maxRedirects: 10
  readonly maxBodyBytes: number
  readonly userAgent: "volley/0.1"
} = settings.defaults

/**
 * Builds a client over any transport: the real one ({@link layer}) or the virtual-time one
 * in `volley/testing`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeWithTransport = (transport: Transport, options: ClientOptions = {}): ClientService =>
  internal.make(transport, settings.resolve(options))

/**
 * A Layer providing the client over a pooled undici `Agent`. The pool lives as long as the
 * layer; closing it closes every socket.
 *
 * @category layers
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
        Effect.suspend(() => {
          const invalid = invalidProxy(options.proxy)
          return invalid === undefined ? Effect.sync(() => makeAgent(options)) : Effect.dieMessage(invalid)
        }),
        (agent) => Effect.promise(() => agent.destroy().catch(() => undefined))
      )
      const idle = settings.resolve(options).idleTimeoutMs ?? millis(defaults.idleTimeout)!
      return makeWithTransport(UndiciTransport.make(agent, idle, proxyAddresses(options.proxy)), options)
    })
  )

/**
 * The proxy as curl reads it from the environment: `http_proxy` / `HTTP_PROXY`,
 * `https_proxy` / `HTTPS_PROXY`, `no_proxy` / `NO_PROXY` (lower case first; empty = unset);
 * `undefined` when neither proxy is set. Part of {@link config}; the CLI reads it alone.
 *
 * @category config
 * @since 0.1.0
 */
export const proxyConfig: Config.Config<ProxyOptions | undefined> = internalConfig.proxyConfig

/**
 * Client options read from the environment, each `VOLLEY_` + the option in upper snake case
 * (`VOLLEY_CONNECTIONS_PER_ORIGIN=32`, `VOLLEY_DEADLINE="10 seconds"`,
 * `VOLLEY_RETRY_MAX_ATTEMPTS=5`, `VOLLEY_RETRY_JITTER=false`, …), plus the proxy as curl
 * reads it (`http_proxy` / `HTTP_PROXY`, `https_proxy` / `HTTPS_PROXY`, `no_proxy` /
 * `NO_PROXY`). Unset variables keep the defaults. TLS trust (`ca`, `insecureTls`) is not read
 * from the environment: a variable must not be able to turn certificate checks off unseen.
 *
 * @category config
 * @since 0.1.0
 */
export const config: Config.Config<ClientOptions> = internalConfig.config

/**
 * The client Layer configured from the environment (see {@link config}), with `overrides`
 * taking precedence.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (overrides: ClientOptions = {}): Layer.Layer<Client, import("effect/ConfigError").ConfigError> =>
  Layer.unwrapEffect(Effect.map(config, (fromEnv) => layer({ ...fromEnv, ...overrides })))

/**
 * Reads the body as JSON. Non-2xx (unless `accept` widens it) is a `StatusError`.
 *
 * @category requests
 * @since 0.1.0
 */
export const json = (request: RequestInput, options?: RequestOptions): Effect.Effect<unknown, HttpError, Client> =>
  withClient((client) => client.execute(request, (response) => response.json, options))

/**
 * Reads the body as JSON and decodes it with a `Schema`; a mismatch is a `DecodeError`
 * naming the field.
 *
 * @category requests
 * @since 0.1.0
 */
export const jsonSchema = <A, I, R>(
  schema: Schema.Schema<A, I, R>,
  request: RequestInput,
  options?: RequestOptions
): Effect.Effect<A, HttpError, Client | R> =>
  withClient((client) =>
    client.execute(request, (response) => Effect.flatMap(response.json, decodeWith(schema, response)), options))

/**
 * Reads the body as UTF-8 text.
 *
 * @category requests
 * @since 0.1.0
 */
export const text = (request: RequestInput, options?: RequestOptions): Effect.Effect<string, HttpError, Client> =>
  withClient((client) => client.execute(request, (response) => response.text, options))

/**
 * Reads the body as bytes.
 *
 * @category requests
 * @since 0.1.0
 */
export const bytes = (request: RequestInput, options?: RequestOptions): Effect.Effect<Uint8Array, HttpError, Client> =>
  withClient((client) => client.execute(request, (response) => response.bytes, options))

/**
 * What is left of a response once its body is discarded.
 *
 * @category models
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
 * @category requests
 * @since 0.1.0
 */
export const discard = (request: RequestInput, options?: RequestOptions): Effect.Effect<ResponseHead, HttpError, Client> =>
  withClient((client) =>
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
 * @category requests
 * @since 0.1.0
 */
export const stream = (
  request: RequestInput,
  options?: RequestOptions
): Stream.Stream<Uint8Array, HttpError, Client> =>
  Stream.unwrapScoped(Effect.map(open(request, options), (response) => response.stream))

/**
 * Sends the request and returns the response, whose body lives until the enclosing
 * `Scope` closes. Prefer {@link withResponse} unless the response must outlive a callback.
 *
 * @category requests
 * @since 0.1.0
 */
export const open = (
  request: RequestInput,
  options?: RequestOptions
): Effect.Effect<Response, HttpError, Client | Scope.Scope> => withClient((client) => client.open(request, options))

/**
 * Sends the request and hands the response to `use`; the body is released when `use`
 * finishes, however it finishes. The whole exchange, `use` included, is retried by the
 * policy.
 *
 * @category requests
 * @since 0.1.0
 */
export const withResponse = <A, E, R>(
  request: RequestInput,
  use: (response: Response) => Effect.Effect<A, E, R>,
  options?: RequestOptions
): Effect.Effect<A, E | HttpError, Client | R> => withClient((client) => client.execute(request, use, options))
