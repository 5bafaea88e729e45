/**
 * `volley fetch` on growing inputs: the command streams its input and writes each result as
 * it completes, so its peak RSS must stay flat from 10,000 lines to 1,000,000. Each run is
 * the real command (`bin/volley.js fetch FILE -c 64`, NDJSON to a discarded stdout) against
 * the bench's local target server; peak RSS is the child's own (`maxRSS` of the process).
 *
 * Then time, whole process against whole process in the same run: `volley fetch FILE -c 64`
 * against the same work hand-written on undici + p-limit (`internal/undiciFetch.ts`) and
 * `curl --parallel --parallel-max 64 -K LIST` on the same 20,000 small URLs
 * (`VOLLEY_BENCH_CURL_URLS`), alternating, medians of 3 (`VOLLEY_BENCH_CURL_ROUNDS`), with each
 * one's CPU per request and the target server's (the server is one Node process: on two cores
 * it may be what limits all). curl's row is skipped where curl is not installed. `VOLLEY_BENCH_CLI_BASELINE=DIR/bin/volley.js` adds another
 * build's row; `VOLLEY_BENCH_CLI_LINES=0` skips the memory table.
 *
 *   npm run build && node dist/bench/fetchCli.js      (VOLLEY_BENCH_CLI_LINES=10000,100000 for a shorter run)
 */
import { type ChildProcess, fork, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import type { Build } from "./internal/builds.js"
import * as Targets from "./internal/targets.js"

const serverPath = new URL("./internal/targetServer.js", import.meta.url)
const cliPath = fileURLToPath(new URL("../../bin/volley.js", import.meta.url))
const reportRss = new URL("./internal/reportRss.js", import.meta.url).href
const undiciFetchPath = fileURLToPath(new URL("./internal/undiciFetch.js", import.meta.url))

const startServer = (): Promise<{ child: ChildProcess; port: number }> =>
  new Promise((resolve, reject) => {
    const child = fork(serverPath, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
    child.once("error", reject)
    child.once("message", (message) => resolve({ child, port: (message as { port: number }).port }))
  })

interface Measured {
  readonly lines: number
  readonly ms: number
  readonly rssMiB: number
}

/** Runs the command on a file of `lines` URLs; peak RSS from the child's own resource usage. */
const measure = (file: string, lines: number): Promise<Measured> =>
  new Promise((resolve, reject) => {
    const rssFile = `${file}.rss`
    const started = performance.now()
    const child = spawn(process.execPath, ["--import", reportRss, cliPath, "fetch", file, "-c", "64"], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, VOLLEY_BENCH_RSS_FILE: rssFile }
    })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    child.once("error", reject)
    child.once("exit", (code) => {
      const ms = performance.now() - started
      if (code !== 0) return reject(new Error(`volley fetch exited ${code}: ${stderr}`))
      resolve({ lines, ms, rssMiB: Number(fs.readFileSync(rssFile, "utf8")) })
    })
  })

/** One whole-process run: wall time, the process's CPU time and the target server's. */
interface Timed {
  readonly ms: number
  /** User + system CPU of the process (from /usr/bin/time), when available. */
  readonly cpuMs: number | undefined
  /** CPU the target server spent meanwhile (from /proc), when available. */
  readonly serverCpuMs: number | undefined
}

const hasTime = fs.existsSync("/usr/bin/time")

/** CPU time (user + system) of a live process in ms, from /proc (Linux; clock ticks of 10 ms). */
const cpuOfPid = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

/** Runs a whole process, spawn to exit (fails on a non-zero exit), with its CPU and the server's. */
const wall = (command: string, args: ReadonlyArray<string>, server: ChildProcess): Promise<Timed> =>
  new Promise((resolve, reject) => {
    const server0 = cpuOfPid(server.pid)
    const started = performance.now()
    // /usr/bin/time reports the child's CPU on the last line of stderr.
    const child = hasTime
      ? spawn("/usr/bin/time", ["-f", "%U %S", command, ...args], { stdio: ["ignore", "ignore", "pipe"] })
      : spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    child.once("error", reject)
    child.once("exit", (code) => {
      const ms = performance.now() - started
      if (code !== 0) return reject(new Error(`${command} exited ${code}: ${stderr.slice(-500)}`))
      const server1 = cpuOfPid(server.pid)
      const times = hasTime ? stderr.trim().split("\n").pop()!.split(" ").map(Number) : []
      resolve({
        ms,
        cpuMs: times.length === 2 && times.every(Number.isFinite) ? (times[0]! + times[1]!) * 1000 : undefined,
        serverCpuMs: server0 === undefined || server1 === undefined ? undefined : server1 - server0
      })
    })
  })

/**
 * `volley fetch` against the same work hand-written on undici + p-limit (the target: at most
 * 1.25x its time) and `curl --parallel` (for scale, when installed), on the same URLs, whole
 * processes, alternating; medians of the rounds. With each: its CPU per request, and the
 * target server's (a Node process, one core at most: on a 2-core machine it can be what limits
 * all of them).
 */
export const wholeProcess = async (server: ChildProcess, port: number, dir: string, builds?: readonly [Build, Build]): Promise<void> => {
  const urls = Number(process.env["VOLLEY_BENCH_CURL_URLS"] ?? "20000")
  const hasCurl = spawnSync("sh", ["-c", "command -v curl"]).status === 0
  const url = `http://127.0.0.1:${port}/small`
  const list = path.join(dir, "curl-urls.txt")
  const config = path.join(dir, "curl.cfg")
  fs.writeFileSync(list, `${url}\n`.repeat(urls))
  fs.writeFileSync(config, `url = "${url}"\noutput = "/dev/null"\n`.repeat(urls))
  const rounds = Number(process.env["VOLLEY_BENCH_CURL_ROUNDS"] ?? "3")
  // VOLLEY_BENCH_CLI_BASELINE=DIR/bin/volley.js (or side by side, the baseline build's) adds its row.
  const baseline = builds === undefined ? process.env["VOLLEY_BENCH_CLI_BASELINE"] : path.join(builds[0].root, "bin", "volley.js")
  const current = builds === undefined ? cliPath : path.join(builds[1].root, "bin", "volley.js")
  const contenders = [
    { name: "volley fetch FILE -c 64 (NDJSON to /dev/null)", command: process.execPath, args: [current, "fetch", list, "-c", "64"] },
    // The same work hand-written: reads the list, one NDJSON line per response.
    { name: "undici + p-limit script (NDJSON to /dev/null)", command: process.execPath, args: [undiciFetchPath, list, "64"] },
    ...(baseline === undefined || baseline === ""
      ? []
      : [{ name: "baseline volley fetch FILE -c 64", command: process.execPath, args: [baseline, "fetch", list, "-c", "64"] }]),
    ...(hasCurl ? [{ name: "curl -s --parallel --parallel-max 64 -K LIST", command: "curl", args: ["-s", "--parallel", "--parallel-max", "64", "-K", config] }] : [])
  ]
  const samples: Array<Array<Timed>> = contenders.map(() => [])
  for (let i = 0; i < rounds; i++) {
    // Who goes first turns each round.
    for (let k = 0; k < contenders.length; k++) {
      const j = (k + i) % contenders.length
      samples[j]!.push(await wall(contenders[j]!.command, contenders[j]!.args, server))
    }
  }
  const median = (values: ReadonlyArray<number | undefined>): number | undefined => {
    const known = values.filter((v): v is number => v !== undefined).sort((a, b) => a - b)
    return known.length === 0 ? undefined : known[Math.floor((known.length - 1) / 2)]
  }
  const mid = samples.map((runs) => ({ ms: median(runs.map((r) => r.ms))!, cpuMs: median(runs.map((r) => r.cpuMs)), serverCpuMs: median(runs.map((r) => r.serverCpuMs)) }))
  const perRequest = (ms: number | undefined) => (ms === undefined ? "-" : ((ms * 1000) / urls).toFixed(0))
  console.log(`\nvolley fetch, whole processes: ${urls.toLocaleString("en-US")} small GETs on loopback, 64 at once, medians of ${rounds} alternating rounds`)
  if (!hasCurl) console.log("(curl is not installed: its row is skipped)")
  console.log(`${"".padEnd(48)}${"wall s".padStart(8)}${"req/s".padStart(8)}${"CPU µs/req".padStart(12)}${"server µs/req".padStart(15)}`)
  for (let j = 0; j < contenders.length; j++) {
    const b = mid[j]!
    console.log(
      `${contenders[j]!.name.padEnd(48)}${(b.ms / 1000).toFixed(2).padStart(8)}${((urls * 1000) / b.ms).toFixed(0).padStart(8)}` +
        `${perRequest(b.cpuMs).padStart(12)}${perRequest(b.serverCpuMs).padStart(15)}`
    )
  }
  const v = mid[0]!.ms
  const u = mid[1]!.ms
  console.log(`target: volley fetch at most 1.25x the undici + p-limit script, whole process: ${(v / u).toFixed(2)}x ${v / u <= 1.25 ? "met" : "MISSED"}`)
  if (hasCurl) console.log(`(for scale: volley fetch takes ${(v / mid[mid.length - 1]!.ms).toFixed(2)}x curl's time)`)
  const name = `volley fetch ${urls.toLocaleString("en-US")} URLs, whole process`
  Targets.record(name, "max", 1.25, v / u, builds?.[1])
  if (builds !== undefined) Targets.record(name, "max", 1.25, mid[2]!.ms / u, builds[0])
}

/** Side by side (`VOLLEY_BENCH_BASELINE`): the whole-process table with both builds' `volley fetch`. */
export const compare = async (builds: readonly [Build, Build]): Promise<void> => {
  const { child: server, port } = await startServer()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-bench-cli-"))
  try {
    await wholeProcess(server, port, dir, builds)
  } finally {
    server.disconnect()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const run = async (): Promise<void> => {
  // VOLLEY_BENCH_CLI_LINES=0 skips the memory table (the curl comparison alone).
  const counts = (process.env["VOLLEY_BENCH_CLI_LINES"] ?? "10000,100000,1000000").split(",").map(Number).filter((n) => n > 0)
  const { child: server, port } = await startServer()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-bench-cli-"))
  try {
    const line = `http://127.0.0.1:${port}/small\n`
    const results: Array<Measured> = []
    for (const lines of counts) {
      const file = path.join(dir, `urls-${lines}.txt`)
      fs.writeFileSync(file, line.repeat(lines))
      const m = await measure(file, lines)
      results.push(m)
      fs.rmSync(file)
    }
    if (results.length > 0) reportMemory(results)
    await wholeProcess(server, port, dir)
  } finally {
    server.disconnect()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const reportMemory = (results: ReadonlyArray<Measured>): void => {
  const first = results[0]!
  console.log(`\nvolley fetch: peak RSS as the input grows (the command itself, NDJSON results to /dev/null, concurrency 64)`)
  console.log(`${"lines".padStart(10)}${"wall s".padStart(9)}${"req/s".padStart(8)}${"peak RSS".padStart(11)}${"vs first".padStart(10)}`)
  for (const m of results) {
    console.log(
      `${m.lines.toLocaleString("en-US").padStart(10)}${(m.ms / 1000).toFixed(1).padStart(9)}` +
        `${((m.lines * 1000) / m.ms).toFixed(0).padStart(8)}${`${m.rssMiB.toFixed(0)} MiB`.padStart(11)}` +
        `${`${(m.rssMiB / first.rssMiB).toFixed(2)}x`.padStart(10)}`
    )
  }
  const last = results[results.length - 1]!
  const flat = last.rssMiB / first.rssMiB <= 1.5
  console.log(
    `target: flat memory as the input grows (${first.lines.toLocaleString("en-US")} -> ${last.lines.toLocaleString("en-US")} lines: ` +
      `${(last.rssMiB / first.rssMiB).toFixed(2)}x, budget 1.5x) ${flat ? "met" : "MISSED"}`
  )
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
