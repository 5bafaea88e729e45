/**
 * How a client is configured: `ClientOptions` and the settings of its circuit breaker and
 * proxy. The defaults are `Client.defaults`; `Client.config` reads them from the environment.
 *
 * Every name here is exported by `volley/Client`; import it from there.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Retry from "./Retry.js"

/**
 * Client configuration. Every field has a sane default; see `Client.defaults`.
 *
 * @category models
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
  /** More header names never sent to another origin on a redirect (see `RequestOptions`). */
  readonly sensitiveHeaders?: ReadonlyArray<string>
  /** Largest body the in-memory helpers (`json`, `text`, `bytes`) and streams accept. */
  readonly maxBodyBytes?: number
  readonly userAgent?: string
  readonly retry?: Retry.RetryOptions
  /**
   * The retry budget of each origin (see `Retry.RetryBudgetOptions`): on by default,
   * `false` turns it off. Shared by every request of this client, not across processes.
   */
  readonly retryBudget?: Retry.RetryBudgetOptions | false
  /**
   * `"adaptive"`: each origin gets a concurrency limit that finds what the host can take (AIMD
   * on 429, 503, timeouts and resets; a latency gradient against the least RTT seen), within
   * `connectionsPerOrigin`. Off by default. `Batch` has the same option for one batch.
   */
  readonly perHost?: "adaptive"
  /**
   * Whether a server's signals (`Retry-After` on 429/503, `RateLimit`, `X-RateLimit-*`) pause
   * and pace every request to its origin. Default true; `false` leaves each request to its own
   * retry policy (for a test that wants to see a server's raw answers).
   */
  readonly serverSignals?: boolean
  /**
   * A circuit breaker per origin (`true` for the defaults): once a share of calls fail in a
   * window, calls to that origin fail at once with `CircuitOpenError` for a break, then a few
   * probes decide. Off by default.
   */
  readonly circuitBreaker?: boolean | CircuitBreakerOptions
  /** Follow https -> http redirects. Off: a downgrade is a `RedirectError`. */
  readonly allowHttpsDowngrade?: boolean
  /** Extra trusted CA certificates (PEM), e.g. a private CA. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>
  /**
   * Skip TLS certificate verification. Only for tests against self-signed servers; logs a
   * warning when the layer starts.
   */
  readonly insecureTls?: boolean
  /**
   * Ask for compressed bodies (`Accept-Encoding: gzip, deflate, br`, plus `zstd` where Node
   * has it) and decode them while streaming; `maxBodyBytes` counts decoded bytes; a body
   * that does not decode is a `NetworkError` with reason `ContentDecoding`. Default: on.
   * Downloads never decode: they store the bytes as served.
   */
  readonly decompress?: boolean
  /**
   * A forward proxy: one URL for http and https (`"http://user:pass@proxy:3128"`, its
   * credentials sent as `Proxy-Authorization` to the proxy only), or one per scheme plus
   * hosts that bypass it, as curl's `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY`. https goes
   * through a CONNECT tunnel; http is forwarded (what curl does, and what proxies that only
   * allow CONNECT to 443 accept). A failing proxy is a `NetworkError` with reason `Proxy`.
   * `Client.layerConfig` reads the environment; `Client.layer` uses only what is given here.
   */
  readonly proxy?: string | ProxyOptions
  /**
   * Offer HTTP/2 by ALPN on https origins (undici's `allowH2`); servers that do not pick it
   * get HTTP/1.1. Deadlines and interruption reset the stream; the rest is unchanged.
   */
  readonly http2?: boolean
}

/**
 * A circuit breaker's settings; each has a default.
 *
 * @since 0.1.0
 */
export interface CircuitBreakerOptions {
  /** The failed share of the window that opens it, in (0, 1]. Default 0.5. */
  readonly failureRatio?: number
  /** The fewest calls in the window before the share counts. Default 10. */
  readonly minThroughput?: number
  /** The sliding window calls are counted in. Default 10 s. */
  readonly window?: Duration.DurationInput
  /** How long it stays open before probing. Default 5 s. */
  readonly breakFor?: Duration.DurationInput
  /** Probes let through when the break ends (and successes needed to close). Default 2. */
  readonly halfOpenProbes?: number
}

/**
 * Per-scheme proxies, as the `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` variables set them.
 *
 * @category models
 * @since 0.1.0
 */
export interface ProxyOptions {
  /** Proxy for http:// URLs. */
  readonly http?: string | undefined
  /** Proxy for https:// URLs. */
  readonly https?: string | undefined
  /** Hosts that bypass the proxy: comma- or space-separated names, `.suffix`, `host:port`, or `*`. */
  readonly noProxy?: string | undefined
}
