/**
 * Tracing and metrics at the attempt, for both interfaces: spans recorded by an in-memory
 * tracer, the `traceparent` a real loopback server received, and the metric values.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClient } from "@effect/platform"
import { Effect, Metric, MetricLabel, Tracer } from "effect"
import * as Client from "../src/Client.js"
import * as VolleyHttpClient from "../src/HttpClient.js"
import * as Observe from "../src/Observe.js"
import * as internalObserve from "../src/internal/observe.js"
import { clientLayer, faultServer } from "./support/effect.js"

/** A tracer that keeps every span it makes (Effect's native spans, which record attributes). */
const recording = () => {
  const native = Effect.runSync(Effect.tracer)
  const spans: Array<Tracer.Span & { readonly attributes: ReadonlyMap<string, unknown> }> = []
  const tracer = Tracer.make({
    span: (...args) => {
      const span = native.span(...args) as Tracer.Span & { readonly attributes: ReadonlyMap<string, unknown> }
      spans.push(span)
      return span
    },
    context: (f) => f()
  })
  return { tracer, spans }
}

const traceparentOf = (headers: Readonly<Record<string, unknown>>) => headers["traceparent"] as string | undefined

describe("observe: spans", () => {
  it.scopedLive("one client span per request with OpenTelemetry HTTP attributes; traceparent reaches the server", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const { spans, tracer } = recording()
      yield* Client.text(`${server.url}/echo?token=secret`).pipe(Effect.provide(clientLayer()), Effect.withTracer(tracer))
      expect(spans).toHaveLength(1)
      const span = spans[0]!
      expect(span.name).toBe("http.client GET")
      expect(span.kind).toBe("client")
      expect(Object.fromEntries(span.attributes)).toMatchObject({
        "http.request.method": "GET",
        "url.full": `${server.url}/echo?token=***`,
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "http.response.status_code": 200
      })
      expect(span.status._tag).toBe("Ended")
      const received = traceparentOf(server.requests[0]!.headers)
      expect(received).toBe(`00-${span.traceId}-${span.spanId}-01`)
    }))

  it.scopedLive("the HttpClient bridge is traced the same way, under the caller's span", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const { spans, tracer } = recording()
      yield* Effect.flatMap(HttpClient.get(`${server.url}/ok`), (r) => r.text).pipe(
        Effect.withSpan("caller"),
        Effect.provide(VolleyHttpClient.layer({ retry: { maxAttempts: 1 } })),
        Effect.withTracer(tracer)
      )
      const caller = spans.find((s) => s.name === "caller")!
      const http = spans.find((s) => s.name === "http.client GET")!
      expect(http.parent._tag === "Some" && http.parent.value.spanId).toBe(caller.spanId)
      expect(traceparentOf(server.requests[0]!.headers)).toContain(http.traceId)
    }))

  it("volley reads @effect/platform's own currentTracerPropagation, without importing it", () => {
    expect(internalObserve.currentTracerPropagation).toBe(HttpClient.currentTracerPropagation)
  })

  it.scopedLive("traceparent can be turned off per pipeline (withTracerPropagation) and per host (TracePropagation)", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const { spans, tracer } = recording()
      const program = Effect.gen(function*() {
        const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerPropagation(false))
        yield* Effect.flatMap(client.get(`${server.url}/ok?n=1`), (r) => r.text)
        yield* Observe.withoutTracePropagation(Client.text(`${server.url}/ok?n=2`))
        yield* Client.text(`${server.url}/ok?n=3`).pipe(Effect.provide(Observe.layerTracePropagation((url) => url.hostname !== "127.0.0.1")))
        yield* Client.text(`${server.url}/ok?n=4`)
      })
      yield* program.pipe(Effect.provide(VolleyHttpClient.layer({ retry: { maxAttempts: 1 } })), Effect.withTracer(tracer))
      expect(server.requests.map((r) => traceparentOf(r.headers) !== undefined)).toEqual([false, false, false, true])
      // The spans are still made.
      expect(spans.filter((s) => s.name.startsWith("http.client"))).toHaveLength(4)
    }))

  it.scopedLive("error.type is volley's reason or the status; retries carry http.request.resend_count", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const { spans, tracer } = recording()
      yield* Effect.flip(Client.text("http://127.0.0.1:1/x")).pipe(Effect.provide(clientLayer()), Effect.withTracer(tracer))
      expect(spans[0]!.attributes.get("error.type")).toBe("ConnectionRefused")
      spans.length = 0
      yield* Client.text(`${server.url}/flaky?key=r&failures=1`).pipe(
        Effect.provide(Client.layer({ retry: { maxAttempts: 2, baseDelay: "1 millis", jitter: false } })),
        Effect.withTracer(tracer)
      )
      expect(spans.map((s) => [s.attributes.get("http.response.status_code"), s.attributes.get("error.type"), s.attributes.get("http.request.resend_count")]))
        .toEqual([[503, "503", undefined], [200, undefined, 1]])
    }))

  it.scopedLive("no tracer configured and no span around: no span, no traceparent", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      yield* Client.text(`${server.url}/ok`).pipe(Effect.provide(clientLayer()))
      expect(traceparentOf(server.requests[0]!.headers)).toBeUndefined()
    }))
})

describe("observe: metrics", () => {
  it.scopedLive("requests by method, host and outcome, bytes received, in flight back to zero", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const host = `127.0.0.1:${server.port}`
      const requests = (outcome: string) =>
        Metric.value(Metric.taggedWithLabels(Observe.metrics.requests, [MetricLabel.make("method", "GET"), MetricLabel.make("host", host), MetricLabel.make("outcome", outcome)]))
      yield* Effect.gen(function*() {
        yield* Client.text(`${server.url}/ok?size=1000`)
        yield* Effect.flatMap(HttpClient.get(`${server.url}/ok?size=1000`), (r) => r.text)
        yield* Effect.flip(Client.text(`${server.url}/status/404`))
      }).pipe(Effect.provide(VolleyHttpClient.layer({ retry: { maxAttempts: 1 } })))
      expect((yield* requests("ok")).count).toBe(2)
      expect((yield* requests("4xx")).count).toBe(1)
      const bytes = yield* Metric.value(Metric.taggedWithLabels(Observe.metrics.bytesReceived, [MetricLabel.make("host", host)]))
      expect(bytes.count).toBeGreaterThanOrEqual(2000)
      expect((yield* Metric.value(Observe.metrics.inFlight)).value).toBe(0)
    }))
})
