/**
 * Small URL helpers shared by the client, Batch and Download. (Redaction has its own
 * module, `redact.ts`.)
 */
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"

/** The `host:port` a request goes to, for per-host limits; `undefined` when its URL does not parse. */
export const hostOf = (input: string | URL | HttpClientRequest.HttpClientRequest): string | undefined => {
  try {
    return (typeof input === "string" ? new URL(input) : input instanceof URL ? input : new URL(input.url)).host
  } catch {
    return undefined // the client reports the invalid URL itself
  }
}

/** The origin (`https://host:port`) of a request input, or `undefined` when its URL does not parse. */
export const originOfInput = (input: string | URL | HttpClientRequest.HttpClientRequest): string | undefined => {
  try {
    return (typeof input === "string" ? new URL(input) : input instanceof URL ? input : new URL(input.url)).origin
  } catch {
    return undefined
  }
}

/** The URL as the client will print it: its `href` when it parses, the input as given when not. */
export const hrefOf = (url: string | URL): string => {
  try {
    return new URL(String(url)).href
  } catch {
    return String(url)
  }
}

/** `scheme://host:port`: what credentials are scoped to. */
export const originOf = (url: URL): string => `${url.protocol}//${url.host}`
