/**
 * The machinery of the server benchmark (`bench/server.ts`): autocannon, the servers under
 * test in child processes (`serverRunner.js`), measured slices run in alternation, and the
 * table they print. Shared with the two-build comparison (`serverCompare.ts`).
 */
import { type ChildProcess, fork } from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { ParentMessage, RunnerMessage, ServerConfig } from "./serverRunner.js"

// ---- autocannon (CommonJS, no bundled types: the little we use, typed here) -------------------

export interface AutocannonRequest {
  readonly method: "GET" | "POST"
  readonly path: string
  readonly headers?: Record<string, string>
  readonly body?: string
}

interface AutocannonOptions {
  readonly url: string
  readonly connections: number
  readonly duration?: number
  readonly amount?: number
  readonly requests: ReadonlyArray<AutocannonRequest>
  /** Seconds. */
  readonly timeout?: number
  /** Sampling interval, ms; a timed run only stops on a sample tick (default 1,000). */
  readonly sampleInt?: number
}

interface AutocannonResult {
  /** Seconds, start to finish. */
  readonly duration: number
  readonly errors: number
  readonly timeouts: number
  readonly non2xx: number
  readonly "2xx": number
  readonly statusCodeStats: Record<string, { readonly count: number }>
  readonly latency: { readonly p50: number; readonly p99: number; readonly max: number }
  readonly requests: { readonly total: number }
}

const autocannon = createRequire(import.meta.url)("autocannon") as (options: AutocannonOptions) => Promise<AutocannonResult>

// ---- parameters -----------------------------------------------------------------------------

export const CONNECTIONS = 32 // below the example's per-route concurrency limit (64): nothing is shed
// `VOLLEY_BENCH_SERVER_SCALE=0.2`: shorter runs and a smaller prefill, for checking the bench
// itself (not for numbers).
export const SCALE = Number(process.env["VOLLEY_BENCH_SERVER_SCALE"] ?? "1")
export const WARMUP_S = 1 * SCALE
export const SLICE_S = 2.5 * SCALE
// Alternating slices per server and route (`VOLLEY_BENCH_SERVER_SLICES`): on a shared 2-core
// machine a ratio from 2 slices moved ±15% run to run; 6 average most of that out.
export const SLICES = Math.max(1, Number(process.env["VOLLEY_BENCH_SERVER_SLICES"] ?? "6"))
export const BIG_QUEUE = 200_000

const here = path.dirname(fileURLToPath(import.meta.url))
const runnerPath = path.join(here, "serverRunner.js")

const json = { "content-type": "application/json" }
export const routes = {
  health: { method: "GET", path: "/health" },
  users: { method: "POST", path: "/users", headers: json, body: JSON.stringify({ name: "Ada Lovelace", email: "ada@example.com" }) },
  invalidUser: { method: "POST", path: "/users", headers: json, body: JSON.stringify({ name: "", email: "not-an-address" }) },
  dashboard: { method: "GET", path: "/dashboard" }
} as const satisfies Record<string, AutocannonRequest>

// ---- the server under test, in a child process ----------------------------------------------

interface JobStats {
  readonly queued: number
  readonly running: number
}

interface ProcessStats {
  readonly maxRssKiB: number
  readonly heapUsedMiB: number
  readonly cpuMicros: number
}

export interface Server {
  readonly label: string
  readonly port: number
  readonly stats: (options?: { readonly gc?: boolean }) => Promise<ProcessStats>
  readonly jobs: () => Promise<JobStats>
  readonly stop: () => Promise<void>
}

/** Starts `runner` (a build's `serverRunner.js`; this build's by default) with `config`. */
export const startServer = (label: string, config: ServerConfig, runner = runnerPath): Promise<Server> =>
  new Promise((resolve, reject) => {
    const profileDir = process.env["VOLLEY_BENCH_CPU_PROF"]
    const child: ChildProcess = fork(runner, [JSON.stringify(config)], {
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      execArgv: ["--expose-gc", ...(profileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", profileDir])]
    })
    // Keep the tail of its output; reading it also keeps the child from blocking on a full pipe.
    let output = ""
    const keep = (chunk: Buffer) => (output = (output + chunk.toString("utf8")).slice(-4096))
    child.stdout?.on("data", keep)
    child.stderr?.on("data", keep)
    const exited = new Promise<void>((done) => child.once("exit", () => done()))
    const failed = (why: string) => reject(new Error(`server ${label}: ${why}\n${output}`))
    child.once("error", (e) => failed(String(e)))
    child.once("exit", (code) => failed(`exited with ${code} before it was ready`))
    const tell = (message: ParentMessage) => child.send(message)
    child.once("message", (message: RunnerMessage) => {
      if (message.type !== "ready") return failed(`unexpected message ${JSON.stringify(message)}`)
      const base = `http://127.0.0.1:${message.port}`
      resolve({
        label,
        port: message.port,
        stats: (options) =>
          new Promise((done) => {
            child.once("message", (m: RunnerMessage) => m.type === "stats" && done(m))
            tell({ type: "stats", gc: options?.gc ?? false })
          }),
        jobs: async () => ((await (await fetch(`${base}/health`)).json()) as { jobs: JobStats }).jobs,
        stop: async () => {
          if (child.exitCode === null && child.connected) tell({ type: "exit" })
          const timer = setTimeout(() => child.kill("SIGKILL"), 3_000)
          await exited
          clearTimeout(timer)
        }
      })
    })
  })

/** Starts servers (together: start-up is not measured), runs `use`, and always stops them. */
export const withServers = async <A>(
  specs: ReadonlyArray<readonly [label: string, config: ServerConfig, runner?: string]>,
  use: (servers: ReadonlyArray<Server>) => Promise<A>
): Promise<A> => {
  const started = await Promise.allSettled(specs.map(([label, config, runner]) => startServer(label, config, runner)))
  const servers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []))
  try {
    for (const s of started) if (s.status === "rejected") throw s.reason
    debug(`started ${servers.map((s) => s.label).join(", ")}`)
    return await use(servers)
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
    debug("stopped")
  }
}

const debugStart = Date.now()
/** `VOLLEY_BENCH_DEBUG=1`: a timestamped line per step, to see where a run spends its time. */
export const debug = (what: string) => {
  if (process.env["VOLLEY_BENCH_DEBUG"] !== undefined) console.log(`  [${((Date.now() - debugStart) / 1000).toFixed(1)} s] ${what}`)
}

export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

/** Waits until the server's job pool is idle (nothing queued or running), up to `maxMs`. */
export const waitForIdlePool = async (server: Server, maxMs: number): Promise<boolean> => {
  const until = Date.now() + maxMs
  for (;;) {
    const jobs = await server.jobs()
    if (jobs.queued === 0 && jobs.running === 0) return true
    if (Date.now() > until) return false
    await sleep(50)
  }
}

/** A server whose emails take 1 ms (4 workers) and whose queue never fills. */
export const fastMailer = (tmp: string, dir: string, config: Pick<ServerConfig, "kind"> & Partial<ServerConfig>): ServerConfig => ({
  outbox: path.join(tmp, dir),
  mailLatencyMs: 1,
  workers: 4,
  queueCapacity: BIG_QUEUE,
  ...config
})

// ---- load -----------------------------------------------------------------------------------

export const load = (server: Server, request: AutocannonRequest, run: { readonly seconds: number } | { readonly amount: number }) =>
  autocannon({
    url: `http://127.0.0.1:${server.port}`,
    connections: CONNECTIONS,
    requests: [request],
    timeout: 30,
    // Ticks every 250 ms, so a 2.5 s run stops at 2.5 s rather than 3.
    sampleInt: 250,
    ...("seconds" in run ? { duration: run.seconds } : { amount: run.amount })
  })

export interface Measured {
  readonly requests: number
  readonly seconds: number
  /** Mean of the slices' p50 / p99 in ms (autocannon reports percentiles per run). */
  readonly p50: number
  readonly p99: number
  readonly bad: number
  /** Server CPU time per answered request, µs. */
  readonly cpuUs: number
  readonly rssMiB: number
}

export interface Slice {
  readonly result: AutocannonResult
  readonly cpuMicros: number
}

export const summarize = (slices: ReadonlyArray<Slice>, maxRssKiB: number): Measured => {
  const sum = (f: (s: Slice) => number) => slices.reduce((n, s) => n + f(s), 0)
  const requests = sum((s) => s.result.requests.total)
  return {
    requests,
    seconds: sum((s) => s.result.duration),
    p50: sum((s) => s.result.latency.p50) / slices.length,
    p99: sum((s) => s.result.latency.p99) / slices.length,
    bad: sum((s) => s.result.non2xx + s.result.errors + s.result.timeouts),
    cpuUs: sum((s) => s.cpuMicros) / Math.max(1, requests),
    rssMiB: maxRssKiB / 1024
  }
}

export const rate = (m: Measured) => m.requests / m.seconds

export const describeBad = (slices: ReadonlyArray<Slice>): string =>
  slices.flatMap(({ result: r }) =>
    Object.entries(r.statusCodeStats).filter(([code]) => !code.startsWith("2")).map(([code, s]) => `${code} x${s.count}`)
      .concat(r.errors > 0 ? [`errors x${r.errors}`] : [], r.timeouts > 0 ? [`timeouts x${r.timeouts}`] : [])
  ).join(", ")

/** One measured run; its CPU figure covers the background jobs it caused (it waits for them). */
export const slice = async (server: Server, request: AutocannonRequest, run: { readonly seconds: number } | { readonly amount: number }): Promise<Slice> => {
  const before = (await server.stats()).cpuMicros
  debug(`${server.label}: ${request.method} ${request.path} ${JSON.stringify(run)}`)
  const result = await load(server, request, run)
  debug(`${server.label}: done, ${result.requests.total} requests in ${result.duration} s`)
  if (!(await waitForIdlePool(server, 15_000))) console.log(`  (note: ${server.label}'s job queue did not empty within 15 s)`)
  return { result, cpuMicros: (await server.stats()).cpuMicros - before }
}

/** Measures each server on one route in alternating slices, after a warm-up each. */
export const alternate = async (servers: ReadonlyArray<Server>, request: AutocannonRequest): Promise<ReadonlyArray<Measured>> => {
  const slices = servers.map((): Array<Slice> => [])
  for (const server of servers) await slice(server, request, { seconds: WARMUP_S })
  for (let n = 0; n < SLICES; n++) {
    for (const [i, server] of servers.entries()) slices[i]!.push(await slice(server, request, { seconds: SLICE_S }))
  }
  return Promise.all(servers.map(async (server, i) => {
    const m = summarize(slices[i]!, (await server.stats()).maxRssKiB)
    if (m.bad > 0) console.log(`  (note: ${server.label} ${request.method} ${request.path}: ${describeBad(slices[i]!)})`)
    return m
  }))
}

// ---- table ----------------------------------------------------------------------------------

export const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "-")
/** Cells: [text, width]; a negative width left-aligns. */
export const row = (cells: ReadonlyArray<readonly [string, number]>) =>
  cells.map(([text, width]) => (width < 0 ? text.padEnd(-width) : text.padStart(width))).join("")

export const measuredHeader = (first: string, firstWidth: number) =>
  row([
    [first, -firstWidth],
    ["req/s", 8],
    ["p50 ms", 8],
    ["p99 ms", 8],
    ["CPU us/req", 11],
    ["RSS MiB", 9],
    ["req/s x", 9],
    ["p99 x", 7],
    ["CPU x", 7],
    ["RSS x", 7]
  ])

export const measuredRow = (first: string, firstWidth: number, m: Measured, base: Measured | undefined) =>
  row([
    [first, -firstWidth],
    [fixed(rate(m), 0), 8],
    [fixed(m.p50), 8],
    [fixed(m.p99), 8],
    [fixed(m.cpuUs, 0), 11],
    [fixed(m.rssMiB, 0), 9],
    [base === undefined ? "" : fixed(rate(m) / rate(base), 2), 9],
    [base === undefined ? "" : fixed(m.p99 / base.p99, 2), 7],
    [base === undefined ? "" : fixed(m.cpuUs / base.cpuUs, 2), 7],
    [base === undefined ? "" : fixed(m.rssMiB / base.rssMiB, 2), 7]
  ])
