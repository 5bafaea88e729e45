/**
 * The real transport: undici's dispatcher API driven directly.
 *
 * Why not `undici.request` or `@effect/platform`'s client: both wrap every body in a Node
 * stream and tie cancellation to an `AbortController` (aborting one builds a `DOMException`).
 * The raw dispatcher hands us the chunks and an `abort` callback, so a small body is
 * buffered with no stream at all, backpressure is a boolean, and releasing an unread body
 * decides between drain and abort without allocating an exception.
 */
import * as Effect from "effect/Effect"
import type { Dispatcher } from "undici"
import type { NetworkError } from "../../Errors.js"
import type { BodySource, ResponseTiming, Timeout, Transport, TransportRequest, TransportResponse } from "../../Transport.js"
import { drainLimit } from "./transport.js"
import * as ConnectTiming from "./connectTiming.js"
import { type DecodedSink, type Decoder, decoderFor } from "./decode.js"
import { toNetworkError } from "./undiciErrors.js"

/** Pause the socket once this much is buffered and not yet pulled. */
const highWaterMark = 256 * 1024

/** One shared reason for aborts we start ourselves: undici only passes it to `onResponseError`, which we ignore then. */
const releasedError: Error = Object.freeze(Object.assign(new Error("volley: body released"), { code: "VOLLEY_RELEASED" }))
const interruptedError: Error = Object.freeze(Object.assign(new Error("volley: request interrupted"), { code: "VOLLEY_INTERRUPTED" }))

type State = "pending" | "body" | "done" | "failed" | "released"

/**
 * Builds a transport over an undici dispatcher (normally a configured `Agent`).
 *
 * `drainBudgetMs` bounds how long a released, partly-read small body may take to drain before
 * its socket is closed: a transport-level backstop, so it uses an unref'd timer rather than
 * the Effect clock (it never decides an outcome a caller sees).
 */
export const make = (dispatcher: Dispatcher, drainBudgetMs: number, proxies: ReadonlyArray<string> = []): Transport => {
  ConnectTiming.install()
  const viaProxy = proxies.length === 0 ? undefined : new Set(proxies)
  const send: Transport["send"] = (request, timeout, received, takeAbort) =>
    Effect.async<TransportResponse, NetworkError>((resume) => {
      const exchange = new Exchange(request, drainBudgetMs, resume, received, viaProxy)
      if (timeout !== undefined) exchange.armHeadersTimer(timeout)
      // Offered, the caller aborts on interruption (`Transport.send`): no canceler, whose `onExit`
      // frame costs 9 runtime steps per request, and whose pretenured literals keep young objects
      // alive: without it `Batch.settle` takes about 10% less CPU (`npm run bench`, paired rows).
      takeAbort?.(() => exchange.cancel())
      try {
        dispatcher.dispatch(
          {
            origin: request.url.origin,
            path: request.url.pathname + request.url.search,
            method: request.method as Dispatcher.HttpMethod,
            headers: request.headers,
            // undici writes any async iterable; its types only list Readable.
            body: (request.body ?? null) as NonNullable<Dispatcher.DispatchOptions["body"]> | null
          },
          exchange
        )
      } catch (error) {
        exchange.onResponseError(undefined, error as Error)
      }
      return takeAbort === undefined ? Effect.sync(() => exchange.cancel()) : undefined
    })
  return { send }
}

/**
 * A response as the transport hands it over. A class, not an object literal: see
 * `../client/hotPath.ts` (pretenuring).
 */
class Received implements TransportResponse {
  constructor(
    readonly status: number,
    readonly headers: Readonly<Record<string, string>>,
    readonly body: BodySource,
    readonly timing: ResponseTiming
  ) {}
}

class Timing implements ResponseTiming {
  constructor(readonly ttfbMs: number, readonly connectMs: number | undefined) {}
}

/**
 * One request/response exchange: the undici handler and the response body source in one
 * object, so the hot path allocates little. A class here because undici calls it as a
 * handler object with many callbacks sharing mutable state.
 */
class Exchange implements BodySource, Dispatcher.DispatchHandler, DecodedSink {
  private state: State = "pending"
  private controller: Dispatcher.DispatchController | undefined
  private cancelled = false
  private paused = false
  /** Not yet pulled. Emptied in place: a fresh `[]` each time is a site V8 pretenures (`../client/hotPath.ts`).
   * This first one is tenured too at c=200 x 50 ms, but avoiding it changed neither promoted bytes nor CPU. */
  private chunks: Array<Uint8Array> = []
  private head = 0
  private buffered = 0
  private received = 0
  private drained = 0
  private waiter: ((effect: Effect.Effect<void, NetworkError>) => void) | undefined
  private error: NetworkError | undefined
  private drainTimer: ReturnType<typeof setTimeout> | undefined
  /** Cancels the timer of the current wait (headers or body), when the client bounded it. */
  private cancelWaitTimer: (() => void) | undefined
  /** The decoded length is unknown: undefined while decoding. */
  contentLength: number | undefined = undefined
  /** Content-Length as served: decides between draining and aborting an unread rest. */
  private rawLength: number | undefined = undefined
  /** Present while a Content-Encoding is being decoded. */
  private decoder: Decoder | undefined = undefined
  /** Set by connectTiming when this request opened its connection. */
  connectMs: number | undefined = undefined
  private readonly startedAt = performance.now()

  constructor(
    private readonly request: TransportRequest,
    private readonly drainBudgetMs: number,
    private resumeHeaders: ((effect: Effect.Effect<TransportResponse, NetworkError>) => void) | undefined,
    private readonly onResponse: ((response: TransportResponse) => void) | undefined,
    private readonly proxies: ReadonlySet<string> | undefined
  ) {}

  // ---- undici handler (the current API: a controller to pause, resume and abort) ---------

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.cancelled) {
      controller.abort(interruptedError)
      return
    }
    this.controller = controller
    // undici calls this right before it writes the headers (and publishes sendHeaders), in
    // one synchronous step: connectTiming attributes a new socket's connect time to us then.
    ConnectTiming.starting(this)
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, rawHeaders: IncomingHeaders): void {
    if (statusCode < 200) return // informational (100 Continue, 103 Early Hints): wait for the final one
    this.controller = controller
    this.clearWaitTimer()
    const headers = joinHeaders(rawHeaders)
    const length = headers["content-length"]
    if (length !== undefined) {
      const n = Number(length)
      if (Number.isSafeInteger(n) && n >= 0) this.rawLength = n
    }
    this.state = "body"
    const coding = headers["content-encoding"]
    if (coding !== undefined && this.request.decompress === true && statusCode !== 204 && statusCode !== 304 && this.request.method !== "HEAD") {
      this.startDecoding(coding, headers)
    } else this.contentLength = this.rawLength
    const done = this.resumeHeaders
    this.resumeHeaders = undefined
    if (done === undefined) return
    const response = new Received(statusCode, headers, this, new Timing(performance.now() - this.startedAt, this.connectMs))
    this.onResponse?.(response)
    done(Effect.succeed(response))
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.state === "released") {
      // Draining a released body: drop the bytes, give up if it is not small after all.
      this.drained += chunk.length
      if (this.drained > drainLimit) this.abortNow(releasedError)
      return
    }
    this.received += chunk.length
    if (this.decoder !== undefined) {
      // The decoder's input is full: hold the socket until it drains (`inputDrained`).
      if (!this.decoder.write(chunk)) this.pauseSocket(controller)
    } else if (this.enqueue(chunk)) this.pauseSocket(controller)
  }

  /** Buffers a chunk for `poll` and wakes the reader; `true` once the buffer is past its high-water mark. */
  private enqueue(chunk: Uint8Array): boolean {
    this.chunks.push(chunk)
    this.buffered += chunk.length
    this.wake()
    return this.buffered >= highWaterMark
  }

  private pauseSocket(controller: Dispatcher.DispatchController): void {
    if (this.paused) return
    this.paused = true
    controller.pause()
  }

  onResponseEnd(): void {
    this.clearDrainTimer()
    this.controller = undefined
    const decoder = this.decoder
    if (decoder !== undefined && this.state === "body") {
      // An empty body names no coding it could be in (zlib calls it truncated): it is empty.
      if (this.received > 0) return decoder.end() // done when the decoded rest is out
      decoder.destroy()
    }
    if (this.state === "body") this.state = "done"
    else if (this.state === "released") this.state = "done"
    this.wake()
  }

  /** `controller` is absent when undici refuses the request before starting it. */
  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    this.decoder?.destroy()
    this.clearDrainTimer()
    this.clearWaitTimer()
    this.controller = undefined
    if (this.state === "released" || this.state === "done" || this.state === "failed") return
    const error = toNetworkError(err, this.request, this.proxies)
    if (this.resumeHeaders !== undefined) {
      const done = this.resumeHeaders
      this.resumeHeaders = undefined
      this.state = "failed"
      done(Effect.fail(error))
      return
    }
    this.state = "failed"
    this.error = error
    this.wake()
  }

  // ---- content decoding (only for a response with a Content-Encoding the caller asked to decode)

  private startDecoding(coding: string, headers: Record<string, string>): void {
    const decoder = decoderFor(coding, this)
    if (decoder === undefined) {
      this.contentLength = this.rawLength // an unknown coding: handed over as served
      return
    }
    // The caller sees the decoded body: its coding and length are no longer what it gets.
    delete headers["content-encoding"]
    delete headers["content-length"]
    if (decoder instanceof Error) this.decodeFailed(decoder)
    else this.decoder = decoder
  }

  decoded(chunk: Buffer): void {
    if (this.state !== "body") return
    if (this.enqueue(chunk)) this.decoder?.pause()
  }

  decodedEnd(): void {
    if (this.state === "body") this.state = "done"
    this.wake()
  }

  /** From the decoder (which has stopped itself), or for a coding refused before it was made. */
  decodeFailed(err: Error): void {
    if (this.state !== "body") return
    this.state = "failed"
    this.error = toNetworkError(err, this.request, this.proxies)
    this.abortNow(releasedError)
    this.wake()
  }

  inputDrained(): void {
    if (this.paused && this.state === "body") {
      this.paused = false
      this.controller?.resume()
    }
  }

  // ---- deadlines (armed on the client's timer source) ---------------------------------------

  /** Fails the pending headers wait when the timer fires, then aborts like an interruption. */
  armHeadersTimer(timeout: Timeout): void {
    this.cancelWaitTimer = timeout.timer(timeout.ms, () => {
      this.cancelWaitTimer = undefined
      const done = this.resumeHeaders
      if (done === undefined) return
      this.cancel()
      done(Effect.fail(timeout.error()))
    })
  }

  private clearWaitTimer(): void {
    const cancel = this.cancelWaitTimer
    if (cancel !== undefined) {
      this.cancelWaitTimer = undefined
      cancel()
    }
  }

  // ---- cancellation -----------------------------------------------------------------------

  /** Aborts a request still waiting for its headers (interrupted, timed out, released); after that, a no-op. */
  cancel(): void {
    if (this.state !== "pending") return // a body's wait keeps its timer
    this.clearWaitTimer()
    this.resumeHeaders = undefined
    this.cancelled = true
    this.state = "released"
    this.abortNow(interruptedError)
  }

  private abortNow(reason: Error): void {
    this.decoder?.destroy()
    this.clearDrainTimer()
    const controller = this.controller
    this.controller = undefined
    controller?.abort(reason)
  }

  // ---- BodySource --------------------------------------------------------------------------

  poll(): Uint8Array | null | undefined {
    if (this.head < this.chunks.length) {
      const chunk = this.chunks[this.head]!
      this.chunks[this.head] = EMPTY
      this.head++
      if (this.head === this.chunks.length) {
        this.chunks.length = 0 // in place: see `chunks`
        this.head = 0
      }
      this.buffered -= chunk.length
      if (this.buffered < highWaterMark / 2) {
        if (this.decoder !== undefined) this.decoder.resume()
        else if (this.paused) {
          this.paused = false
          this.controller?.resume()
        }
      }
      return chunk
    }
    return this.state === "done" ? null : undefined
  }

  wait(timeout: Timeout | undefined): Effect.Effect<void, NetworkError> {
    if (this.error !== undefined) return Effect.fail(this.error)
    if (this.head < this.chunks.length || this.state !== "body") return Effect.void
    return Effect.async<void, NetworkError>((resume) => {
      this.waiter = resume
      if (timeout !== undefined) {
        this.cancelWaitTimer = timeout.timer(timeout.ms, () => {
          this.cancelWaitTimer = undefined
          if (this.waiter !== resume) return
          this.waiter = undefined
          resume(Effect.fail(timeout.error()))
        })
      }
      return Effect.sync(() => {
        if (this.waiter === resume) this.waiter = undefined
        this.clearWaitTimer()
      })
    })
  }

  private wake(): void {
    const waiter = this.waiter
    if (waiter === undefined) return
    this.clearWaitTimer()
    this.waiter = undefined
    waiter(this.error !== undefined ? Effect.fail(this.error) : Effect.void)
  }

  release(abort: boolean): void {
    this.decoder?.destroy()
    if (this.state !== "body") {
      if (this.state === "pending") this.cancel()
      return
    }
    this.state = "released"
    this.chunks.length = 0
    this.head = 0
    this.buffered = 0
    // Unknown length: try to drain; onData gives up past the limit.
    const remaining = this.rawLength !== undefined ? this.rawLength - this.received : 0
    if (abort || remaining > drainLimit) {
      this.abortNow(releasedError)
      return
    }
    // Drain: keep reading (and dropping) so the connection can go back to the pool.
    if (this.paused) {
      this.paused = false
      this.controller?.resume()
    }
    this.drainTimer = setTimeout(() => this.abortNow(releasedError), this.drainBudgetMs)
    this.drainTimer.unref()
  }

  private clearDrainTimer(): void {
    if (this.drainTimer !== undefined) {
      clearTimeout(this.drainTimer)
      this.drainTimer = undefined
    }
  }
}

const EMPTY = new Uint8Array(0)

type IncomingHeaders = Record<string, string | Array<string> | undefined>

/**
 * undici hands the headers over with names in lower case and repeated ones as arrays; join
 * those as the Fetch standard does (in place: the object is ours).
 */
const joinHeaders = (headers: IncomingHeaders): Record<string, string> => {
  for (const name in headers) {
    const value = headers[name]
    if (typeof value !== "string") headers[name] = value === undefined ? "" : value.join(", ")
  }
  return headers as Record<string, string>
}
