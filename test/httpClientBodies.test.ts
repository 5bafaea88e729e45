/**
 * Every request body `HttpClientRequest` builds, sent through volley's HttpClient layer to an
 * @effect/platform node server that parses it (JSON, URL-encoded, multipart with a file, raw
 * text and bytes, a stream) and answers what it understood.
 */
import { describe, expect, it } from "@effect/vitest"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { FileSystem, HttpClient, HttpClientRequest, HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Chunk, Context, Effect, Layer, Stream } from "effect"
import * as http from "node:http"
import * as VolleyHttpClient from "../src/HttpClient.js"

const request = HttpServerRequest.HttpServerRequest
const answer = (value: unknown) => HttpServerResponse.unsafeJson(value)

const app = HttpRouter.empty.pipe(
  HttpRouter.post("/json", Effect.flatMap(request, (r) => Effect.map(r.json, (body) => answer({ type: r.headers["content-type"], body })))),
  HttpRouter.post("/form", Effect.flatMap(request, (r) => Effect.map(r.urlParamsBody, (body) => answer({ type: r.headers["content-type"], body })))),
  HttpRouter.post("/text", Effect.flatMap(request, (r) => Effect.map(r.text, (body) => answer({ type: r.headers["content-type"], body })))),
  HttpRouter.post(
    "/bytes",
    Effect.flatMap(request, (r) => Effect.map(r.arrayBuffer, (body) => answer({ type: r.headers["content-type"], body: [...new Uint8Array(body)] })))
  ),
  HttpRouter.post(
    "/stream",
    Effect.flatMap(request, (r) =>
      Effect.map(Stream.runFold(r.stream, 0, (n, chunk) => n + chunk.length), (size) =>
        answer({ type: r.headers["content-type"], encoding: r.headers["transfer-encoding"] ?? null, length: r.headers["content-length"] ?? null, size })))
  ),
  HttpRouter.post(
    "/multipart",
    Effect.gen(function*() {
      const r = yield* request
      const fs = yield* FileSystem.FileSystem
      const parts = yield* r.multipart
      const files = parts["upload"]
      if (!Array.isArray(files) || typeof files[0] === "string") return answer({ error: "no file", parts })
      const file = files[0]!
      return answer({
        name: parts["name"],
        file: { name: file.name, type: file.contentType, content: yield* fs.readFileString(file.path) }
      })
    })
  )
)

const serveApp = Effect.gen(function*() {
  const context = yield* Layer.build(
    HttpServer.serve(app).pipe(Layer.provideMerge(NodeHttpServer.layer(() => http.createServer(), { port: 0, host: "127.0.0.1" })))
  )
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
  return `http://127.0.0.1:${address.port}`
})

describe("HttpClient bridge: request bodies, parsed by a real server", () => {
  it.scopedLive("bytes, text, JSON, URL-encoded, FormData with a file, Stream", () =>
    Effect.gen(function*() {
      const base = yield* serveApp
      const program = Effect.gen(function*() {
        const client = (yield* HttpClient.HttpClient).pipe(HttpClient.mapRequest(HttpClientRequest.prependUrl(base)), HttpClient.filterStatusOk)
        const send = (req: HttpClientRequest.HttpClientRequest) => Effect.flatMap(client.execute(req), (r) => r.json)

        expect(yield* send(HttpClientRequest.post("/json").pipe(HttpClientRequest.bodyUnsafeJson({ a: [1, "two"], b: null })))).toEqual({
          type: "application/json",
          body: { a: [1, "two"], b: null }
        })
        expect(yield* send(HttpClientRequest.post("/form").pipe(HttpClientRequest.bodyUrlParams({ q: "a b&c", n: "1" })))).toEqual({
          type: "application/x-www-form-urlencoded",
          body: [["q", "a b&c"], ["n", "1"]]
        })
        expect(yield* send(HttpClientRequest.post("/text").pipe(HttpClientRequest.bodyText("héllo", "text/plain; charset=utf-8")))).toEqual({
          type: "text/plain; charset=utf-8",
          body: "héllo"
        })
        expect(yield* send(HttpClientRequest.post("/bytes").pipe(HttpClientRequest.bodyUint8Array(new Uint8Array([0, 1, 254, 255]), "application/octet-stream"))))
          .toEqual({ type: "application/octet-stream", body: [0, 1, 254, 255] })

        const form = new FormData()
        form.append("name", "report")
        form.append("upload", new Blob(["line 1\nline 2\n"], { type: "text/csv" }), "report.csv")
        expect(yield* send(HttpClientRequest.post("/multipart").pipe(HttpClientRequest.bodyFormData(form)))).toEqual({
          name: "report",
          file: { name: "report.csv", type: "text/csv", content: "line 1\nline 2\n" }
        })

        const chunks = Stream.fromChunk(Chunk.makeBy(100, () => new Uint8Array(10_000).fill(7)))
        // Without a length: sent chunked, as it is produced.
        expect(yield* send(HttpClientRequest.post("/stream").pipe(HttpClientRequest.bodyStream(chunks, { contentType: "application/x-ndjson" })))).toEqual({
          type: "application/x-ndjson",
          encoding: "chunked",
          length: null,
          size: 1_000_000
        })
        // With one: sent with Content-Length.
        expect(
          yield* send(HttpClientRequest.post("/stream").pipe(HttpClientRequest.bodyStream(chunks, { contentType: "application/octet-stream", contentLength: 1_000_000 })))
        ).toEqual({ type: "application/octet-stream", encoding: null, length: "1000000", size: 1_000_000 })
      })
      yield* Effect.provide(program, VolleyHttpClient.layer({ retry: { maxAttempts: 1 } }))
    }))
})
