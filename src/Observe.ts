/**
 * What volley reports about its requests, whichever interface sent them (`Client`, `Batch`,
 * `Download`, `volley/HttpClient`): one client span per HTTP exchange (OpenTelemetry HTTP
 * semantic conventions; retries and redirect hops are exchanges of their own, with
 * `http.request.resend_count`) and Effect Metrics, which `Prometheus.handler` renders.
 *
 * Spans are made when a tracer is configured (e.g. `@effect/opentelemetry`) or a span is
 * active around the call. W3C `traceparent` goes with every traced request unless turned off:
 * per request or pipeline with `@effect/platform`'s `HttpClient.withTracerPropagation(false)`
 * (or {@link withoutTracePropagation}), per host with {@link TracePropagation}.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as internal from "./internal/observe.js"

/**
 * Which request URLs may carry `traceparent` (default: all). A `Context.Reference`: set it
 * with {@link layerTracePropagation} or `Effect.provideService`.
 *
 * @category observability
 * @since 0.1.0
 */
export const TracePropagation: typeof internal.TracePropagation = internal.TracePropagation

/**
 * Propagates trace context only to URLs `allow` accepts, e.g. your own hosts:
 * `Observe.layerTracePropagation((url) => url.hostname.endsWith(".internal.example"))`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTracePropagation = (allow: (url: URL) => boolean): Layer.Layer<never> =>
  Layer.succeedContext(internal.TracePropagation.context(allow))

/**
 * Runs `effect` with no `traceparent` on its requests (the spans are still made).
 *
 * @category observability
 * @since 0.1.0
 */
export const withoutTracePropagation = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(effect, HttpClient.currentTracerPropagation, false)

/**
 * volley's request metrics: `volley_http_client_requests_total` (method, host, outcome: `ok`,
 * `4xx`, `5xx` or the network reason), `volley_http_client_request_duration_seconds`,
 * `volley_http_client_requests_in_flight`, `volley_http_client_retries_total`,
 * `volley_http_client_received_bytes_total`.
 *
 * @category observability
 * @since 0.1.0
 */
export const metrics = internal.metrics
