/**
 * `clientSteps` side by side: each build's own `dist/bench/clientSteps.js` in its own process,
 * the builds alternating over `VOLLEY_BENCH_ROUNDS` rounds (default 2). Steps per request are
 * a count (the same every round); CPU µs per request is the best seen. The figures are read
 * from the script's printed table (`<path>  <steps/req>  <CPU µs/req>`), which every build
 * since the bench's first version prints.
 */
import { spawn } from "node:child_process"
import { type Build, scriptOf } from "./builds.js"
import { inTurn, print, type Row } from "./compareTable.js"

interface Figures {
  readonly steps: number
  readonly cpuUs: number
}

const measure = (build: Build): Promise<Map<string, Figures>> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [scriptOf(build, "clientSteps.js")], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d))
    child.once("error", reject)
    child.once("close", (code) => {
      if (code !== 0) return reject(new Error(`${build.label} clientSteps exited with ${code}`))
      const rows = new Map<string, Figures>()
      for (const line of out.split("\n")) {
        const m = /^(\S.*?)\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)$/.exec(line)
        if (m !== null) rows.set(m[1]!, { steps: Number(m[2]), cpuUs: Number(m[3]) })
      }
      if (rows.size === 0) return reject(new Error(`${build.label} clientSteps printed no rows:\n${out}`))
      resolve(rows)
    })
  })

export const compare = async (builds: readonly [Build, Build]): Promise<void> => {
  const rounds = Math.max(1, Number(process.env["VOLLEY_BENCH_ROUNDS"] ?? "2"))
  const best = builds.map(() => new Map<string, Figures>())
  for (let round = 0; round < rounds; round++) {
    for (const build of inTurn(builds, round)) {
      const seen = best[builds.indexOf(build)]!
      for (const [path, f] of await measure(build)) {
        const previous = seen.get(path)
        seen.set(path, previous === undefined ? f : { steps: f.steps, cpuUs: Math.min(previous.cpuUs, f.cpuUs) })
      }
    }
  }
  const rows: Array<Row> = []
  for (const [path, b] of best[0]!) {
    const c = best[1]!.get(path)
    if (c === undefined) {
      console.log(`clientSteps: "${path}" only in the baseline`)
      continue
    }
    rows.push({ workload: `${path}: steps/req`, baseline: b.steps, current: c.steps, digits: 1 })
    rows.push({ workload: `${path}: CPU µs/req`, baseline: b.cpuUs, current: c.cpuUs, digits: 1 })
  }
  print(`client steps side by side: volley's per-request path over an instant in-memory transport, CPU best of ${rounds}`, builds, rows)
}
