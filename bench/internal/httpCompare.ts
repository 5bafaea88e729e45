/**
 * The HTTP bench side by side: the same workloads (and `VOLLEY_BENCH_HTTP_SCALE`) as
 * `http.ts`, with volley's contenders (`Batch.settle`, `Batch.stream`, `Client.text` +
 * `Effect.forEach`) run from each build's own `httpWorker.js`, and undici `request` + p-limit,
 * the reference, from this build's. Each round runs the reference, then each volley contender
 * for both builds back to back (which build goes first swaps every round), so a neighbour's
 * load hits both builds alike. Over `VOLLEY_BENCH_ROUNDS` rounds (default 3) each keeps its
 * best wall and CPU time and its highest peak RSS; the table shows each as a ratio to the
 * reference's, as `http.ts` does.
 *
 * A second table pairs the builds batch by batch (`pairedWorker.ts`: each build warm in its own
 * process, asked in turn): CPU per request of the small workload as the median of per-pair
 * ratios. On a shared machine this is the figure to trust for a few-percent change; the
 * rounds above move 10-25%.
 */
import { keepBest, loopShare, measure, type Measured, recordTargets, startServer, workloads } from "../http.js"
import { type Build, scriptOf } from "./builds.js"
import { inTurn, print, type Row } from "./compareTable.js"
import * as Paired from "./paired.js"

const volleyContenders: ReadonlyArray<readonly [id: Paired.PairedOptions["contender"], label: string]> = [
  ["volley", "Batch.settle"],
  ["volley-stream", "Batch.stream"],
  ["volley-client", "Client.text + forEach"]
]

export const compare = async (builds: readonly [Build, Build]): Promise<void> => {
  const rounds = Math.max(1, Number(process.env["VOLLEY_BENCH_ROUNDS"] ?? "3"))
  const workers = builds.map((b) => scriptOf(b, "internal/httpWorker.js"))
  const { child: server, port } = await startServer()
  try {
    const rows: Array<Row> = []
    const loops: Array<string> = []
    for (const workload of workloads) {
      const url = `http://127.0.0.1:${port}${workload.path}`
      const best = new Map<string, Measured>()
      const run = async (key: string, contender: string, worker?: string) => {
        const m = await measure(contender, url, workload, worker)
        if (m.ok !== workload.count) throw new Error(`${key}: ${m.ok} of ${workload.count} requests succeeded`)
        best.set(key, keepBest(best.get(key), m))
      }
      for (let round = 0; round < rounds; round++) {
        await run("undici", "undici")
        for (const [id] of volleyContenders) {
          for (const i of inTurn([0, 1] as const, round)) await run(`${builds[i].label} ${id}`, id, workers[i])
        }
      }
      const reference = best.get("undici")!
      for (const build of builds) recordTargets(workload, best.get(`${build.label} volley`)!, best.get(`${build.label} volley-client`)!, reference, build)
      for (const [id, label] of volleyContenders) {
        const [b, c] = builds.map((build) => best.get(`${build.label} ${id}`)!) as [Measured, Measured]
        const name = `${workload.name}: ${label}`
        rows.push(
          { workload: `${name}, time x`, baseline: b.ms / reference.ms, current: c.ms / reference.ms },
          { workload: `${name}, CPU x`, baseline: b.cpuMs / reference.cpuMs, current: c.cpuMs / reference.cpuMs },
          { workload: `${name}, RSS x`, baseline: b.rss / reference.rss, current: c.rss / reference.rss }
        )
      }
      // The busier the loop, the more the wall follows the CPU (see `http.ts`).
      loops.push(`${workload.short}: undici ${loopShare(reference)}, ` +
        builds.map((build) => `${build.label} Batch.settle ${loopShare(best.get(`${build.label} volley`)!)}`).join(", "))
    }
    print(`http side by side: volley / undici request + p-limit (same run), best of ${rounds}`, builds, rows)
    console.log(`event loop busy in the timed run (the run of the best wall):\n${loops.map((l) => `  ${l}`).join("\n")}`)
    await paired(builds, port)
  } finally {
    server.disconnect()
  }
}

/** Each build warm in its own process, asked for batches in turn (`paired.ts`), for each volley contender. */
const paired = async (builds: readonly [Build, Build], port: number): Promise<void> => {
  const workload = workloads[0]!
  const batches = Math.max(3, Number(process.env["VOLLEY_BENCH_PAIRED_BATCHES"] ?? "20"))
  const batchSize = Math.max(200, Math.min(2_000, Math.floor(workload.count / 5)))
  const rows: Array<Row> = []
  for (const [contender, label] of volleyContenders) {
    const result = await Paired.run({
      script: scriptOf(builds[1], "internal/pairedWorker.js"),
      roots: builds.map((b) => b.root),
      contender,
      url: `http://127.0.0.1:${port}${workload.path}`,
      batches,
      batchSize,
      concurrency: workload.concurrency
    })
    rows.push(
      { workload: `${label}: CPU µs/request (median of batches)`, baseline: result.medianUs[0]!, current: result.medianUs[1]!, digits: 1 },
      { workload: `${label}: CPU, current / baseline (median of ${batches} pairs)`, baseline: 1, current: result.ratio[1]!, digits: 3 }
    )
  }
  print(`http paired: ${workload.name}, each build warm in its own process, ${batches} alternating batches of ${batchSize}`, builds, rows)
}
