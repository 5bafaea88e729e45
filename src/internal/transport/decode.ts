/**
 * Content decoding for the undici transport, on Node's zlib streams, made only for a response
 * that names a `Content-Encoding`: a plain response pays nothing for it.
 *
 * Why not undici's decompress interceptor (used before): composed into the dispatcher, it wraps
 * every request in two objects of its own, encoded or not, and adds a layer to every callback;
 * it is also experimental (it prints a warning when made). Decoding here is the same zlib
 * streams with the same limits, driven by the exchange that already owns the body's backpressure.
 */
import { pipeline, type Transform } from "node:stream"
import * as zlib from "node:zlib"

type Make = () => Transform

/** zstd is in newer Node releases' zlib only (not Node 20's). */
const zstd = (zlib as { createZstdDecompress?: Make }).createZstdDecompress

/** The codings decoded. */
const decoders: Readonly<Record<string, Make>> = {
  gzip: zlib.createGunzip,
  "x-gzip": zlib.createGunzip,
  deflate: zlib.createInflate,
  br: zlib.createBrotliDecompress,
  ...(zstd === undefined ? {} : { zstd })
}

/** The `Accept-Encoding` volley sends when it decodes: what {@link decoders} can, best first. */
export const acceptEncoding: string = zstd === undefined ? "gzip, deflate, br" : "gzip, deflate, br, zstd"

/** Stacked codings refused past this many, as curl and urllib3 do (CVE-2022-32206). */
const maxCodings = 5

/** Error code of a response with too many stacked codings (classified `ContentDecoding`). */
export const tooManyCodings = "VOLLEY_TOO_MANY_CODINGS"

/** What a decoder reports to the exchange that feeds it. */
export interface DecodedSink {
  /** A decoded chunk. */
  decoded(chunk: Buffer): void
  /** The decoded body ended. */
  decodedEnd(): void
  /** The body did not decode (zlib's error, with its `Z_*` code). */
  decodeFailed(error: Error): void
  /** The decoder took what it was given: feed it again. */
  inputDrained(): void
}

/**
 * The decoder for a `Content-Encoding` value (codings applied in order, so decoded in reverse),
 * `undefined` when there is nothing to decode or a coding is unknown (the body is then handed
 * over as served, as browsers and undici do), an Error past {@link maxCodings}.
 */
export const decoderFor = (contentEncoding: string, sink: DecodedSink): Decoder | Error | undefined => {
  const codings = contentEncoding.toLowerCase().split(",")
  if (codings.length > maxCodings) {
    return Object.assign(new Error(`too many content codings in the response: ${codings.length} (at most ${maxCodings})`), { code: tooManyCodings })
  }
  const streams: Array<Transform> = []
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i]!.trim()
    if (coding === "" || coding === "identity") continue
    const make = decoders[coding]
    if (make === undefined) return undefined
    streams.push(make())
  }
  return streams.length === 0 ? undefined : new Decoder(streams, sink)
}

/**
 * A chain of decoding streams. Input backpressure: `write` says when to stop feeding until
 * `inputDrained`. Output backpressure: `pause` / `resume` stop the decoded flow, which fills
 * the decoder's input and so pauses the socket through `write`: memory stays flat however
 * far a body inflates.
 */
export class Decoder {
  private readonly first: Transform
  private readonly last: Transform
  private paused = false
  private finished = false

  constructor(private readonly streams: ReadonlyArray<Transform>, sink: DecodedSink) {
    this.first = streams[0]!
    this.last = streams[streams.length - 1]!
    const fail = (error: Error) => {
      if (this.finished) return
      this.destroy()
      sink.decodeFailed(error)
    }
    if (streams.length === 1) this.first.on("error", fail)
    else pipeline(streams as [Transform, Transform, ...Array<Transform>], (error) => error != null && fail(error))
    this.last.on("data", (chunk: Buffer) => this.finished || sink.decoded(chunk))
    this.last.on("end", () => {
      if (this.finished) return
      this.finished = true
      sink.decodedEnd()
    })
    this.first.on("drain", () => this.finished || sink.inputDrained())
  }

  /** Feeds raw bytes; `false` when the decoder wants no more until `inputDrained`. */
  write(chunk: Buffer): boolean {
    return this.first.write(chunk)
  }

  end(): void {
    this.first.end()
  }

  pause(): void {
    if (this.paused) return
    this.paused = true
    this.last.pause()
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    this.last.resume()
  }

  /** Stops decoding: no callback after this. */
  destroy(): void {
    if (this.finished) return
    this.finished = true
    for (const stream of this.streams) stream.destroy()
  }
}
