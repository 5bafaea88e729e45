/**
 * The settings of one call: the client's resolved configuration, overridden by the call's
 * options. Durations are milliseconds, `undefined` meaning off (see `../duration.ts`).
 */
import * as Duration from "effect/Duration"
import type { ClientOptions, RequestOptions } from "../../Client.js"
import * as Retry from "../../Retry.js"
import { millis, millisOr } from "../duration.js"
import { type BudgetSettings, defaultBudget } from "../policy/budget.js"
import type { BreakerOptions } from "../policy/breaker.js"
import { breakerOptions } from "../policy/perHost.js"

/** `Client.defaults` (declared here so the internal modules can fall back on them). */
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
  readonly decompress: boolean,
  readonly sensitiveHeaders: ReadonlySet<string>
  /** Each origin's retry budget; `undefined`: none. */
  readonly retryBudget: BudgetSettings | undefined
  /** With `perHost: "adaptive"`, the most an origin's adaptive limit may reach. */
  readonly adaptiveMax: number | undefined
  /** The circuit breaker's options, when it is on. */
  readonly breaker: BreakerOptions | undefined
  /** Whether servers' pause and quota signals are read (`ClientOptions.serverSignals`). */
  readonly serverSignals: boolean
}

/** The retry budget from the client's options, checked. */
const budgetOf = (options: ClientOptions["retryBudget"]): BudgetSettings | undefined => {
  if (options === false) return undefined
  if (options === undefined) return defaultBudget
  const percent = options.percent ?? defaultBudget.percent
  const minPerSecond = options.minPerSecond ?? defaultBudget.minPerSecond
  const ttlMs = options.ttl === undefined ? defaultBudget.ttlMs : Duration.toMillis(Duration.decode(options.ttl))
  if (!(percent >= 0) || !(minPerSecond >= 0) || !(ttlMs > 0) || !Number.isFinite(ttlMs)) {
    throw new RangeError(`volley: retryBudget needs percent >= 0, minPerSecond >= 0 and a finite ttl > 0, got ${JSON.stringify(options)}`)
  }
  return { percent, minPerSecond, ttlMs }
}

const lowerSet = (names: ReadonlyArray<string> | undefined, base: ReadonlySet<string> = empty): ReadonlySet<string> =>
  names === undefined || names.length === 0 ? base : new Set([...base, ...names.map((n) => n.toLowerCase())])
const empty: ReadonlySet<string> = new Set()

/** The client's options, resolved against {@link defaults}. */
export const resolve = (options: ClientOptions): ResolvedConfig => ({
  deadlineMs: millis(options.deadline ?? defaults.deadline),
  headersTimeoutMs: millisOr(options.headersTimeout, undefined),
  idleTimeoutMs: millis(options.idleTimeout ?? defaults.idleTimeout),
  maxRedirects: options.maxRedirects ?? defaults.maxRedirects,
  maxBodyBytes: options.maxBodyBytes ?? defaults.maxBodyBytes,
  userAgent: options.userAgent ?? defaults.userAgent,
  retry: Retry.policy(options.retry ?? {}),
  allowHttpsDowngrade: options.allowHttpsDowngrade ?? false,
  decompress: options.decompress ?? true,
  sensitiveHeaders: lowerSet(options.sensitiveHeaders),
  retryBudget: budgetOf(options.retryBudget),
  adaptiveMax: options.perHost === "adaptive" ? options.connectionsPerOrigin ?? defaults.connectionsPerOrigin : undefined,
  breaker: breakerOptions(options.circuitBreaker),
  serverSignals: options.serverSignals ?? true
})

export const isOk = (status: number): boolean => status >= 200 && status < 300

/** Settings for one call: the client's, overridden by the call's options. */
export interface CallSettings {
  readonly deadlineMs: number | undefined
  readonly headersTimeoutMs: number | undefined
  readonly idleTimeoutMs: number | undefined
  readonly accept: (status: number) => boolean
  readonly retry: Retry.RetryPolicy
  readonly maxBodyBytes: number
  readonly followRedirects: boolean
  readonly maxRedirects: number
  readonly allowHttpsDowngrade: boolean
  readonly decompress: boolean,
  /** Extra header names (lower case) dropped across origins. */
  readonly sensitiveHeaders: ReadonlySet<string>
  /** The longest pause a host may ask for before a request to it fails at once (the policy's `maxRetryAfter`). */
  readonly maxPauseMs: number
  /** The most the origin's adaptive limit may reach; `undefined`: no adaptive limit. */
  readonly adaptiveMax: number | undefined
  /** The circuit breaker's options; `undefined`: no breaker. */
  readonly breaker: BreakerOptions | undefined
}

/** Per-host policies a batch asks for on each of its calls (see `Batch`'s `perHost` and `circuitBreaker`). */
export const perHostKey: unique symbol = Symbol.for("volley/Client/perHost")

/** What a batch's calls carry under {@link perHostKey}. */
export interface PerHostRequest {
  readonly adaptiveMax?: number | undefined
  readonly breaker?: BreakerOptions | undefined
}

/** `options` carrying a batch's per-host policies. */
export const withPerHost = (options: RequestOptions, perHost: PerHostRequest): RequestOptions =>
  ({ ...options, [perHostKey]: perHost }) as RequestOptions

const perHostOf = (options: RequestOptions): PerHostRequest | undefined => (options as { readonly [perHostKey]?: PerHostRequest })[perHostKey]

/** The call's settings: `options` over the client's `config`. */
export const settingsFor = (config: ResolvedConfig, options: RequestOptions): CallSettings => {
  const retry = options.retry === false ? Retry.none : options.retry === undefined ? config.retry : Retry.policy(options.retry, config.retry)
  return {
  deadlineMs: millisOr(options.deadline, config.deadlineMs),
  headersTimeoutMs: millisOr(options.headersTimeout, config.headersTimeoutMs),
  idleTimeoutMs: millisOr(options.idleTimeout, config.idleTimeoutMs),
  accept: options.accept ?? isOk,
  retry,
  maxBodyBytes: options.maxBodyBytes ?? config.maxBodyBytes,
  followRedirects: options.followRedirects ?? true,
  maxRedirects: options.maxRedirects ?? config.maxRedirects,
  allowHttpsDowngrade: config.allowHttpsDowngrade,
  decompress: options.decompress ?? config.decompress,
  sensitiveHeaders: lowerSet(options.sensitiveHeaders, config.sensitiveHeaders),
  maxPauseMs: Duration.toMillis(options.retry === false ? config.retry.maxRetryAfter : retry.maxRetryAfter),
  adaptiveMax: perHostOf(options)?.adaptiveMax ?? config.adaptiveMax,
  breaker: perHostOf(options)?.breaker ?? config.breaker
  }
}
