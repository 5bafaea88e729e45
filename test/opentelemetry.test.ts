/**
 * examples/opentelemetry.ts, offline: volley's client spans exported through
 * `@effect/opentelemetry` into OpenTelemetry's `InMemorySpanExporter`, against the example's
 * local server, which records the `traceparent` it received.
 */
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { SpanKind } from "@opentelemetry/api"
import { Effect } from "effect"
import * as VolleyHttpClient from "../src/HttpClient.js"
import { localServer, program, tracing } from "../examples/opentelemetry.js"

describe("examples/opentelemetry.ts: volley's spans through @effect/opentelemetry", () => {
  it.live("each request is an exported CLIENT span with the HTTP attributes; the server received its trace id", () =>
    Effect.gen(function*() {
      const exporter = new InMemorySpanExporter()
      const { received, spans, url } = yield* Effect.gen(function*() {
        const server = yield* localServer
        const result = yield* program(server.url)
        expect(result).toEqual({ greeting: "hello", status: 200 })
        // Read before the tracing layer shuts down (its shutdown empties the exporter).
        return { url: server.url, received: server.received, spans: exporter.getFinishedSpans() }
      }).pipe(Effect.scoped, Effect.provide(VolleyHttpClient.layer({ retry: { maxAttempts: 1 } })), Effect.provide(tracing(exporter)))

      const clients = spans.filter((s) => s.kind === SpanKind.CLIENT)
      expect(clients.map((s) => s.name)).toEqual(["http.client GET", "http.client GET"])
      const port = Number(new URL(url).port)
      const [hello, users] = clients as [ReadableSpan, ReadableSpan]
      expect(hello.attributes).toMatchObject({
        "http.request.method": "GET",
        "url.full": `${url}/hello?token=***`,
        "server.address": "127.0.0.1",
        "server.port": port,
        "http.response.status_code": 200
      })
      expect(users.attributes).toMatchObject({ "url.full": `${url}/users/1`, "http.response.status_code": 200 })
      for (const span of clients) expect(JSON.stringify(span.attributes)).not.toContain("s3cret")

      // Both under the example's own span, in one trace.
      const parent = spans.find((s) => s.name === "example")!
      for (const span of clients) {
        expect(span.spanContext().traceId).toBe(parent.spanContext().traceId)
        expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId)
      }

      // What the server received is the exported span's context, request by request.
      expect(received.map((r) => r.path)).toEqual(["/hello?token=s3cret", "/users/1"])
      for (const [i, span] of clients.entries()) {
        const traceparent = received[i]!.traceparent
        expect(traceparent).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`)
      }
    }))
})
