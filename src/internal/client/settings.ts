/**
 * The settings of one call: the client's resolved configuration, overridden by the call's
 * options. Durations are milliseconds, `undefined` meaning off (see `../duration.ts`).
 */
import type { RequestOptions } from "../../Client.js"
import * as Retry from "../../Retry.js"
import { millisOr } from "../duration.js"

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

export const settingsFor = (config: ResolvedConfig, options: RequestOptions | undefined): CallSettings => {
  if (options === undefined) return defaultSettings(config)
  return {
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
  }
}

export const defaultSettingsCache = new WeakMap<ResolvedConfig, CallSettings>()
export const defaultSettings = (config: ResolvedConfig): CallSettings => {
  let settings = defaultSettingsCache.get(config)
  if (settings === undefined) {
    settings = settingsFor(config, {})
    defaultSettingsCache.set(config, settings)
  }
  return settings
}
