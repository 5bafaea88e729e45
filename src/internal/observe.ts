/**
 * Tracing and metrics at the attempt: one client span per HTTP exchange (each retry and each
 * redirect hop is its own exchange, as OpenTelemetry's HTTP conventions count them) and Effect
 * Metrics, for every request volley sends, whichever interface sent it.
 *
 * The client core calls {@link start} when it sends, the returned {@link Observation}'s
 * `fail` when the send fails, and `wrap` on the response it got: the span and the metrics end
 * when the body is released. All of it is synchronous, so it adds no runtime step to a
 * request; with no tracer configured and no span around the call, no span is made.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import type { InvalidRequestError, NetworkError } from "../Errors.js"
import type { BodySource, Timeout, TransportResponse } from "../Client.js"
import type { PreparedRequest } from "./client/request.js"

/** Whether a request to `url` may carry a W3C `traceparent` (so trace ids stay off third parties). */
export type PropagationFilter = (url: URL) => boolean

/** Per-host control of `traceparent`: a Reference, so a layer or `Effect.provideService` sets it. */
export class TracePropagation extends Context.Reference<TracePropagation>()("volley/TracePropagation", {
  defaultValue: (): PropagationFilter => () => true
}) {}

export const metrics = {
  requests: Metric.counter("volley_http_client_requests_total", {
    description: "HTTP exchanges sent by volley's client, by method, host and outcome (ok, 4xx, 5xx, or the network reason)",
    incremental: true
  }),
  duration: Metric.histogram(
    "volley_http_client_request_duration_seconds",
    MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 16 }),
    "Time from sending an HTTP exchange until its body was released, by method and host"
  ),
  inFlight: Metric.gauge("volley_http_client_requests_in_flight", { description: "HTTP exchanges sent and not yet released" }),
  retries: Metric.counter("volley_http_client_retries_total", { description: "Exchanges that resent a request (a retry), by method and host", incremental: true }),
  bytesReceived: Metric.counter("volley_http_client_received_bytes_total", { description: "Response body bytes received, by host", incremental: true })
} as const

/** Label arrays are reused per combination: building them is most of a metric update's cost. */
const labelCache = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
const labels = (key: string, make: () => ReadonlyArray<readonly [string, string]>): ReadonlyArray<MetricLabel.MetricLabel> => {
  let cached = labelCache.get(key)
  if (cached === undefined) {
    cached = make().map(([name, value]) => MetricLabel.make(name, value))
    // Bounded: a program that talks to endless hosts rebuilds labels instead of growing this.
    if (labelCache.size < 4096) labelCache.set(key, cached)
  }
  return cached
}

let inFlight = 0

/** The tracer every fiber has unless the program configured one (spans go nowhere). */
const defaultTracer = Effect.runSync(Effect.tracer)

/** How many times each prepared request was started: a retry starts the same one again. */
const starts = new WeakMap<PreparedRequest, number>()

/** One exchange under observation. */
export interface Observation {
  /** The request to send: with `traceparent` when it is propagated. */
  readonly request: PreparedRequest
  /** The response with its body wrapped, so its release ends the span and the metrics. */
  readonly wrap: (response: TransportResponse) => TransportResponse
  /** The send failed (or was interrupted) before a response arrived. */
  readonly fail: (cause: Cause.Cause<NetworkError | InvalidRequestError>) => void
}

const errorType = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return Cause.isInterruptedOnly(cause) ? "Interrupted" : "Defect"
  const error = failure.value as { readonly _tag?: string; readonly reason?: string }
  return error.reason ?? error._tag ?? "Error"
}

const outcomeOf = (status: number): string => status < 400 ? "ok" : `${Math.floor(status / 100)}xx`

/**
 * Starts observing one exchange: `request` sent as hop `hop` (0 for the first) of an
 * attempt, by `fiber` on `clock`.
 */
export const start = (fiber: Fiber.RuntimeFiber<unknown, unknown>, clock: Clock.Clock, request: PreparedRequest, hop: number): Observation => {
  const url = request.url
  const method = request.method
  const host = url.host
  let retry = 0
  if (hop === 0) {
    retry = starts.get(request) ?? 0
    starts.set(request, retry + 1)
    if (retry > 0) metrics.retries.unsafeUpdate(1, labels(`m ${method} ${host}`, () => [["method", method], ["host", host]]))
  }
  // Milliseconds (a double) for the metrics; nanoseconds (a bigint, dearer) only for a span.
  const startedAt = clock.unsafeCurrentTimeMillis()
  inFlight++
  metrics.inFlight.unsafeUpdate(inFlight, [])

  let span: Tracer.Span | undefined
  let sent = request
  const tracer = Context.get(fiber.currentDefaultServices, Tracer.Tracer)
  const parent = Context.getOption(fiber.currentContext, Tracer.ParentSpan)
  if (fiber.getFiberRef(FiberRef.currentTracerEnabled) && (tracer !== defaultTracer || Option.isSome(parent))) {
    span = tracer.span(`http.client ${method}`, parent, Context.empty(), [], clock.unsafeCurrentTimeNanos(), "client", { captureStackTrace: false })
    span.attribute("http.request.method", method)
    span.attribute("url.full", request.redactedUrl)
    span.attribute("url.scheme", url.protocol.slice(0, -1))
    span.attribute("server.address", url.hostname)
    span.attribute("server.port", url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80)
    const resent = retry + hop
    if (resent > 0) span.attribute("http.request.resend_count", resent)
    if (retry > 0) span.attribute("volley.retry", retry)
    if (hop > 0) span.attribute("volley.redirect", hop)
    if (fiber.getFiberRef(HttpClient.currentTracerPropagation) && Context.get(fiber.currentContext, TracePropagation)(url)) {
      const traceparent = `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`
      sent = { ...request, headers: { ...request.headers, traceparent } }
    }
  }

  let ended = false
  const end = (outcome: string, exit: Exit.Exit<unknown, unknown>, error: string | undefined) => {
    if (ended) return
    ended = true
    inFlight--
    metrics.inFlight.unsafeUpdate(inFlight, [])
    metrics.requests.unsafeUpdate(1, labels(`o ${method} ${host} ${outcome}`, () => [["method", method], ["host", host], ["outcome", outcome]]))
    metrics.duration.unsafeUpdate((clock.unsafeCurrentTimeMillis() - startedAt) / 1000, labels(`m ${method} ${host}`, () => [["method", method], ["host", host]]))
    if (span !== undefined) {
      if (error !== undefined) span.attribute("error.type", error)
      span.end(clock.unsafeCurrentTimeNanos(), exit)
    }
  }

  const wrap = (response: TransportResponse): TransportResponse => {
    span?.attribute("http.response.status_code", response.status)
    const body = response.body
    const outcome = outcomeOf(response.status)
    const statusError = response.status >= 400 ? String(response.status) : undefined
    let received = 0
    let bodyError: string | undefined
    const failBody = (cause: Cause.Cause<NetworkError>) =>
      Effect.sync(() => {
        bodyError = errorType(cause)
      })
    const counted: BodySource = {
      contentLength: body.contentLength,
      poll: () => {
        const chunk = body.poll()
        if (chunk) received += chunk.length
        return chunk
      },
      // Body failures are only put on the span (the metrics counted the status): wrapped only
      // when there is a span, so an untraced request pays no step for it. `wait` is called
      // as a method of the transport's body (it may rely on `this`).
      wait: (timeout: Timeout | undefined) => span === undefined ? body.wait(timeout) : Effect.tapErrorCause(body.wait(timeout), failBody),
      release: (abort) => {
        body.release(abort)
        if (received > 0) metrics.bytesReceived.unsafeUpdate(received, labels(`h ${host}`, () => [["host", host]]))
        received = 0
        end(outcome, Exit.void, bodyError ?? statusError)
      }
    }
    // The transport's response as it is, with the counting body in place of its own.
    return { ...response, body: counted }
  }

  const fail = (cause: Cause.Cause<NetworkError | InvalidRequestError>) => {
    const type = errorType(cause)
    end(type, Exit.failCause(cause), type)
  }

  return { request: sent, wrap, fail }
}
