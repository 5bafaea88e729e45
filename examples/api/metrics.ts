/**
 * The example API's request metrics: a counter and a latency histogram per route and status.
 */
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Clock, Context, Effect, FiberRef, Metric, MetricBoundaries, MetricLabel } from "effect"

const requestsTotal = Metric.counter("http_requests_total", { description: "HTTP requests answered, by route and status" })
// What `Metric.timerWithBoundaries` makes (a histogram of milliseconds labelled
// time_unit="milliseconds"), minus its per-update label merge: see `instrument`.
const requestDuration = Metric.histogram(
  "http_request_duration",
  MetricBoundaries.fromIterable([1, 5, 10, 25, 50, 100, 250, 500, 1_000, 5_000]),
  "HTTP request latency in milliseconds"
)
const timeUnitLabel = MetricLabel.make("time_unit", "milliseconds")

/**
 * Counts each answer and times it, tagged by route (the pattern, never the raw path).
 *
 * Cheap on purpose, as it runs on every request: the label arrays are built once per route
 * and status and handed to the metrics as they are. Effect's metrics cache their registry
 * entry by the identity of that array; `Metric.tagged` (and `Metric.timerWithBoundaries`,
 * which tags too) merge labels into a new array on every update and so look the metric up in
 * the registry, hashing its key, every time. Labels set on the fiber (`Effect.tagMetrics`) are
 * still added, after the route's, as `Metric.update` would.
 */
export const instrument = (route: string) => {
  const routeLabel = MetricLabel.make("route", route)
  // The order `Metric.timerWithBoundaries` + `Metric.tagged` gave, so the series are the same.
  const durationLabels: ReadonlyArray<MetricLabel.MetricLabel> = [timeUnitLabel, routeLabel]
  const countLabels = new Map<number, ReadonlyArray<MetricLabel.MetricLabel>>()
  const countLabelsFor = (status: number) => {
    let labels = countLabels.get(status)
    if (labels === undefined) {
      labels = [routeLabel, MetricLabel.make("status", String(status))]
      countLabels.set(status, labels)
    }
    return labels
  }
  const withFiberLabels = (labels: ReadonlyArray<MetricLabel.MetricLabel>, fiberLabels: ReadonlyArray<MetricLabel.MetricLabel>) =>
    fiberLabels.length === 0 ? labels : [...labels, ...fiberLabels]
  return <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    Effect.withFiberRuntime<HttpServerResponse.HttpServerResponse, E, R>((fiber) => {
      const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
      const started = clock.unsafeCurrentTimeMillis()
      return Effect.map(handler, (response) => {
        const elapsed = clock.unsafeCurrentTimeMillis() - started
        const fiberLabels = fiber.getFiberRef(FiberRef.currentMetricLabels)
        requestsTotal.unsafeUpdate(1, withFiberLabels(countLabelsFor(response.status), fiberLabels))
        requestDuration.unsafeUpdate(elapsed, withFiberLabels(durationLabels, fiberLabels))
        return response
      })
    })
}
