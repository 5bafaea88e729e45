/**
 * The `HttpClientError`s the bridge raises: `@effect/platform`'s own `RequestError` and
 * `ResponseError` (same tags, same fields, `instanceof` and `catchTag` unchanged) whose
 * message prints the request's URL redacted, as every volley message does. Platform's
 * classes print `request.url` as given (`?token=…`, `user:pass@`), in `message`, `String(e)`
 * and so in `Cause.pretty` and logs; they build that text in `methodAndUrl`, overridden here.
 * `toJSON` (structured logs, `Inspectable.format`) shows the redacted URL too. The error's
 * `request` itself is the caller's, untouched (a program may resend it).
 */
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { redactUrl } from "./redact.js"

const redactedMethodAndUrl = (request: HttpClientRequest.HttpClientRequest): string => `${request.method} ${redactUrl(request.url)}`

/** The request as `toJSON` shows it: the URL redacted. */
const redactedJson = (json: unknown, request: HttpClientRequest.HttpClientRequest): unknown => {
  if (typeof json !== "object" || json === null || !("request" in json)) return json
  const shown = request.toJSON() as Record<string, unknown>
  return { ...json, request: { ...shown, url: redactUrl(request.url) } }
}

/** `RequestError` whose message and JSON print the URL redacted. */
export class RequestError extends HttpClientError.RequestError {
  override get methodAndUrl(): string {
    return redactedMethodAndUrl(this.request)
  }
  override toJSON(): unknown {
    return redactedJson(super.toJSON(), this.request)
  }
}

/** `ResponseError` whose message and JSON print the URL redacted. */
export class ResponseError extends HttpClientError.ResponseError {
  override get methodAndUrl(): string {
    return redactedMethodAndUrl(this.request)
  }
  override toJSON(): unknown {
    return redactedJson(super.toJSON(), this.request)
  }
}
