/**
 * How long the `volley` command takes to start and finish a trivial job, as whole processes:
 * `volley --help` and a one-URL `volley fetch` against the bench's local target server,
 * each as a ratio to `node -e 0` on the same machine in the same run (the budget is 3x).
 * The three alternate, `VOLLEY_BENCH_STARTUP_RUNS` times each (default 20); medians are
 * compared, as this shared machine's wall times swing. No hyperfine needed: plain spawns.
 * `VOLLEY_BENCH_STARTUP_BASELINE=DIR/bin/volley.js` adds another build's rows to the same run.
 *
 *   npm run build && node dist/bench/startup.js
 */
import { type ChildProcess, fork, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const serverPath = new URL("./internal/targetServer.js", import.meta.url)
const cliPath = fileURLToPath(new URL("../../bin/volley.js", import.meta.url))
const budget = 3

const startServer = (): Promise<{ child: ChildProcess; port: number }> =>
  new Promise((resolve, reject) => {
    const child = fork(serverPath, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
    child.once("error", reject)
    child.once("message", (message) => resolve({ child, port: (message as { port: number }).port }))
  })

/** Wall time of one process from spawn to exit, in ms; fails on a non-zero exit. */
const time = (args: ReadonlyArray<string>): Promise<number> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    child.once("error", reject)
    child.once("exit", (code) => {
      const ms = performance.now() - started
      if (code !== 0) return reject(new Error(`node ${args.join(" ")} exited ${code}: ${stderr}`))
      resolve(ms)
    })
  })

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const run = async (): Promise<void> => {
  const runs = Number(process.env["VOLLEY_BENCH_STARTUP_RUNS"] ?? "20")
  const { child: server, port } = await startServer()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-bench-startup-"))
  try {
    const list = path.join(dir, "one.txt")
    fs.writeFileSync(list, `http://127.0.0.1:${port}/small\n`)
    // VOLLEY_BENCH_STARTUP_BASELINE=path/to/bin/volley.js adds another build's two rows, same run.
    const baseline = process.env["VOLLEY_BENCH_STARTUP_BASELINE"]
    const contenders = [
      { name: "node -e 0", args: ["-e", "0"] },
      { name: "volley --help", args: [cliPath, "--help"] },
      { name: "volley fetch (1 URL)", args: [cliPath, "fetch", list] },
      ...(baseline === undefined || baseline === ""
        ? []
        : [
          { name: "baseline --help", args: [baseline, "--help"] },
          { name: "baseline fetch (1 URL)", args: [baseline, "fetch", list] }
        ])
    ]
    const samples: Array<Array<number>> = contenders.map(() => [])
    // One warm-up round (page cache), then alternate so load swings hit all three alike.
    for (const c of contenders) await time(c.args)
    for (let i = 0; i < runs; i++) {
      for (let j = 0; j < contenders.length; j++) samples[j]!.push(await time(contenders[j]!.args))
    }
    const base = median(samples[0]!)
    console.log(`\nvolley start-up: whole processes, median of ${runs} alternating runs each, vs node -e 0 (budget ${budget}x)`)
    console.log(`${"".padEnd(24)}${"median ms".padStart(11)}${"min ms".padStart(9)}${"vs node".padStart(9)}`)
    for (let j = 0; j < contenders.length; j++) {
      const m = median(samples[j]!)
      console.log(
        `${contenders[j]!.name.padEnd(24)}${m.toFixed(0).padStart(11)}${Math.min(...samples[j]!).toFixed(0).padStart(9)}${`${(m / base).toFixed(2)}x`.padStart(9)}`
      )
    }
    const worst = Math.max(median(samples[1]!), median(samples[2]!)) / base
    console.log(`target: --help and a one-URL fetch within ${budget}x node -e 0: ${worst.toFixed(2)}x ${worst <= budget ? "met" : "MISSED"}`)
  } finally {
    server.disconnect()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
