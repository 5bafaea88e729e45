/**
 * `volley fetch` on growing inputs: the command streams its input and writes each result as
 * it completes, so its peak RSS must stay flat from 10,000 lines to 1,000,000. Each run is
 * the real command (`bin/volley.js fetch FILE -c 64`, NDJSON to a discarded stdout) against
 * the bench's local target server; peak RSS is the child's own (`maxRSS` of the process).
 *
 * Then throughput against curl, whole process against whole process in the same run:
 * `volley fetch FILE -c 64` against `curl --parallel --parallel-max 64 -K LIST` on the same
 * 20,000 small URLs (`VOLLEY_BENCH_CURL_URLS`), alternating, best of 3. Skipped, with a note,
 * where curl is not installed.
 *
 *   npm run build && node dist/bench/fetchCli.js      (VOLLEY_BENCH_CLI_LINES=10000,100000 for a shorter run)
 */
import { type ChildProcess, fork, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const serverPath = new URL("./internal/targetServer.js", import.meta.url)
const cliPath = fileURLToPath(new URL("../../bin/volley.js", import.meta.url))
const reportRss = new URL("./internal/reportRss.js", import.meta.url).href

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

/** Wall time of a whole process, spawn to exit; fails on a non-zero exit. */
const wall = (command: string, args: ReadonlyArray<string>): Promise<number> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    child.once("error", reject)
    child.once("exit", (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${command} exited ${code}: ${stderr.slice(-500)}`))))
  })

/** `volley fetch` against `curl --parallel` on the same URLs, whole processes, alternating. */
const againstCurl = async (port: number, dir: string): Promise<void> => {
  const urls = Number(process.env["VOLLEY_BENCH_CURL_URLS"] ?? "20000")
  if (spawnSync("sh", ["-c", "command -v curl"]).status !== 0) {
    console.log("\nvolley fetch vs curl: SKIPPED, curl is not installed (apt-get install curl to compare)")
    return
  }
  const url = `http://127.0.0.1:${port}/small`
  const list = path.join(dir, "curl-urls.txt")
  const config = path.join(dir, "curl.cfg")
  fs.writeFileSync(list, `${url}\n`.repeat(urls))
  fs.writeFileSync(config, `url = "${url}"\noutput = "/dev/null"\n`.repeat(urls))
  const rounds = 3
  const volley: Array<number> = []
  const curl: Array<number> = []
  for (let i = 0; i < rounds; i++) {
    volley.push(await wall(process.execPath, [cliPath, "fetch", list, "-c", "64"]))
    curl.push(await wall("curl", ["-s", "--parallel", "--parallel-max", "64", "-K", config]))
  }
  const v = Math.min(...volley)
  const c = Math.min(...curl)
  console.log(`\nvolley fetch vs curl --parallel: ${urls.toLocaleString("en-US")} small GETs on loopback, 64 at once, whole processes, best of ${rounds}`)
  console.log(`${"".padEnd(44)}${"wall s".padStart(8)}${"req/s".padStart(8)}`)
  console.log(`${"volley fetch FILE -c 64 (NDJSON to /dev/null)".padEnd(44)}${(v / 1000).toFixed(2).padStart(8)}${((urls * 1000) / v).toFixed(0).padStart(8)}`)
  console.log(`${"curl -s --parallel --parallel-max 64 -K LIST".padEnd(44)}${(c / 1000).toFixed(2).padStart(8)}${((urls * 1000) / c).toFixed(0).padStart(8)}`)
  console.log(`target: volley at least 1.0x curl's throughput: ${(c / v).toFixed(2)}x ${c / v >= 1 ? "met" : "MISSED"}`)
}

export const run = async (): Promise<void> => {
  const counts = (process.env["VOLLEY_BENCH_CLI_LINES"] ?? "10000,100000,1000000").split(",").map(Number)
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
    await againstCurl(port, dir)
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
