/**
 * HTTP fan-out benchmark: the same workloads through volley's `Batch` and through what a
 * user would otherwise write — undici `request` + p-limit (the baseline), global `fetch` +
 * p-limit, and the plain `@effect/platform` HttpClient with `Effect.forEach`; and the floor of
 * any Effect client over undici (`effect-undici`: one `Effect.async` per request around the
 * dispatcher), which tells volley's own cost from the Effect runtime's.
 *
 * 1. 20,000 GETs of a small body at concurrency 64 (throughput-bound);
 * 2. 10,000 GETs that each take 50 ms at concurrency 200 (ideal 2.5 s). On 2 shared cores the
 *    client's event loop is busy about 70% of this run (the `loop` column), so responses wait
 *    behind its own work and its wall follows its CPU;
 * 3. 4,000 GETs that each take 200 ms at concurrency 200 (ideal 4 s), no target: the same
 *    fan-out with the client's loop mostly idle, where the wall shows the latency a client
 *    adds rather than its CPU.
 * (`VOLLEY_BENCH_HTTP_SCALE=0.1` runs a tenth of each, to check the bench itself.)
 *
 * The target is a plain node:http server (keep-alive) in its own process; each contender
 * runs in its own process (so peak RSS is its own), with a pool capped at the concurrency.
 * Contenders alternate over `VOLLEY_BENCH_ROUNDS` rounds (default 2); the table shows each
 * one's best wall and CPU time and its highest peak RSS, as ratios to undici + p-limit, and the
 * share of the best-wall run its event loop was busy (`loop`). The target server shares the
 * machine's cores, so on a busy machine CPU time is the steadier figure of a client's own cost.
 *
 *   npm run build && node dist/bench/http.js
 */
import { type ChildProcess, fork } from "node:child_process"
import { pathToFileURL } from "node:url"
import type { Build } from "./internal/builds.js"
import * as Targets from "./internal/targets.js"

export interface Workload {
  readonly name: string
  readonly path: string
  readonly count: number
  readonly concurrency: number
  /** The budget for volley's wall time, as a ratio to the baseline; none for a diagnostic row. */
  readonly target: number | undefined
  /** Short name in the targets table. */
  readonly short: string
}

// `VOLLEY_BENCH_HTTP_SCALE=0.1`: a tenth of the requests, for checking the bench itself.
const scale = Number(process.env["VOLLEY_BENCH_HTTP_SCALE"] ?? "1")
const small = Math.max(1, Math.round(20_000 * scale))
const slow = Math.max(1, Math.round(10_000 * scale))
const idle = Math.max(1, Math.round(4_000 * scale))
const count = (n: number) => n.toLocaleString("en-US")
const ideal = (n: number, concurrency: number, ms: number) => (((n / concurrency) * ms) / 1000).toFixed(2).replace(/\.?0+$/, "")

export const workloads: ReadonlyArray<Workload> = [
  { name: `${count(small)} GETs, 128 B body, concurrency 64`, path: "/small", count: small, concurrency: 64, target: 1.15, short: `${count(small)} x 128 B c=64` },
  {
    name: `${count(slow)} GETs of 50 ms, concurrency 200 (ideal ${ideal(slow, 200, 50)} s)`,
    path: "/delay?ms=50",
    count: slow,
    concurrency: 200,
    target: 1.03,
    short: `${count(slow)} x 50 ms c=200`
  },
  {
    name: `${count(idle)} GETs of 200 ms, concurrency 200 (ideal ${ideal(idle, 200, 200)} s; no target)`,
    path: "/delay?ms=200",
    count: idle,
    concurrency: 200,
    target: undefined,
    short: `${count(idle)} x 200 ms c=200`
  }
]

const contenders: ReadonlyArray<{ readonly id: string; readonly label: string }> = [
  { id: "undici", label: "undici request + p-limit" },
  { id: "effect-undici", label: "Effect.forEach + async over undici (floor)" },
  { id: "volley", label: "volley Batch.settle" },
  { id: "volley-stream", label: "volley Batch.stream" },
  { id: "volley-client", label: "volley Client.text + forEach" },
  { id: "volley-httpclient", label: "platform HttpClient over volley's layer" },
  { id: "fetch", label: "fetch + p-limit" },
  { id: "platform", label: "@effect/platform HttpClient + forEach" }
]

const rssBudget = 1.2

/**
 * Issue 20's targets from one workload's figures (`volley`: Batch.settle, `client`: Client.text
 * + forEach, `reference`: undici + p-limit, all from the same rounds), for `build`.
 */
export const recordTargets = (workload: Workload, volley: Measured, client: Measured, reference: Measured, build?: Build): void => {
  if (workload.target === undefined) return
  if (workload.path === "/small") {
    Targets.record(`Batch.settle ${workload.short}, request time`, "max", workload.target, volley.ms / reference.ms, build)
    Targets.record(`Batch.settle ${workload.short}, peak RSS`, "max", rssBudget, volley.rss / reference.rss, build)
    Targets.record(`Client.text + forEach ${workload.short}, request time`, "max", 1.25, client.ms / reference.ms, build)
  } else {
    Targets.record(`Batch.settle ${workload.short}, wall`, "max", workload.target, volley.ms / reference.ms, build)
    Targets.record(`Batch.settle ${workload.short}, CPU`, "max", 1.3, volley.cpuMs / reference.cpuMs, build)
  }
}

export interface Measured {
  readonly ms: number
  /** CPU time (user + system) of the contender's process during the timed run. */
  readonly cpuMs: number
  readonly rss: number
  /** The share of the timed run the contender's event loop was busy, 0 to 1 (`performance.eventLoopUtilization`). */
  readonly loopBusy: number
  readonly ok: number
}

/** `loopBusy` as a percentage; "-" from a worker built before it was reported (an older baseline). */
export const loopShare = (m: Measured): string => (Number.isFinite(m.loopBusy) ? `${(m.loopBusy * 100).toFixed(0)}%` : "-")

/**
 * Each figure's best over the rounds: least wall and CPU, most RSS; the loop share of the round
 * whose wall is kept, since it explains that wall.
 */
export const keepBest = (previous: Measured | undefined, m: Measured): Measured =>
  previous === undefined ? m : {
    ms: Math.min(previous.ms, m.ms),
    cpuMs: Math.min(previous.cpuMs, m.cpuMs),
    rss: Math.max(previous.rss, m.rss),
    loopBusy: m.ms < previous.ms ? m.loopBusy : previous.loopBusy,
    ok: m.ok
  }

const workerPath = new URL("./internal/httpWorker.js", import.meta.url)
const serverPath = new URL("./internal/targetServer.js", import.meta.url)

/** Starts a target server in its own process (default: the plain HTTP/1.1 one) and waits for its port. */
export const startServer = (server: URL = serverPath): Promise<{ child: ChildProcess; port: number }> =>
  new Promise((resolve, reject) => {
    const child = fork(server, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
    child.once("error", reject)
    child.once("message", (message) => resolve({ child, port: (message as { port: number }).port }))
  })

/** Runs one contender once; `worker` is the `httpWorker.js` of the build to measure (default this one). */
export const measure = (
  contender: string,
  url: string,
  workload: Pick<Workload, "count" | "concurrency">,
  worker: string | URL = workerPath
): Promise<Measured> =>
  new Promise((resolve, reject) => {
    const child = fork(worker, [contender, url, String(workload.count), String(workload.concurrency)], {
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    let result: Measured | undefined
    child.once("message", (message) => (result = message as Measured))
    child.once("error", reject)
    child.once("exit", (code) => {
      if (result !== undefined) resolve(result)
      else reject(new Error(`bench worker ${contender} exited with ${code} before reporting`))
    })
  })

const pad = (text: string, width: number, right = false) => (right ? text.padStart(width) : text.padEnd(width))

/** Runs each workload and prints one table per workload. */
export const run = async (): Promise<void> => {
  const rounds = Math.max(1, Number(process.env["VOLLEY_BENCH_ROUNDS"] ?? "2"))
  const { child: server, port } = await startServer()
  try {
    for (const workload of workloads) {
      const url = `http://127.0.0.1:${port}${workload.path}`
      const best = new Map<string, Measured>()
      for (let round = 0; round < rounds; round++) {
        for (const { id } of contenders) {
          const m = await measure(id, url, workload)
          if (m.ok !== workload.count) throw new Error(`${id}: ${m.ok} of ${workload.count} requests succeeded`)
          best.set(id, keepBest(best.get(id), m))
        }
      }
      const baseline = best.get("undici")!
      console.log(`\nhttp: ${workload.name} — best of ${rounds}, ratios to undici + p-limit`)
      console.log(
        `${pad("contender", 40)}${pad("wall ms", 10, true)}${pad("req/s", 8, true)}${pad("CPU ms", 9, true)}${pad("RSS MiB", 9, true)}` +
          `${pad("loop", 6, true)}${pad("time x", 8, true)}${pad("CPU x", 7, true)}${pad("RSS x", 7, true)}`
      )
      for (const { id, label } of contenders) {
        const m = best.get(id)!
        console.log(
          pad(label, 40) +
            pad(m.ms.toFixed(0), 10, true) +
            pad(((workload.count * 1000) / m.ms).toFixed(0), 8, true) +
            pad(m.cpuMs.toFixed(0), 9, true) +
            pad(m.rss.toFixed(0), 9, true) +
            pad(loopShare(m), 6, true) +
            pad((m.ms / baseline.ms).toFixed(2), 8, true) +
            pad((m.cpuMs / baseline.cpuMs).toFixed(2), 7, true) +
            pad((m.rss / baseline.rss).toFixed(2), 7, true)
        )
      }
      const volley = best.get("volley")!
      recordTargets(workload, volley, best.get("volley-client")!, baseline)
      if (workload.target !== undefined) {
        const timeOk = volley.ms / baseline.ms <= workload.target
        const rssOk = volley.rss / baseline.rss <= rssBudget
        console.log(`volley targets: time <= ${workload.target}x ${timeOk ? "met" : "MISSED"}, RSS <= ${rssBudget}x ${rssOk ? "met" : "MISSED"}`)
        // volley/HttpClient: within 1.5x of Batch.settle, at least 3x faster than plain platform + undici.
        const bridged = best.get("volley-httpclient")!
        const platform = best.get("platform")!
        console.log(
          `HttpClient bridge: ${(bridged.ms / volley.ms).toFixed(2)}x Batch.settle (target <= 1.5x ${bridged.ms / volley.ms <= 1.5 ? "met" : "MISSED"}), ` +
            `${(platform.ms / bridged.ms).toFixed(2)}x faster than platform + undici (target >= 3x ${platform.ms / bridged.ms >= 3 ? "met" : "MISSED"})`
        )
      }
    }
  } finally {
    server.disconnect()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
