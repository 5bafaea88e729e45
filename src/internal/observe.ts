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
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import type { InvalidRequestError, NetworkError } from "../Errors.js"
import type { BodySource, ResponseTiming, Timeout, TransportResponse } from "../Client.js"
import type { PreparedRequest } from "./client/request.js"

/**
 * `@effect/platform`'s `HttpClient.currentTracerPropagation`, the same FiberRef (one global
 * value under its key; test/observe.test.ts checks they are one), without loading that module,
 * which loads `effect/Schema` (about 10 MiB): bench row `Download.file peak RSS`.
 */
export const currentTracerPropagation: FiberRef.FiberRef<boolean> = globalValue(
  Symbol.for("@effect/platform/HttpClient/currentTracerPropagation"),
  () => FiberRef.unsafeMake(true)
)

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

/** The label sets of one method and host, built once: with a cached label array, a metric
 * update is a `WeakMap` hit and an add (building labels, or a key string to find them, cost
 * more than the update itself). */
class Target {
  readonly methodHost: ReadonlyArray<MetricLabel.MetricLabel>
  readonly host: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly outcomes = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
  constructor(private readonly methodLabel: MetricLabel.MetricLabel, private readonly hostLabel: MetricLabel.MetricLabel) {
    this.methodHost = [methodLabel, hostLabel]
    this.host = [hostLabel]
  }
  outcome(outcome: string): ReadonlyArray<MetricLabel.MetricLabel> {
    let labels = this.outcomes.get(outcome)
    if (labels === undefined) {
      labels = [this.methodLabel, this.hostLabel, MetricLabel.make("outcome", outcome)]
      this.outcomes.set(outcome, labels)
    }
    return labels
  }
}

/** Method, then host. Bounded: a program that talks to endless hosts builds labels per request instead of growing this. */
const targets = new Map<string, Map<string, Target>>()
let targetCount = 0
const targetOf = (method: string, host: string): Target => {
  let byHost = targets.get(method)
  if (byHost === undefined) {
    byHost = new Map()
    if (targets.size < 64) targets.set(method, byHost)
  }
  let target = byHost.get(host)
  if (target === undefined) {
    target = new Target(MetricLabel.make("method", method), MetricLabel.make("host", host))
    if (targetCount < 4096) {
      byHost.set(host, target)
      targetCount++
    }
  }
  return target
}

let inFlight = 0

/** The tracer every fiber has unless the program configured one (spans go nowhere). */
const defaultTracer = Effect.runSync(Effect.tracer)

/** One exchange under observation. */
export interface Observation {
  /** The request to send: with `traceparent` when it is propagated. */
  readonly request: PreparedRequest
  /** The response with its body wrapped, so its release ends the span and the metrics (call as a method). */
  wrap(response: TransportResponse): TransportResponse
  /** The send failed (or was interrupted) before a response arrived (call as a method). */
  fail(cause: Cause.Cause<NetworkError | InvalidRequestError>): void
}

const errorType = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return Cause.isInterruptedOnly(cause) ? "Interrupted" : "Defect"
  const error = failure.value as { readonly _tag?: string; readonly reason?: string }
  return error.reason ?? error._tag ?? "Error"
}

const outcomeOf = (status: number): string => status < 400 ? "ok" : status < 500 ? "4xx" : status < 600 ? "5xx" : `${Math.floor(status / 100)}xx`

/**
 * The response as the caller reads it: its body counted by the observation. A class, not an
 * object literal (see `client/hotPath.ts`, pretenuring), nor `{ ...response, body }` (V8 makes
 * a slow object of that spread). Its fields are the transport's `Received`; one class for both
 * cost 2-7% more CPU per `Client.text` request in three paired runs (`node dist/bench/paired.js
 * volley-client`), so each allocation point keeps its own.
 */
class ObservedResponse implements TransportResponse {
  constructor(
    readonly status: number,
    readonly headers: Readonly<Record<string, string>>,
    readonly body: BodySource,
    readonly timing: ResponseTiming | undefined
  ) {}
}

/**
 * One exchange: the observation the attempt holds and, once a response arrived, the body
 * handed on in place of the transport's (counting bytes, ending the span and the metrics on
 * release). A class, one object per exchange, because closures for each of these would be
 * allocated on every request (what an untraced request must not pay for).
 */
class Exchange implements Observation, BodySource {
  contentLength: number | undefined = undefined
  private body: BodySource | undefined = undefined
  private received = 0
  private outcome = ""
  private statusError: string | undefined = undefined
  private bodyError: string | undefined = undefined
  private ended = false

  constructor(
    public request: PreparedRequest,
    private readonly target: Target,
    private readonly clock: Clock.Clock,
    private readonly startedAt: number,
    private readonly span: Tracer.Span | undefined
  ) {}

  wrap(response: TransportResponse): TransportResponse {
    const status = response.status
    this.span?.attribute("http.response.status_code", status)
    this.body = response.body
    this.contentLength = response.body.contentLength
    this.outcome = outcomeOf(status)
    if (status >= 400) this.statusError = String(status)
    return new ObservedResponse(status, response.headers, this, response.timing)
  }

  fail(cause: Cause.Cause<NetworkError | InvalidRequestError>): void {
    const type = errorType(cause)
    this.end(type, Exit.failCause(cause), type)
  }

  poll(): Uint8Array | null | undefined {
    const chunk = this.body!.poll()
    if (chunk) this.received += chunk.length
    return chunk
  }

  /** Body failures are only put on the span (the metrics counted the status): wrapped only when there is one. */
  wait(timeout: Timeout | undefined): Effect.Effect<void, NetworkError> {
    const waiting = this.body!.wait(timeout)
    return this.span === undefined ? waiting : Effect.tapErrorCause(waiting, (cause) =>
      Effect.sync(() => {
        this.bodyError = errorType(cause)
      }))
  }

  release(abort: boolean): void {
    this.body!.release(abort)
    if (this.received > 0) metrics.bytesReceived.unsafeUpdate(this.received, this.target.host)
    this.received = 0
    this.end(this.outcome, Exit.void, this.bodyError ?? this.statusError)
  }

  private end(outcome: string, exit: Exit.Exit<unknown, unknown>, error: string | undefined): void {
    if (this.ended) return
    this.ended = true
    inFlight--
    metrics.inFlight.unsafeUpdate(inFlight, noLabels)
    const target = this.target
    metrics.requests.unsafeUpdate(1, target.outcome(outcome))
    metrics.duration.unsafeUpdate((this.clock.unsafeCurrentTimeMillis() - this.startedAt) / 1000, target.methodHost)
    const span = this.span
    if (span !== undefined) {
      if (error !== undefined) span.attribute("error.type", error)
      span.end(this.clock.unsafeCurrentTimeNanos(), exit)
    }
  }
}

const noLabels: ReadonlyArray<MetricLabel.MetricLabel> = []

/**
 * Starts observing one exchange: `request` sent as hop `hop` (0 for the first) of an
 * attempt that is retry number `retry` (0 for the first) of its call, by `fiber` on `clock`.
 */
export const start = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  clock: Clock.Clock,
  request: PreparedRequest,
  hop: number,
  retry: number
): Observation => {
  const url = request.url
  const method = request.method
  const target = targetOf(method, url.host)
  if (retry > 0 && hop === 0) metrics.retries.unsafeUpdate(1, target.methodHost)
  // Milliseconds (a double) for the metrics; nanoseconds (a bigint, dearer) only for a span.
  const startedAt = clock.unsafeCurrentTimeMillis()
  inFlight++
  metrics.inFlight.unsafeUpdate(inFlight, noLabels)

  // Fields the fiber keeps current (no context lookup): a span only with a tracer configured
  // or a span around the call.
  const tracer = fiber.currentTracer
  const parentSpan = fiber.currentSpan
  if ((tracer === defaultTracer && parentSpan === undefined) || !fiber.getFiberRef(FiberRef.currentTracerEnabled)) {
    return new Exchange(request, target, clock, startedAt, undefined)
  }
  const parent = parentSpan === undefined ? Option.none() : Option.some(parentSpan)
  const span = tracer.span(`http.client ${method}`, parent, Context.empty(), [], clock.unsafeCurrentTimeNanos(), "client", { captureStackTrace: false })
  span.attribute("http.request.method", method)
  span.attribute("url.full", request.redactedUrl)
  span.attribute("url.scheme", url.protocol.slice(0, -1))
  span.attribute("server.address", url.hostname)
  span.attribute("server.port", url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80)
  const counted = hop === 0 ? retry : 0
  const resent = counted + hop
  if (resent > 0) span.attribute("http.request.resend_count", resent)
  if (counted > 0) span.attribute("volley.retry", counted)
  if (hop > 0) span.attribute("volley.redirect", hop)
  let sent = request
  if (fiber.getFiberRef(currentTracerPropagation) && Context.get(fiber.currentContext, TracePropagation)(url)) {
    const traceparent = `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`
    sent = { ...request, headers: { ...request.headers, traceparent } }
  }
  return new Exchange(sent, target, clock, startedAt, span)
}
