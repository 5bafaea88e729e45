/**
 * The HttpClient bridge's errors keep volley's rule: credentials stay redacted in every
 * message. `@effect/platform`'s own `RequestError` / `ResponseError` print `request.url` as
 * given; the bridge's print it redacted (userinfo and secret query values masked), in
 * `message`, `String(error)`, `Cause.pretty` and JSON, while staying platform's classes.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClient, HttpClientError } from "@effect/platform"
import { Cause, Effect, Inspectable } from "effect"
import * as VolleyHttpClient from "../src/HttpClient.js"
import { faultServer } from "./support/effect.js"

const bridge = (options: VolleyHttpClient.HttpClientOptions = {}) => VolleyHttpClient.layer({ retry: { maxAttempts: 1 }, ...options })

const secrets = ["s3cret", "hunter2"]

/** Every printed form of the error: none may carry a secret. */
const printed = (error: HttpClientError.HttpClientError): ReadonlyArray<string> => [
  error.message,
  String(error),
  Cause.pretty(Cause.fail(error)),
  Cause.pretty(Cause.fail(error), { renderErrorCause: true }),
  JSON.stringify(error),
  Inspectable.format(error)
]

const expectRedacted = (error: HttpClientError.HttpClientError) => {
  for (const text of printed(error)) {
    for (const secret of secrets) expect(text).not.toContain(secret)
  }
  // Still says which request it was.
  expect(error.message).toContain("token=***")
}

describe("HttpClient bridge: errors print the URL redacted", () => {
  it.scoped("a RequestError (Transport) for a URL with userinfo and a secret query value", () =>
    Effect.gen(function*() {
      const error = yield* HttpClient.get("http://user:hunter2@127.0.0.1:1/x?token=s3cret").pipe(Effect.flip, Effect.provide(bridge()))
      expect(error).toBeInstanceOf(HttpClientError.RequestError)
      expect([error._tag, error.reason]).toEqual(["RequestError", "Transport"])
      expect(error.message).toContain("GET http://***@127.0.0.1:1/x?token=***")
      expectRedacted(error)
      // The caller's request is untouched: the error can still be inspected or resent.
      expect(error.request.url).toBe("http://user:hunter2@127.0.0.1:1/x?token=s3cret")
    }))

  it.scoped("a RequestError (InvalidUrl) for a URL volley refuses", () =>
    Effect.gen(function*() {
      const error = yield* HttpClient.get("ftp://user:hunter2@example.invalid/x?token=s3cret").pipe(Effect.flip, Effect.provide(bridge()))
      expect([error._tag, error.reason]).toEqual(["RequestError", "InvalidUrl"])
      expectRedacted(error)
    }))

  it.scoped("a ResponseError (Decode) for a body read that failed", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const url = server.url.replace("http://", "http://user:hunter2@")
      const error = yield* Effect.flatMap(HttpClient.get(`${url}/ok?size=5000&token=s3cret`), (r) => r.text).pipe(
        Effect.flip,
        Effect.provide(bridge({ maxBodyBytes: 1000 }))
      )
      expect(error).toBeInstanceOf(HttpClientError.ResponseError)
      expect([error._tag, error.reason]).toEqual(["ResponseError", "Decode"])
      expect(error.message).toContain("200 GET http://***@127.0.0.1")
      expectRedacted(error)
    }))
})
