/**
 * The example API's `GET /files/:name`: a generated file with ETag and Range support, and
 * `GET /files/:name.sha256` its checksum.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import * as crypto from "node:crypto"

/** Deterministic file contents, so a download can be verified against a known checksum. */
export const fileBytes = (size: number): Buffer => {
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + 7) % 251
  return out
}

const files = new Map<string, Buffer>([["report.bin", fileBytes(4 * 1024 * 1024)]])
const fileHashes = new Map([...files].map(([name, bytes]) => [name, crypto.createHash("sha256").update(bytes).digest("hex")]))

export const serveFile = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const { name = "" } = yield* HttpRouter.params
  if (name.endsWith(".sha256")) {
    const hash = fileHashes.get(name.slice(0, -".sha256".length))
    return hash === undefined ? HttpServerResponse.text("not found", { status: 404 }) : HttpServerResponse.text(`${hash}  ${name.slice(0, -7)}\n`)
  }
  const bytes = files.get(name)
  if (bytes === undefined) return HttpServerResponse.text("not found", { status: 404 })
  const etag = `"${fileHashes.get(name)!.slice(0, 16)}"`
  const headers = { etag, "accept-ranges": "bytes" }
  const range = /^bytes=(\d+)-$/.exec(request.headers["range"] ?? "")
  const ifRange = request.headers["if-range"]
  if (range !== null && (ifRange === undefined || ifRange === etag)) {
    const from = Number(range[1])
    if (from >= bytes.length) return HttpServerResponse.empty({ status: 416, headers: { "content-range": `bytes */${bytes.length}` } })
    return HttpServerResponse.uint8Array(bytes.subarray(from), {
      status: 206,
      headers: { ...headers, "content-range": `bytes ${from}-${bytes.length - 1}/${bytes.length}` }
    })
  }
  return HttpServerResponse.uint8Array(bytes, { headers })
})
