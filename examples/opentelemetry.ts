/**
 * volley's client spans exported through OpenTelemetry. `@effect/opentelemetry`'s `NodeSdk`
 * layer makes Effect's tracer an OpenTelemetry one, so every request volley sends (`Client`,
 * `Batch`, `Download`, `volley/HttpClient`) is a CLIENT span following the HTTP semantic
 * conventions (`http.request.method`, `url.full` with secrets redacted, `server.address`,
 * `server.port`, `http.response.status_code`, `error.type` on failure) under the caller's
 * span, and the server receives its W3C `traceparent` (turn that off per host with
 * `Observe.layerTracePropagation`).
 *
 *   npm run build && node dist/examples/opentelemetry.js
 *
 * It starts its own server on 127.0.0.1, which records the `traceparent` it received; the
 * spans go to the console exporter. For a collector, pass an OTLP exporter
 * (`@opentelemetry/exporter-trace-otlp-http`) to {@link tracing} instead.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpClient from "@effect/platform/HttpClient"
import { ConsoleSpanExporter, SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Console, Effect } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { pathToFileURL } from "node:url"
import * as Client from "../src/Client.js"
import * as VolleyHttpClient from "../src/HttpClient.js"

/**
 * Tracing through OpenTelemetry: every span (volley's included) goes to `exporter`, one by one
 * (`SimpleSpanProcessor`; a `BatchSpanProcessor` suits production).
 */
export const tracing = (exporter: SpanExporter) =>
  NodeSdk.layer(() => ({ resource: { serviceName: "volley-example" }, spanProcessor: new SimpleSpanProcessor(exporter) }))

/** Two requests under one span: one through volley's `Client`, one through `HttpClient`. */
export const program = (baseUrl: string) =>
  Effect.gen(function*() {
    // The token is sent; the span's url.full shows `token=***`.
    const greeting = yield* Client.text(`${baseUrl}/hello?token=s3cret`)
    const response = yield* Effect.flatMap(HttpClient.HttpClient, (client) => client.get(`${baseUrl}/users/1`))
    return { greeting, status: response.status }
  }).pipe(Effect.withSpan("example"))

/** What the local server received: each request's path and `traceparent`. */
export interface Received {
  readonly path: string
  readonly traceparent: string | undefined
}

/** A local server on 127.0.0.1 that answers every request and records the `traceparent` it received. */
export const localServer = Effect.acquireRelease(
  Effect.async<{ readonly server: http.Server; readonly received: Array<Received> }>((resume) => {
    const received: Array<Received> = []
    const server = http.createServer((req, res) => {
      received.push({ path: req.url ?? "", traceparent: req.headers["traceparent"] as string | undefined })
      res.writeHead(200, { "content-type": "text/plain" }).end("hello")
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, received })))
  }),
  ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
).pipe(Effect.map(({ received, server }) => ({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received })))

const main = Effect.gen(function*() {
  const server = yield* localServer
  const result = yield* program(server.url)
  yield* Console.log(`client: ${result.greeting}, then ${result.status}`)
  for (const { path, traceparent } of server.received) {
    yield* Console.log(`server received ${path.replace(/token=[^&]*/, "token=***")} with traceparent ${traceparent}`)
  }
}).pipe(
  Effect.scoped,
  Effect.provide(VolleyHttpClient.layer()),
  // The tracer is provided outermost: its layer's shutdown flushes the spans when main ends.
  Effect.provide(tracing(new ConsoleSpanExporter()))
)

// Run when executed directly (node dist/examples/opentelemetry.js), not when imported by the tests.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  NodeRuntime.runMain(main)
}
