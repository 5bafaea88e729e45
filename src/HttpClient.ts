/**
 * `@effect/platform`'s `HttpClient.HttpClient` over volley's pooled client: swap one layer
 * and every `HttpClient` user (`HttpApiClient`, `retryTransient` / `followRedirects`
 * pipelines, SDK-style clients) gets volley's deadlines, limits, typed network reasons,
 * redirect rules and deterministic body release, sharing one pool with volley's `Client`.
 *
 * What a caller sees change:
 * - Every request has a deadline and connect / idle-body timeouts (on by default); a timeout
 *   is a `RequestError` (`Transport`) whose `cause` is volley's `NetworkError` with
 *   `reason: "Timeout"` and the `phase` that fired.
 * - Failures keep `@effect/platform`'s shapes (`RequestError` with `Transport`, `InvalidUrl`;
 *   `ResponseError` with `Decode` for body reads), and their `cause` is volley's typed error
 *   ({@link volleyError} gets it back).
 * - Redirects are followed by volley with its rules by default; see
 *   {@link HttpClientOptions.followRedirects}.
 * - A body is released when it is read, when the scope the request ran in closes
 *   (`HttpClient.withScope`, `Effect.scoped`), or when a stream of it ends, even early.
 *
 * @since 0.1.0
 */
import * as PlatformClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Client from "./Client.js"
import type { HttpError } from "./Errors.js"
import * as internal from "./internal/httpClient.js"

/**
 * How the `HttpClient` uses volley's client.
 *
 * @category models
 * @since 0.1.0
 */
export interface FromClientOptions {
  /**
   * `true` (default): volley follows redirects with its rules (credentials dropped across
   * origins, https -> http refused, loops and too many hops a `RequestError` with
   * `reason: "InvalidUrl"` and a `RedirectError` cause), so a pipeline's
   * `HttpClient.followRedirects` never sees a 3xx it could follow unsafely.
   * `false`: 3xx responses are handed back as they are, like `NodeHttpClient`; a pipeline's
   * `HttpClient.followRedirects` can follow them, and volley recognizes its hops and applies
   * the same rules to them (303 -> GET included).
   */
  readonly followRedirects?: boolean | undefined
  /**
   * `false` (default): one attempt per request, as `@effect/platform` does; compose
   * `HttpClient.retryTransient`, which sees volley's timeouts as `Transport` errors.
   * `true`: volley's retry policy (the client's `retry` option) also retries network
   * failures of idempotent requests made through `HttpClient`, within the origin's retry
   * budget. A pipeline's own retries are new requests to volley: they wait out the host's
   * pauses, but the budget does not cap them.
   */
  readonly retryRequests?: boolean | undefined
}

/**
 * Options of {@link layer}: the client's ({@link Client.ClientOptions}) plus the bridge's.
 *
 * @category models
 * @since 0.1.0
 */
export interface HttpClientOptions extends Client.ClientOptions, FromClientOptions {}

/**
 * An `HttpClient.HttpClient` over an existing volley client (the pooled one, or the
 * virtual-time one from `volley/testing`).
 *
 * @category layers
 * @since 0.1.0
 */
export const fromClient: (client: Client.ClientService, options?: FromClientOptions) => PlatformClient.HttpClient = internal.fromClient

const bridgeOptions = (options: HttpClientOptions): FromClientOptions => ({
  followRedirects: options.followRedirects,
  retryRequests: options.retryRequests
})

/**
 * Provides `HttpClient.HttpClient` over volley's `Client` (which it also provides): one
 * pool, one set of rules, whichever interface a program uses.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: HttpClientOptions = {}): Layer.Layer<PlatformClient.HttpClient | Client.Client> =>
  Layer.provideMerge(
    Layer.effect(PlatformClient.HttpClient, Effect.map(Client.Client, (client) => fromClient(client, bridgeOptions(options)))),
    Client.layer(options)
  )

/**
 * {@link layer} with the client configured from the environment (see `Client.config`),
 * `overrides` taking precedence.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  overrides: HttpClientOptions = {}
): Layer.Layer<PlatformClient.HttpClient | Client.Client, ConfigError.ConfigError> =>
  Layer.provideMerge(
    Layer.effect(PlatformClient.HttpClient, Effect.map(Client.Client, (client) => fromClient(client, bridgeOptions(overrides)))),
    Client.layerConfig(overrides)
  )

/**
 * volley's typed error behind an `HttpClientError` (a `NetworkError` with its `reason` and
 * `phase`, a `RedirectError`, …), or `None` when `@effect/platform` raised it (e.g.
 * `filterStatusOk`'s `StatusCode`).
 *
 * @category errors
 * @since 0.1.0
 */
export const volleyError: (error: HttpClientError.HttpClientError) => Option.Option<HttpError> = internal.volleyError
