/**
 * The response handed to callers (its body read once, by any of its readers), the status
 * error built from a refused response, and schema decoding of a JSON body.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { Response } from "../../Client.js"
import { type BodyTooLargeError, DecodeError, type NetworkError, StatusError } from "../../Errors.js"
import { redactUrl } from "../redact.js"
import type { ResponseTiming, TransportResponse } from "../../Client.js"
import { eachChunk, readAll, snippet, snippetBytes, streamBody, utf8 } from "./body.js"
import type { Attempt } from "./deadline.js"
import type { PreparedRequest } from "./request.js"

/** A response as the transport handed it over, with the request that got it. A class, not a literal: see `hotPath.ts`. */
export class Acquired {
  constructor(readonly response: TransportResponse, readonly request: PreparedRequest, readonly redirects: number) {}
}


/**
 * Parses `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3), relative to the
 * Effect clock's now. Dates in the past mean "now".
 */
export const parseRetryAfter = (value: string | undefined, nowMs: number): Option.Option<Duration.Duration> => {
  if (value === undefined) return Option.none()
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Option.some(Duration.seconds(Number(trimmed)))
  const at = Date.parse(trimmed)
  if (Number.isNaN(at)) return Option.none()
  return Option.some(Duration.millis(Math.max(0, at - nowMs)))
}

export const statusError = (attempt: Attempt, response: TransportResponse, url: URL, method: string) =>
  Effect.flatMap(snippet(attempt, response.body, snippetBytes), (bodySnippet) =>
    Effect.fail(
      new StatusError({
        status: response.status,
        method,
        url: redactUrl(url),
        retryAfter: parseRetryAfter(response.headers["retry-after"], attempt.clock.unsafeCurrentTimeMillis()),
        bodySnippet,
        headers: response.headers
      })
    ))

const decodeUtf8 = (bytes: Uint8Array): string => utf8.decode(bytes)

export const makeResponse = (attempt: Attempt, acquired: Acquired): ScopedResponse => new ScopedResponse(attempt, acquired)

/**
 * The `Response` handed to callers. A class, not an object literal, because one is made per
 * request: its ways to read (`bytes`, `text`, `json`, `stream`) are built on the prototype
 * when asked for, instead of as closures for every response (a stream costs more to build
 * than a small body costs to read). The body can be taken once, by any of them.
 */
export class ScopedResponse implements Response {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly method: string
  readonly url: URL
  readonly redirects: number
  readonly contentLength: number | undefined
  readonly timing: ResponseTiming | undefined
  private consumed = false

  constructor(private readonly attempt: Attempt, private readonly acquired: Acquired) {
    const { request, response } = acquired
    this.status = response.status
    this.headers = response.headers
    this.method = request.method
    this.url = request.url
    this.redirects = acquired.redirects
    this.contentLength = response.body.contentLength
    this.timing = response.timing
  }

  private once<A, E>(read: () => Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.suspend(() => {
      if (this.consumed) return Effect.dieMessage("volley: a response body can be read only once")
      this.consumed = true
      return read()
    })
  }

  /**
   * The whole body, as `as` of its bytes: `text` and `json` (and Batch's default handler, see
   * `hotPath.ts`) decode in the read, not in an `Effect.map` after it, two runtime steps fewer
   * per request (`clientSteps` bench, `Client.text` row).
   */
  bytesAs<A>(as: (bytes: Uint8Array) => A): Effect.Effect<A, NetworkError | BodyTooLargeError> {
    // A HEAD answer, 204 and 304 have no body, whatever Content-Length announces (RFC 9110 §6.4.1).
    const bodyless = this.method === "HEAD" || this.status === 204 || this.status === 304
    return this.once(() =>
      bodyless
        ? Effect.sync(() => as(new Uint8Array(0)))
        : readAll(this.attempt, this.acquired.response.body, this.attempt.settings.maxBodyBytes, as)
    )
  }

  get bytes(): Effect.Effect<Uint8Array, NetworkError | BodyTooLargeError> {
    return this.bytesAs(identity)
  }

  get text(): Effect.Effect<string, NetworkError | BodyTooLargeError> {
    return this.bytesAs(decodeUtf8)
  }

  get json(): Effect.Effect<unknown, NetworkError | BodyTooLargeError | DecodeError> {
    const request = this.acquired.request
    return Effect.flatMap(this.bytesAs(decodeUtf8), (raw) =>
      Effect.try({
        try: () => JSON.parse(raw) as unknown,
        catch: (cause) =>
          new DecodeError({
            method: request.method,
            url: request.redactedUrl,
            status: this.status,
            detail: `invalid JSON: ${(cause as Error).message}`,
            cause
          })
      }))
  }

  get stream(): Stream.Stream<Uint8Array, NetworkError | BodyTooLargeError> {
    return Stream.unwrap(
      this.once(() => Effect.succeed(streamBody(this.attempt, this.acquired.response.body, this.attempt.settings.maxBodyBytes)))
    )
  }

  /** The body chunk by chunk, with no Stream in between (see {@link forEachChunk}). */
  eachChunk<E>(onChunk: (chunk: Uint8Array) => Effect.Effect<void, E> | undefined): Effect.Effect<void, E | NetworkError | BodyTooLargeError> {
    return this.once(() => eachChunk(this.attempt, this.acquired.response.body, this.attempt.settings.maxBodyBytes, onChunk, () => Effect.void))
  }
}

/**
 * Decodes a JSON value with a schema, turning a mismatch into a `DecodeError` that says
 * which field was wrong.
 */
export const decodeWith = <A, I, R>(schema: Schema.Schema<A, I, R>, response: Response) => {
  // `Schema.decodeUnknown` is this plus `ParseResult.parseError`; `effect/Schema` itself is not
  // loaded for it (about 10 MiB with fast-check): bench row `Download.file peak RSS`.
  const decode = ParseResult.decodeUnknown(schema, { errors: "all", onExcessProperty: "ignore" })
  return (value: unknown): Effect.Effect<A, DecodeError, R> =>
    Effect.mapError(decode(value), (issue) => {
      const error = ParseResult.parseError(issue)
      return new DecodeError({
        method: response.method,
        url: redactUrl(response.url),
        status: response.status,
        detail: error.message,
        cause: error
      })
    })
}
