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
import { fork } from "node:child_process"
import { measure, type Measured, startServer, workloads } from "../http.js"
import { type Build, scriptOf } from "./builds.js"
import { inTurn, print, type Row } from "./compareTable.js"

const volleyContenders: ReadonlyArray<readonly [id: string, label: string]> = [
  ["volley", "Batch.settle"],
  ["volley-stream", "Batch.stream"],
  ["volley-client", "Client.text + forEach"]
]

const keepBest = (seen: Map<string, Measured>, key: string, m: Measured) => {
  const p = seen.get(key)
  seen.set(key, p === undefined ? m : { ms: Math.min(p.ms, m.ms), cpuMs: Math.min(p.cpuMs, m.cpuMs), rss: Math.max(p.rss, m.rss), ok: m.ok })
}

export const compare = async (builds: readonly [Build, Build]): Promise<void> => {
  const rounds = Math.max(1, Number(process.env["VOLLEY_BENCH_ROUNDS"] ?? "3"))
  const workers = builds.map((b) => scriptOf(b, "internal/httpWorker.js"))
  const { child: server, port } = await startServer()
  try {
    const rows: Array<Row> = []
    for (const workload of workloads) {
      const url = `http://127.0.0.1:${port}${workload.path}`
      const best = new Map<string, Measured>()
      const run = async (key: string, contender: string, worker?: string) => {
        const m = await measure(contender, url, workload, worker)
        if (m.ok !== workload.count) throw new Error(`${key}: ${m.ok} of ${workload.count} requests succeeded`)
        keepBest(best, key, m)
      }
      for (let round = 0; round < rounds; round++) {
        await run("undici", "undici")
        for (const [id] of volleyContenders) {
          for (const i of inTurn([0, 1] as const, round)) await run(`${builds[i].label} ${id}`, id, workers[i])
        }
      }
      const reference = best.get("undici")!
      for (const [id, label] of volleyContenders) {
        const [b, c] = builds.map((build) => best.get(`${build.label} ${id}`)!) as [Measured, Measured]
        const name = `${workload.name}: ${label}`
        rows.push(
          { workload: `${name}, time x`, baseline: b.ms / reference.ms, current: c.ms / reference.ms },
          { workload: `${name}, CPU x`, baseline: b.cpuMs / reference.cpuMs, current: c.cpuMs / reference.cpuMs },
          { workload: `${name}, RSS x`, baseline: b.rss / reference.rss, current: c.rss / reference.rss }
        )
      }
    }
    print(`http side by side: volley / undici request + p-limit (same run), best of ${rounds}`, builds, rows)
    await paired(builds, port)
  } finally {
    server.disconnect()
  }
}

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = xs.slice().sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** A build's `pairedWorker.js` process: warm, running one batch each time it is asked. */
const pairedWorker = async (script: string, config: object) => {
  const child = fork(script, [JSON.stringify(config)], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const next = () =>
    new Promise<unknown>((resolve, reject) => {
      const exited = (code: number | null) => reject(new Error(`pairedWorker exited ${code}`))
      child.once("exit", exited)
      child.once("message", (m) => {
        child.off("exit", exited)
        resolve(m)
      })
    })
  await next() // "ready"
  return {
    batch: async () => ((await (child.send("batch"), next())) as { cpuUs: number }).cpuUs,
    stop: () => void child.send("stop")
  }
}

/** Each build warm in its own process, asked for batches in turn (`pairedWorker.ts`), for each volley contender. */
const paired = async (builds: readonly [Build, Build], port: number): Promise<void> => {
  const workload = workloads[0]!
  const batches = Math.max(3, Number(process.env["VOLLEY_BENCH_PAIRED_BATCHES"] ?? "20"))
  const batchSize = Math.max(200, Math.min(2_000, Math.floor(workload.count / 5)))
  const script = scriptOf(builds[1], "internal/pairedWorker.js")
  const rows: Array<Row> = []
  for (const [contender, label] of volleyContenders) {
    const config = { contender, url: `http://127.0.0.1:${port}${workload.path}`, batchSize, concurrency: workload.concurrency }
    const workers = await Promise.all(builds.map((b) => pairedWorker(script, { ...config, root: b.root })))
    const cpuUs: [Array<number>, Array<number>] = [[], []]
    try {
      for (let batch = 0; batch < batches; batch++) {
        for (const i of inTurn([0, 1] as const, batch)) cpuUs[i].push(await workers[i]!.batch())
      }
    } finally {
      for (const worker of workers) worker.stop()
    }
    const ratios = cpuUs[1].map((c, i) => c / cpuUs[0][i]!)
    rows.push(
      { workload: `${label}: CPU µs/request (median of batches)`, baseline: median(cpuUs[0]), current: median(cpuUs[1]), digits: 1 },
      { workload: `${label}: CPU, current / baseline (median of ${batches} pairs)`, baseline: 1, current: median(ratios), digits: 3 }
    )
  }
  print(`http paired: ${workload.name}, each build warm in its own process, ${batches} alternating batches of ${batchSize}`, builds, rows)
}
