/**
 * Turning what a caller passes (a URL string, a `URL`, or an `@effect/platform`
 * `HttpClientRequest`) into what the transport sends.
 */
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import type { RequestInput } from "../../Client.js"
import { InvalidRequestError, InvalidUrlError } from "../../Errors.js"
import { redactUrl } from "../redact.js"
import type { TransportBody, TransportRequest } from "../../Client.js"
import { acceptEncoding } from "../transport/decode.js"


/** A request ready to send, plus whether its body can be sent again (for retries and 307/308). */
export interface PreparedRequest extends TransportRequest {
  readonly replayable: boolean
}

/** Parses and checks an absolute http(s) URL. */
export const parseUrl = (input: string | URL): Either.Either<URL, InvalidUrlError> => {
  let url: URL
  try {
    url = typeof input === "string" ? new URL(input) : input
  } catch {
    const text = String(input)
    const detail = text.trim() === "" ? "empty" : /^[a-z][a-z0-9+.-]*:/i.test(text) ? "malformed" : "not an absolute URL (missing http:// or https://)"
    return Either.left(new InvalidUrlError({ input: redactUrl(text), detail }))
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return Either.left(new InvalidUrlError({ input: redactUrl(url), detail: `unsupported scheme ${url.protocol.slice(0, -1)}` }))
  }
  if (url.hostname === "") {
    return Either.left(new InvalidUrlError({ input: redactUrl(url), detail: "missing host" }))
  }
  return Either.right(url)
}

/**
 * Credentials in the URL (`http://user:pass@host/`) become `Authorization: Basic`, as curl,
 * got and axios do, unless the caller set an `Authorization` of their own; either way they
 * are removed from the URL that is sent (and printed). Percent-decoded first: `p%40ss` is
 * `p@ss`. The header is a credential like any other, so a cross-origin redirect drops it.
 */
const takeCredentials = (url: URL, headers: Record<string, string>): InvalidUrlError | undefined => {
  if (url.username === "" && url.password === "") return undefined
  let user: string
  let password: string
  try {
    user = decodeURIComponent(url.username)
    password = decodeURIComponent(url.password)
  } catch {
    return new InvalidUrlError({ input: redactUrl(url), detail: "the credentials in the URL are not valid percent-encoding" })
  }
  url.username = ""
  url.password = ""
  headers["authorization"] ??= `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`
  return undefined
}

/** `URL` objects are mutable: copy one handed in so a later change by the caller cannot race us. */
const ownUrl = (url: URL): URL => new URL(url.href)

/**
 * A GET with extra headers, for volley's own callers (the download). Sent exactly as
 * `HttpClientRequest.get(url, { headers })` is: header names lower-cased, same URL checks.
 *
 * Not an `HttpClientRequest`: building one loads `@effect/platform`'s request module and with
 * it `effect/Schema` (about 10 MiB of RSS), which a program that only downloads does not load
 * otherwise: bench row `Download.file peak RSS`.
 */
export class PlainGet {
  readonly headers: Readonly<Record<string, string>>
  constructor(readonly url: string, headers: Readonly<Record<string, string>> = {}) {
    const lower: Record<string, string> = {}
    for (const name in headers) lower[name.toLowerCase()] = headers[name]!
    this.headers = lower
  }
  /** The same request with more headers (replacing any of the same name). */
  withHeaders(headers: Readonly<Record<string, string>>): PlainGet {
    return new PlainGet(this.url, { ...this.headers, ...headers })
  }
}

/** What the client accepts internally: the public inputs plus {@link PlainGet}. */
export type AnyRequestInput = RequestInput | PlainGet

const isHttpClientRequest = (input: AnyRequestInput): input is HttpClientRequest.HttpClientRequest =>
  typeof input === "object" && !(input instanceof URL) && !(input instanceof PlainGet)

/**
 * The URL a request built from `href` (and `params`, appended as `UrlParams.makeUrl` does on
 * Node) is sent to, checked as `parseUrl` does, without its fragment (never sent); or why
 * there is none. `UrlParams.makeUrl` itself would do the same parse and appends, but reports
 * a bare `Error`, keeps the fragment, and its module loads `effect/Schema` (bench row
 * `Download.file peak RSS`): this says which URL is wrong, in volley's error.
 */
const requestUrl = (href: string, params: HttpClientRequest.HttpClientRequest["urlParams"] = []): Either.Either<URL, InvalidUrlError> => {
  let url: URL
  try {
    url = new URL(href)
  } catch {
    return Either.left(new InvalidUrlError({ input: redactUrl(href), detail: "not an absolute URL (missing http:// or https://)" }))
  }
  // Touched only when there is something to change: `searchParams` and the `hash` setter each
  // cost more than parsing the URL (the setter re-serializes it).
  if (params.length > 0) {
    for (const [key, value] of params) {
      if (value !== undefined) url.searchParams.append(key, value)
    }
  }
  return Either.map(parseUrl(url), (checked) => {
    if (checked.hash !== "") checked.hash = ""
    return checked
  })
}

/** RFC 9110 `token`: what a header name may be made of. */
const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** Control characters other than tab (CR, LF and NUL among them), and anything beyond Latin-1. */
const badValueChar = /[^\t\x20-\x7e\x80-\xff]/

/**
 * Why these headers cannot be sent, or `undefined`. Checked before sending so that a CR/LF in
 * a value (header injection) is the caller's typed error, never a network failure that gets
 * retried. The value is not echoed: it may be a secret.
 */
export const checkHeaders = (
  headers: Readonly<Record<string, string>>,
  method: string,
  redactedUrl: string
): InvalidRequestError | undefined => {
  for (const name in headers) {
    const value = headers[name]!
    const detail = !headerName.test(name)
      ? "name is not a valid header token"
      : typeof value !== "string"
      ? "value is not a string"
      : badValueChar.test(value)
      ? "value contains a control character (CR, LF, NUL...) or a character beyond Latin-1"
      : undefined
    if (detail !== undefined) return new InvalidRequestError({ method, url: redactedUrl, header: name, detail })
  }
  return undefined
}

/** The request, or why its headers cannot be sent. */
const checked = (request: PreparedRequest): Either.Either<PreparedRequest, InvalidRequestError> => {
  const invalid = checkHeaders(request.headers, request.method, request.redactedUrl)
  return invalid === undefined ? Either.right(request) : Either.left(invalid)
}

/** A GET of `url` with these headers: nothing to encode, so it can always be sent again. */
const get = (url: URL, headers: Record<string, string>, decompress: boolean): Either.Either<PreparedRequest, InvalidUrlError> => {
  // Printed as the caller wrote it (credentials masked as `***@`), sent without them.
  const redactedUrl = redactUrl(url)
  const refused = takeCredentials(url, headers)
  if (refused !== undefined) return Either.left(refused)
  return Either.right(new PreparedGet(url, headers, redactedUrl, decompress))
}

/** A prepared GET. A class, not an object literal: see `hotPath.ts` (pretenuring). */
class PreparedGet implements PreparedRequest {
  readonly method = "GET"
  readonly body = undefined
  readonly replayable = true
  constructor(
    readonly url: URL,
    readonly headers: Record<string, string>,
    readonly redactedUrl: string,
    readonly decompress: boolean
  ) {}
}

/** The headers volley adds unless the caller set them. A class, not a literal: see `hotPath.ts`. */
class DefaultHeaders {
  [name: string]: string
  constructor(userAgent: string, decompress: boolean) {
    this["user-agent"] = userAgent
    if (decompress) this["accept-encoding"] = acceptEncoding
  }
}

/**
 * Prepares a plain GET of a URL, without an effect step (the common case of a fan-out):
 * the request, or why the URL is not one. An `Either` is itself an effect.
 */
export const prepareGet = (input: string | URL, userAgent: string, decompress: boolean): Either.Either<PreparedRequest, InvalidUrlError> =>
  Either.flatMap(parseUrl(typeof input === "string" ? input : ownUrl(input)), (url) => get(url, new DefaultHeaders(userAgent, decompress), decompress))

/**
 * Prepares a request. `userAgent` is added unless the caller set one; with `decompress`, so
 * is `Accept-Encoding`, and the body is decoded (a download asks for this only with its
 * `decompress` option: it keeps the bytes as served by default). Fails with `InvalidUrlError` or
 * `InvalidRequestError` (a header that cannot be sent); a body that cannot be encoded is a
 * defect of the caller's request construction, as in `@effect/platform`.
 */
export const prepare = (
  input: AnyRequestInput,
  userAgent: string,
  decompress: boolean
): Either.Either<PreparedRequest, InvalidUrlError | InvalidRequestError> | Effect.Effect<PreparedRequest, InvalidUrlError | InvalidRequestError> => {
  const unchecked = prepareUnchecked(input, userAgent, decompress)
  // A request with nothing to encode is prepared at once: an `Either`, which the client
  // continues from without an effect step (see `withPrepared` in client.ts).
  return Either.isEither(unchecked) ? Either.flatMap(unchecked, checked) : Effect.flatMap(unchecked, checked)
}

const prepareUnchecked = (
  input: AnyRequestInput,
  userAgent: string,
  decompress: boolean
): Either.Either<PreparedRequest, InvalidUrlError> | Effect.Effect<PreparedRequest, InvalidUrlError> => {
  if (input instanceof PlainGet) {
    return Either.flatMap(requestUrl(input.url), (url) => get(url, { ...new DefaultHeaders(userAgent, decompress), ...input.headers }, decompress))
  }
  if (!isHttpClientRequest(input)) return prepareGet(input, userAgent, decompress)
  const parsed = requestUrl(input.url, input.urlParams)
  if (Either.isLeft(parsed)) return Either.left(parsed.left)
  const url = parsed.right
  const headers: Record<string, string> = { ...new DefaultHeaders(userAgent, decompress), ...input.headers }
  const method = input.method
  // Printed as the caller wrote it (credentials masked as `***@`), sent without them.
  const redactedUrl = redactUrl(url)
  const refused = takeCredentials(url, headers)
  if (refused !== undefined) return Either.left(refused)
  // Literal objects of one shape (the same as `get`'s), not `{ ...base, … }`: V8 spreads into
  // a slow object here (measured ~10 µs per request, half the cost of a whole request).
  const prepared = (body: TransportBody | undefined, replayable: boolean): PreparedRequest => ({
    url,
    method,
    headers,
    body,
    redactedUrl,
    replayable,
    decompress
  })
  const body = input.body
  switch (body._tag) {
    case "Empty":
      return Either.right(prepared(undefined, true))
    case "Uint8Array":
      headers["content-type"] ??= body.contentType
      return Either.right(prepared(body.body, true))
    case "Raw": {
      const raw = body.body
      if (body.contentType !== undefined) headers["content-type"] ??= body.contentType
      if (typeof raw === "string" || raw instanceof Uint8Array) {
        return Either.right(prepared(raw, true))
      }
      return Effect.dieMessage("volley: a Raw request body must be a string or Uint8Array")
    }
    case "FormData":
      return Effect.promise(async () => {
        // Let the platform's own encoder pick the multipart boundary.
        const encoded = new Response(body.formData)
        headers["content-type"] = encoded.headers.get("content-type") ?? "multipart/form-data"
        const bytes = new Uint8Array(await encoded.arrayBuffer())
        return prepared(bytes, true)
      })
    case "Stream": {
      headers["content-type"] ??= body.contentType
      if (body.contentLength !== undefined) headers["content-length"] ??= String(body.contentLength)
      const stream: TransportBody = Stream.toAsyncIterable(body.stream)
      return Effect.succeed(prepared(stream, false))
    }
  }
}
