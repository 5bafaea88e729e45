/**
 * The `HttpClientResponse` the bridge hands out: volley's `Response` seen through
 * `@effect/platform`'s interface.
 *
 * A small body with a known length (at most what volley drains on release anyway) arrives
 * already read: its connection is back in the pool before the caller sees the response, and
 * nothing is left to release. A larger or unknown-length body stays on the wire, held by the
 * response until the caller ends it: a read (any way, once; kept for later reads), the end of
 * a stream of it (even an early one, `Stream.take`), or the close of the scope the request
 * ran in (`HttpClient.withScope`, `Effect.scoped`).
 */
import * as Cookies from "@effect/platform/Cookies"
import * as Headers from "@effect/platform/Headers"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as ClientResponse from "@effect/platform/HttpClientResponse"
import * as IncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { BodySource, Response } from "../Client.js"
import { ResponseError as RedactedResponseError } from "./httpClientError.js"
import { redactUrl } from "./redact.js"

/** A held body: `release(true)` closes the connection, `release(false)` applies volley's release rules. */
export type Held = Pick<BodySource, "release">

/**
 * Last resort for a held body nobody reads and no scope owns: released when the garbage
 * collector takes its response, as `@effect/platform`'s own clients do.
 */
const unowned = new FinalizationRegistry<Held>((held) => held.release(false))

const utf8 = new TextDecoder()

/** A body read that failed: `Decode`, with volley's error (or what stopped the read) as the cause. */
const decodeError = (response: ClientResponse.HttpClientResponse, request: HttpClientRequest.HttpClientRequest, cause: unknown, description?: string) =>
  new RedactedResponseError({ request, response, reason: "Decode", cause, ...(description !== undefined ? { description } : {}) })

/** The body as read: bytes, or the read's failure (kept, so later reads see the same). */
export type Read = Exit.Exit<Uint8Array, HttpClientError.ResponseError>

export class BridgeResponse extends Inspectable.Class implements ClientResponse.HttpClientResponse {
  readonly [IncomingMessage.TypeId]: IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [ClientResponse.TypeId]: ClientResponse.TypeId = ClientResponse.TypeId
  /** The whole body once read; while a held body is being read, the readers' rendezvous. */
  private read: Read | Deferred.Deferred<Uint8Array, HttpClientError.ResponseError> | undefined
  private streamed = false
  private released = false
  private cachedHeaders: Headers.Headers | undefined
  private cachedCookies: Cookies.Cookies | undefined

  /**
   * `body` is the body read in advance, or `held` is the body still on the wire. A held
   * body's `scope` is one forked from the caller's, whose finalizer (added by the bridge)
   * releases it; without one, it is watched for garbage collection.
   */
  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly source: Response,
    body: Read | undefined,
    private readonly held: Held | undefined,
    private readonly scope: Scope.CloseableScope | undefined
  ) {
    super()
    if (body !== undefined) this.read = body
    if (held !== undefined && scope === undefined) unowned.register(this, held, this)
  }

  /** A response whose body, read in advance, failed with `cause`: every read fails with it. */
  static failedRead(request: HttpClientRequest.HttpClientRequest, source: Response, cause: unknown): BridgeResponse {
    const response = new BridgeResponse(request, source, undefined, undefined, undefined)
    response.read = Exit.fail(decodeError(response, request, cause))
    return response
  }

  get status(): number {
    return this.source.status
  }

  get headers(): Headers.Headers {
    return this.cachedHeaders ??= Headers.fromInput(this.source.headers)
  }

  get cookies(): Cookies.Cookies {
    if (this.cachedCookies !== undefined) return this.cachedCookies
    const header = this.source.headers["set-cookie"]
    // Repeated Set-Cookie headers arrive joined with ", "; split only before a new name=.
    return this.cachedCookies = header === undefined ? Cookies.empty : Cookies.fromSetCookie(header.split(/,\s*(?=[^;,=\s]+=)/))
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  /**
   * Releases a held body (unread: drained if small, else aborted), then detaches it from the
   * caller's scope (so a long-lived one does not collect finalizers): that last part is the
   * returned effect, run in the releasing fiber.
   */
  releaseWith(abort: boolean): Effect.Effect<void> {
    const held = this.held
    if (held === undefined || this.released) return Effect.void
    this.released = true
    held.release(abort)
    if (this.scope === undefined) {
      unowned.unregister(this)
      return Effect.void
    }
    return Scope.close(this.scope, Exit.void)
  }

  /** {@link releaseWith} outside any fiber (a superseded 3xx), detaching at once. */
  release(abort: boolean): void {
    const detach = this.releaseWith(abort)
    if (detach !== Effect.void) Effect.runSync(detach)
  }

  /** The whole body, read once (bounded by volley's limits and timeouts) and kept for later reads. */
  get bytes(): Effect.Effect<Uint8Array, HttpClientError.ResponseError> {
    return Effect.suspend(() => {
      const read = this.read
      if (read !== undefined) return Exit.isExit(read) ? read : Deferred.await(read)
      if (this.streamed) return Effect.fail(decodeError(this, this.request, undefined, "the body was already consumed as a stream"))
      return Effect.withFiberRuntime<Uint8Array, HttpClientError.ResponseError>((fiber) => {
        const pending = Deferred.unsafeMake<Uint8Array, HttpClientError.ResponseError>(fiber.id())
        this.read = pending
        return Effect.onExit(this.source.bytes, (exit) => {
          const detach = this.releaseWith(Exit.isFailure(exit))
          // A read cut short (failed, interrupted) leaves no body: later readers get Decode.
          const result: Read = Exit.isSuccess(exit) ? Exit.succeed(exit.value) : Exit.fail(decodeError(this, this.request, Cause.squash(exit.cause)))
          this.read = result
          Deferred.unsafeDone(pending, result)
          return detach
        }).pipe(Effect.mapError((error) => decodeError(this, this.request, error)))
      })
    })
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    return Effect.map(this.bytes, (bytes) =>
      bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
        ? bytes.buffer as ArrayBuffer
        // A copy: `Buffer#slice` would be a view of a shared pool.
        : new Uint8Array(bytes).buffer as ArrayBuffer)
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    // A body read in advance (the common case) decodes without an effect step of its own.
    const read = this.read
    if (read !== undefined && Exit.isExit(read) && Exit.isSuccess(read)) return Exit.succeed(utf8.decode(read.value))
    return Effect.map(this.bytes, (bytes) => utf8.decode(bytes))
  }

  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        // As @effect/platform's clients: an empty body is `null`.
        try: () => text === "" ? null : JSON.parse(text) as unknown,
        catch: (cause) => decodeError(this, this.request, cause)
      }))
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        try: () => UrlParams.fromInput(new URLSearchParams(text)),
        catch: (cause) => decodeError(this, this.request, cause)
      }))
  }

  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return Effect.flatMap(this.bytes, (bytes) =>
      Effect.tryPromise({
        try: () => new globalThis.Response(bytes, { headers: { "content-type": this.source.headers["content-type"] ?? "" } }).formData(),
        catch: (cause) => decodeError(this, this.request, cause)
      }))
  }

  /**
   * The body in constant memory. Ending early (`Stream.take`), failing or being interrupted
   * releases the connection at once: a small remainder is drained for reuse, a large one aborted.
   */
  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return Stream.suspend(() => {
      if (this.read !== undefined) return Stream.fromEffect(this.bytes)
      if (this.streamed) return Stream.fail(decodeError(this, this.request, undefined, "the body was already consumed as a stream"))
      this.streamed = true
      return this.source.stream.pipe(
        Stream.ensuringWith((exit) => Effect.suspend(() => this.releaseWith(Exit.isFailure(exit)))),
        Stream.mapError((error) => decodeError(this, this.request, error))
      )
    })
  }

  toJSON(): unknown {
    // The request's URL redacted, as in the bridge's error messages.
    return { _id: "@effect/platform/HttpClientResponse", request: { ...(this.request.toJSON() as object), url: redactUrl(this.request.url) }, status: this.status }
  }
}
