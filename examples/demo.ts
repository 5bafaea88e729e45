/**
 * The `npm start` demo: everything volley does, on loopback, with no network beyond
 * 127.0.0.1.
 *
 * 1. starts the example REST API (examples/api.ts) on a free port;
 * 2. fans out a batch of requests at it with `Batch` (bounded, one outcome per input);
 * 3. downloads a file from it with `Download`, verified against its published checksum;
 * 4. registers users, each stored with its welcome email job in one transaction on the
 *    durable job queue (a SQLite file in the demo's temporary folder: no setup);
 * 5. prints a summary, with volley's request metrics (`Observe.metrics`: outcomes, durations,
 *    in flight, retries, bytes), then shuts the server down gracefully: in-flight requests
 *    finish and every queued email is sent before the process exits.
 *
 *   npm start            (builds, then runs node dist/examples/demo.js)
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpServer from "@effect/platform/HttpServer"
import { Console, Duration, Effect, Exit, Layer, Metric, MetricState, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Batch from "../src/Batch.js"
import * as Client from "../src/Client.js"
import * as Download from "../src/Download.js"
import * as DurableJobs from "../src/server/DurableJobs.js"
import * as Api from "./api.js"

const line = (label: string, value: string) => Console.log(`  ${label.padEnd(22)} ${value}`)
const ms = (n: number) => `${n.toFixed(1)} ms`
const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`

/** Prints a Batch summary as a few readable lines. */
const printSummary = (title: string, summary: Batch.Summary) =>
  Effect.gen(function*() {
    yield* Console.log(`\n${title}`)
    yield* line("requests", `${summary.total} (${summary.succeeded} ok, ${summary.failed} failed)`)
    yield* line("outcomes", Object.entries(summary.outcomes).map(([k, v]) => `${k}: ${v}`).join(", "))
    yield* line("latency", `p50 ${ms(summary.latency.p50)}, p90 ${ms(summary.latency.p90)}, p99 ${ms(summary.latency.p99)}, max ${ms(summary.latency.max)}`)
    yield* line("throughput", `${summary.throughput.toFixed(0)} req/s over ${ms(summary.elapsedMs)}`)
  })

const labelOf = (tags: ReadonlyArray<{ readonly key: string; readonly value: string }>, key: string) =>
  tags.find((t) => t.key === key)?.value ?? "?"

/**
 * volley's request metrics (`Observe.metrics`: the `volley_http_client_*` Effect Metrics that
 * `Prometheus.handler` would serve), summed over methods and hosts: every exchange the
 * demo's client sent.
 */
export const printClientMetrics = Effect.gen(function*() {
  const names = {
    requests: "volley_http_client_requests_total",
    duration: "volley_http_client_request_duration_seconds",
    inFlight: "volley_http_client_requests_in_flight",
    retries: "volley_http_client_retries_total",
    bytes: "volley_http_client_received_bytes_total"
  }
  const pairs = yield* Metric.snapshot
  const outcomes = new Map<string, number>()
  const methods = new Map<string, number>()
  let total = 0
  let retries = 0
  let bytes = 0
  let inFlight = 0
  // One histogram per method and host: buckets (cumulative counts per bound) added up.
  const buckets = new Map<number, number>()
  let count = 0
  let max = 0
  let sum = 0
  for (const { metricKey, metricState } of pairs) {
    if (metricKey.name === names.requests && MetricState.isCounterState(metricState)) {
      const n = Number(metricState.count)
      total += n
      const outcome = labelOf(metricKey.tags, "outcome")
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + n)
      const method = labelOf(metricKey.tags, "method")
      methods.set(method, (methods.get(method) ?? 0) + n)
    } else if (metricKey.name === names.retries && MetricState.isCounterState(metricState)) {
      retries += Number(metricState.count)
    } else if (metricKey.name === names.bytes && MetricState.isCounterState(metricState)) {
      bytes += Number(metricState.count)
    } else if (metricKey.name === names.inFlight && MetricState.isGaugeState(metricState)) {
      inFlight += Number(metricState.value)
    } else if (metricKey.name === names.duration && MetricState.isHistogramState(metricState) && metricState.count > 0) {
      for (const [bound, n] of metricState.buckets) buckets.set(bound, (buckets.get(bound) ?? 0) + n)
      count += metricState.count
      max = Math.max(max, metricState.max)
      sum += metricState.sum
    }
  }
  const list = (m: Map<string, number>) => [...m].sort(([, a], [, b]) => b - a).map(([k, v]) => `${k} ${v}`).join(", ")
  /** The bucket bound at or under which a `q` share of the exchanges ended. */
  const quantile = (q: number) => {
    for (const [bound, n] of [...buckets].sort(([a], [b]) => a - b)) if (n >= q * count) return `≤ ${ms(bound * 1000)}`
    return `> ${ms(Math.max(...buckets.keys()) * 1000)}`
  }
  // The demo's own requests and the API's: its /dashboard calls three upstreams through
  // volley, one of which is made to time out now and then.
  yield* Console.log("\nvolley's request metrics, this process (volley/Observe: Effect Metrics, as Prometheus.handler serves them)")
  yield* line("exchanges", `${total}: ${list(outcomes)} (${list(methods)})`)
  const timeouts = outcomes.get("Timeout") ?? 0
  if (timeouts > 0) {
    // Not failures of the fan-out above: the dashboard's own upstream calls, where the
    // recommendations service is made slow on every fourth call and its 300 ms deadline fires.
    yield* line("", `(Timeout ${timeouts}: /dashboard's recommendations upstream, slow on purpose every 4th call,`)
    yield* line("", " cut by its 300 ms deadline; the dashboard answered without it, so its requests were ok)")
  }
  if (count > 0) {
    yield* line("duration", `mean ${ms((sum / count) * 1000)}, p50 ${quantile(0.5)}, p99 ${quantile(0.99)}, max ${ms(max * 1000)}`)
  }
  yield* line("in flight", String(inFlight))
  yield* line("retries", String(retries))
  yield* line("bytes received", mib(bytes))
})

const demo = (baseUrl: string, workDir: string) =>
  Effect.gen(function*() {
    // 2. Fan-out: 300 reads across three routes, 32 at a time, at most 16 per host.
    const urls = Array.from({ length: 300 }, (_, i) => `${baseUrl}${["/health", "/dashboard", "/files/report.bin.sha256"][i % 3]}`)
    const fanOut = yield* Batch.settle(urls, { concurrency: 32, perHost: 16, itemDeadline: "2 seconds" })
    yield* printSummary("Fan-out with Batch.settle (300 GETs, concurrency 32, per-host 16)", Batch.summarize(fanOut))

    // 3. A verified download: the checksum is published beside the file.
    const published = yield* Client.text(`${baseUrl}/files/report.bin.sha256`)
    const expected = `sha256:${published.split(/\s+/)[0]}`
    const file = yield* Download.file(`${baseUrl}/files/report.bin`, { dir: path.join(workDir, "downloads"), checksum: expected })
    yield* Console.log("\nDownload (streamed to a .part file, hashed while streaming, renamed when verified)")
    yield* line("file", `${path.basename(file.path)}, ${mib(file.size)}`)
    yield* line("checksum", `${file.checksum.algorithm}:${file.checksum.hex.slice(0, 16)}… ${file.verified ? "verified" : "NOT verified"}`)

    // 4. Sign-ups: each answers 201 at once and queues a welcome email (about 1 s each).
    const signUps = Array.from({ length: 24 }, (_, i) =>
      HttpClientRequest.post(`${baseUrl}/users`).pipe(HttpClientRequest.bodyUnsafeJson({ name: `user${i}`, email: `user${i}@example.com` })))
    const created = yield* Batch.settle(signUps, { concurrency: 8 })
    yield* printSummary("Sign-ups with Batch.settle (24 POST /users; each queues a background email)", Batch.summarize(created))
    const jobs = yield* Effect.flatMap(DurableJobs.DurableJobs, (queue) => queue.stats)
    yield* line("email jobs right now", `${jobs.queued} queued, ${jobs.running} running, ${jobs.done} sent (stored in SQLite)`)
    yield* printClientMetrics
    return { signUps: created.filter(Batch.isSuccess).length }
  })

/** The whole demo, as one program (also run by `volley demo`). */
export const program = Effect.gen(function*() {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-demo-"))
  const outbox = path.join(workDir, "outbox")
  yield* Console.log("volley demo: everything runs on 127.0.0.1\n")

  // 1. The server lives in its own scope so the demo can close it (gracefully) and then report.
  const serverScope = yield* Scope.make()
  const serverContext = yield* Layer.buildWithScope(
    Api.durableLayer({ port: 0, outbox, mailLatency: "1 second", workers: 4, db: `file:${path.join(workDir, "volley.db")}` }),
    serverScope
  )
  const address = yield* Effect.provide(HttpServer.HttpServer, serverContext).pipe(Effect.map((s) => s.address))
  const baseUrl = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "http://127.0.0.1"
  yield* line("server", `${baseUrl} (example REST API: users, dashboard, files, health, metrics)`)

  const { signUps } = yield* demo(baseUrl, workDir).pipe(
    Effect.provide(Client.layer({ connectionsPerOrigin: 32 })),
    Effect.provide(serverContext)
  )

  // 5. Graceful shutdown: stop accepting, finish in-flight requests, drain the email queue.
  const pool = yield* Effect.provide(DurableJobs.DurableJobs, serverContext)
  const started = Date.now()
  yield* Console.log("\nShutting down: draining requests, then the email queue…")
  yield* Scope.close(serverScope, Exit.void)
  const drain = yield* pool.drained
  const sent = fs.readdirSync(outbox).filter((f) => f.endsWith(".eml")).length
  yield* line("drain", `${drain.completed} jobs finished in ${Duration.format(Duration.millis(Date.now() - started))}, ${drain.abandoned.length} abandoned`)
  yield* line("emails in the outbox", `${sent} of ${signUps} (${outbox})`)
  fs.rmSync(workDir, { recursive: true, force: true })
  if (sent !== signUps || drain.abandoned.length > 0) return yield* Effect.fail(new Error("some emails were not sent"))
  yield* Console.log("\nDone: every request bounded, every body released, every job drained.")
})

// Run when executed directly (node dist/examples/demo.js), not when imported by the CLI.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  NodeRuntime.runMain(program)
}
