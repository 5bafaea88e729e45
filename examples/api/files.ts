/**
 * The example API's `GET /files/:name`: a generated file with ETag and Range support, and
 * `GET /files/:name.sha256` its checksum.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Stream } from "effect"
import * as crypto from "node:crypto"

/** Deterministic file contents, so a download can be verified against a known checksum. */
export const fileBytes = (size: number): Buffer => {
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + 7) % 251
  return out
}

// `archive.bin` is larger than a socket's kernel buffers hold: a response for it is still being
// written while a slow reader takes its time (what the graceful-shutdown test needs).
const sizes = new Map([["report.bin", 4 * 1024 * 1024], ["archive.bin", 32 * 1024 * 1024]])

// A whole file is sent as one buffer, built on first use: Node then writes it in one call, the
// case in which http's own `close` would cut a slow reader's answer short (see GracefulServer).
const whole = new Map<string, Buffer>()
const wholeFile = (name: string, size: number): Buffer => {
  let bytes = whole.get(name)
  if (bytes === undefined) whole.set(name, bytes = fileBytes(size))
  return bytes
}

// A range is streamed: the pattern repeats every 251 bytes, so any slice is a view into one
// small buffer.
const CHUNK = 64 * 1024
const pattern = fileBytes(CHUNK + 251)

function* slices(from: number, to: number): Generator<Uint8Array> {
  for (let at = from; at < to; at += CHUNK) {
    const start = at % 251
    yield pattern.subarray(start, start + Math.min(CHUNK, to - at))
  }
}

// Computed on first use: hashing 32 MiB takes a moment the server's start should not wait for.
const hashes = new Map<string, string>()
const hashOf = (name: string, size: number): string => {
  let hash = hashes.get(name)
  if (hash === undefined) {
    const digest = crypto.createHash("sha256")
    for (const slice of slices(0, size)) digest.update(slice)
    hash = digest.digest("hex")
    hashes.set(name, hash)
  }
  return hash
}

const body = (from: number, size: number) => Stream.suspend(() => Stream.fromIterable(slices(from, size)))

export const serveFile = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const { name = "" } = yield* HttpRouter.params
  if (name.endsWith(".sha256")) {
    const file = name.slice(0, -".sha256".length)
    const size = sizes.get(file)
    return size === undefined ? HttpServerResponse.text("not found", { status: 404 }) : HttpServerResponse.text(`${hashOf(file, size)}  ${file}\n`)
  }
  const size = sizes.get(name)
  if (size === undefined) return HttpServerResponse.text("not found", { status: 404 })
  const etag = `"${hashOf(name, size).slice(0, 16)}"`
  const headers = { etag, "accept-ranges": "bytes" }
  const range = /^bytes=(\d+)-$/.exec(request.headers["range"] ?? "")
  const ifRange = request.headers["if-range"]
  if (range !== null && (ifRange === undefined || ifRange === etag)) {
    const from = Number(range[1])
    if (from >= size) return HttpServerResponse.empty({ status: 416, headers: { "content-range": `bytes */${size}` } })
    return HttpServerResponse.stream(body(from, size), {
      status: 206,
      contentLength: size - from,
      headers: { ...headers, "content-range": `bytes ${from}-${size - 1}/${size}` }
    })
  }
  return HttpServerResponse.uint8Array(wholeFile(name, size), { headers })
})
