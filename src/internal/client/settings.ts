/**
 * The settings of one call: the client's resolved configuration, overridden by the call's
 * options. Durations are milliseconds, `undefined` meaning off (see `../duration.ts`).
 */
import * as Duration from "effect/Duration"
import type { ClientOptions, RequestOptions } from "../../Client.js"
import * as Retry from "../../Retry.js"
import { millis, millisOr } from "../duration.js"

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
  readonly decompress: boolean
}

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
  decompress: options.decompress ?? true
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
  readonly decompress: boolean
}

/** The call's settings: `options` over the client's `config`. */
export const settingsFor = (config: ResolvedConfig, options: RequestOptions): CallSettings => ({
  deadlineMs: millisOr(options.deadline, config.deadlineMs),
  headersTimeoutMs: millisOr(options.headersTimeout, config.headersTimeoutMs),
  idleTimeoutMs: millisOr(options.idleTimeout, config.idleTimeoutMs),
  accept: options.accept ?? isOk,
  retry: options.retry === false ? Retry.none : options.retry === undefined ? config.retry : Retry.policy(options.retry, config.retry),
  maxBodyBytes: options.maxBodyBytes ?? config.maxBodyBytes,
  followRedirects: options.followRedirects ?? true,
  maxRedirects: options.maxRedirects ?? config.maxRedirects,
  allowHttpsDowngrade: config.allowHttpsDowngrade,
  decompress: options.decompress ?? config.decompress
})
