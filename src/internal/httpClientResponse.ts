/**
 * The `HttpClientResponse` the bridge hands out: volley's scoped `Response` seen through
 * `@effect/platform`'s interface. Reading the body (any way, once or many times) releases the
 * connection when the read ends; so does closing the response's scope.
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
import type { Response } from "./client.js"

/**
 * Last resort for a response nobody reads and no scope owns: released (drained if small) when
 * the garbage collector takes it, as `@effect/platform`'s own clients do. Reading the body or
 * running in a `Scope` (`HttpClient.withScope`, `Effect.scoped`) releases it deterministically.
 */
const unowned = new FinalizationRegistry<Scope.CloseableScope>((scope) => {
  Effect.runFork(Scope.close(scope, Exit.void))
})

const utf8 = new TextDecoder()

/** A body read that failed: `Decode`, with volley's error (or the interruption) as the cause. */
const decodeError = (response: BridgeResponse, cause: unknown, description?: string) =>
  new HttpClientError.ResponseError({
    request: response.request,
    response,
    reason: "Decode",
    cause,
    ...(description !== undefined ? { description } : {})
  })

export class BridgeResponse extends Inspectable.Class implements ClientResponse.HttpClientResponse {
  readonly [IncomingMessage.TypeId]: IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [ClientResponse.TypeId]: ClientResponse.TypeId = ClientResponse.TypeId
  /** The body once read: pending (`Deferred`) while the first reader reads, then its result. */
  private body: Deferred.Deferred<Uint8Array, HttpClientError.ResponseError> | Exit.Exit<Uint8Array, HttpClientError.ResponseError> | undefined
  private streamed = false
  private cachedHeaders: Headers.Headers | undefined
  private cachedCookies: Cookies.Cookies | undefined

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly source: Response,
    private readonly scope: Scope.CloseableScope,
    owned: boolean
  ) {
    super()
    if (!owned) unowned.register(this, scope, this)
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

  /** Ends the response's life: the body is released as volley's rules say for `exit`. */
  private close(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    unowned.unregister(this)
    return Scope.close(this.scope, exit)
  }

  /** Releases the body unread (drained if small), as when its scope closes. */
  get discard(): Effect.Effect<void> {
    return this.close(Exit.void)
  }

  /** The whole body, read once (bounded by volley's limits and timeouts) and kept for later reads. */
  get bytes(): Effect.Effect<Uint8Array, HttpClientError.ResponseError> {
    return Effect.suspend(() => {
      const body = this.body
      if (body !== undefined) return Exit.isExit(body) ? body : Deferred.await(body)
      if (this.streamed) return Effect.fail(decodeError(this, undefined, "the body was already consumed as a stream"))
      return Effect.withFiberRuntime<Uint8Array, HttpClientError.ResponseError>((fiber) => {
        const pending = Deferred.unsafeMake<Uint8Array, HttpClientError.ResponseError>(fiber.id())
        this.body = pending
        return Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(Effect.exit(restore(this.source.bytes)), (read): Effect.Effect<Uint8Array, HttpClientError.ResponseError> =>
            Effect.flatMap(this.close(read), () => {
              // An interrupted read leaves no body for later readers: they get a Decode error.
              const result: Exit.Exit<Uint8Array, HttpClientError.ResponseError> = Exit.isSuccess(read)
                ? Exit.succeed(read.value)
                : Exit.fail(decodeError(this, read.cause._tag === "Fail" ? read.cause.error : read.cause))
              this.body = result
              Deferred.unsafeDone(pending, result)
              // Interruptions and defects propagate as they are; a failure is the mapped one.
              return Exit.isFailure(read) && read.cause._tag !== "Fail" ? Effect.failCause(Cause.map(read.cause, (e) => decodeError(this, e))) : result
            }))
        )
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
    return Effect.map(this.bytes, (bytes) => utf8.decode(bytes))
  }

  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        // As @effect/platform's clients: an empty body is `null`.
        try: () => text === "" ? null : JSON.parse(text) as unknown,
        catch: (cause) => decodeError(this, cause)
      }))
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        try: () => UrlParams.fromInput(new URLSearchParams(text)),
        catch: (cause) => decodeError(this, cause)
      }))
  }

  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return Effect.flatMap(this.bytes, (bytes) =>
      Effect.tryPromise({
        try: () => new globalThis.Response(bytes, { headers: { "content-type": this.source.headers["content-type"] ?? "" } }).formData(),
        catch: (cause) => decodeError(this, cause)
      }))
  }

  /**
   * The body in constant memory. Ending early (`Stream.take`), failing or being interrupted
   * releases the connection at once: a small remainder is drained for reuse, a large one aborted.
   */
  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return Stream.suspend(() => {
      if (this.body !== undefined) return Stream.fromEffect(this.bytes)
      if (this.streamed) return Stream.fail(decodeError(this, undefined, "the body was already consumed as a stream"))
      this.streamed = true
      return this.source.stream.pipe(
        Stream.ensuringWith((exit) => this.close(exit)),
        Stream.mapError((error) => decodeError(this, error))
      )
    })
  }

  toJSON(): unknown {
    return { _id: "@effect/platform/HttpClientResponse", request: this.request.toJSON(), status: this.status }
  }
}
