/**
 * Effect metrics in the Prometheus text exposition format, for a `GET /metrics` route.
 *
 * Every `Metric` the program updated (volley's request and job metrics, and the user's own)
 * lives in Effect's global registry; this renders a snapshot of it. No extra dependency.
 *
 * @since 0.1.0
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"

const sanitizeName = (name: string): string => name.replace(/[^a-zA-Z0-9_:]/g, "_")
const escapeLabel = (value: string): string => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")
const number = (n: number | bigint): string =>
  typeof n === "bigint" ? n.toString() : Number.isNaN(n) ? "NaN" : n === Infinity ? "+Inf" : n === -Infinity ? "-Inf" : String(n)

const labels = (pairs: ReadonlyArray<readonly [string, string]>): string =>
  pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${sanitizeName(k)}="${escapeLabel(v)}"`).join(",")}}`

/**
 * Renders metric pairs as Prometheus text. Series of one name are grouped under one
 * `# HELP` / `# TYPE` header, as the format requires.
 *
 * @category metrics
 * @since 0.1.0
 */
export const render = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, { type: string; help: string | undefined; lines: Array<string> }>()
  const family = (name: string, type: string, help: Option.Option<string>) => {
    let f = families.get(name)
    if (f === undefined) {
      f = { type, help: Option.getOrUndefined(help), lines: [] }
      families.set(name, f)
    }
    return f
  }
  for (const pair of pairs) {
    const key = pair.metricKey
    const name = sanitizeName(key.name)
    const tags = key.tags.map((t) => [t.key, t.value] as const)
    const state: unknown = pair.metricState
    if (MetricState.isCounterState(state)) {
      family(name, "counter", key.description).lines.push(`${name}${labels(tags)} ${number(state.count)}`)
    } else if (MetricState.isGaugeState(state)) {
      family(name, "gauge", key.description).lines.push(`${name}${labels(tags)} ${number(state.value)}`)
    } else if (MetricState.isHistogramState(state)) {
      const f = family(name, "histogram", key.description)
      for (const [bound, cumulative] of state.buckets) {
        if (bound === Infinity) continue // written once below, as the format's own +Inf bucket
        f.lines.push(`${name}_bucket${labels([...tags, ["le", number(bound)]])} ${cumulative}`)
      }
      f.lines.push(`${name}_bucket${labels([...tags, ["le", "+Inf"]])} ${state.count}`)
      f.lines.push(`${name}_sum${labels(tags)} ${number(state.sum)}`)
      f.lines.push(`${name}_count${labels(tags)} ${state.count}`)
    } else if (MetricState.isSummaryState(state)) {
      const f = family(name, "summary", key.description)
      for (const [q, value] of state.quantiles) {
        f.lines.push(`${name}${labels([...tags, ["quantile", String(q)]])} ${Option.match(value, { onNone: () => "NaN", onSome: number })}`)
      }
      f.lines.push(`${name}_sum${labels(tags)} ${number(state.sum)}`)
      f.lines.push(`${name}_count${labels(tags)} ${state.count}`)
    } else if (MetricState.isFrequencyState(state)) {
      const f = family(name, "counter", key.description)
      for (const [value, count] of state.occurrences) {
        f.lines.push(`${name}${labels([...tags, ["value", value]])} ${count}`)
      }
    }
  }
  const out: Array<string> = []
  for (const [name, f] of [...families].sort(([a], [b]) => a.localeCompare(b))) {
    if (f.help !== undefined) out.push(`# HELP ${name} ${f.help.replace(/\n/g, " ")}`)
    out.push(`# TYPE ${name} ${f.type}`)
    out.push(...f.lines) // in insertion order: histogram buckets must stay ascending
  }
  return out.join("\n") + "\n"
}

/**
 * The current snapshot of every metric, as Prometheus text.
 *
 * @category metrics
 * @since 0.1.0
 */
export const text: Effect.Effect<string> = Effect.map(Metric.snapshot, render)

/**
 * A handler answering with the metrics snapshot and the Prometheus content type.
 *
 * @category metrics
 * @since 0.1.0
 */
export const handler: Effect.Effect<HttpServerResponse.HttpServerResponse> = Effect.map(text, (body) =>
  HttpServerResponse.text(body, { contentType: "text/plain; version=0.0.4; charset=utf-8" }))
