/**
 * Client options read from the environment: the `VOLLEY_*` variables and the proxy variables
 * as curl reads them. `Client.config` and `Client.proxyConfig` document what is read.
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import type { ClientOptions, ProxyOptions } from "../Client.js"

/** A proxy variable as curl reads it: lower case first, then upper case; empty means unset. */
const proxyVariable = (lower: string): Config.Config<Option.Option<string>> =>
  Config.all([Config.withDefault(Config.string(lower), ""), Config.withDefault(Config.string(lower.toUpperCase()), "")]).pipe(
    Config.map(([first, second]) => Option.fromNullable([first, second].find((value) => value.trim() !== "")))
  )

/** See `Client.proxyConfig`. */
export const proxyConfig: Config.Config<ProxyOptions | undefined> = Config.all({ http: proxyVariable("http_proxy"), https: proxyVariable("https_proxy"), noProxy: proxyVariable("no_proxy") }).pipe(
  Config.map(({ http, https, noProxy }): ProxyOptions | undefined =>
    Option.isNone(http) && Option.isNone(https)
      ? undefined
      : { http: Option.getOrUndefined(http), https: Option.getOrUndefined(https), noProxy: Option.getOrUndefined(noProxy) })
)

const volleyConfig = Config.all({
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
  allowHttpsDowngrade: Config.option(Config.boolean("ALLOW_HTTPS_DOWNGRADE")),
  decompress: Config.option(Config.boolean("DECOMPRESS"))
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

/** See `Client.config`. */
export const config: Config.Config<ClientOptions> = Config.all([volleyConfig, proxyConfig]).pipe(
  Config.map(([client, proxy]) => (proxy === undefined ? client : { ...client, proxy }))
)

/** Keeps the variables that were set: an unset one must fall back to the default, not to `undefined`. */
const present = (options: Record<string, Option.Option<unknown>>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(options).flatMap(([key, value]) => Option.isSome(value) ? [[key, value.value]] : []))
