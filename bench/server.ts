/**
 * Server benchmark: the example REST API (`examples/api.ts`, served by volley's
 * GracefulServer with withDeadline, withConcurrencyLimit and per-route `instrument`) under
 * load from autocannon, against the same handlers on a bare `@effect/platform` server.
 *
 * 1. Throughput: requests/s and p99 of `GET /health` and `POST /users`, volley vs bare
 *    (`NodeHttpServer.layer`, no volley middleware). Contenders run side by side in their own
 *    processes and are measured in alternating slices (A B A B …, 6 x 2.5 s each after a 1 s
 *    warm-up each), so a neighbour's load on the shared cores hits both alike. After each
 *    slice the job queue is allowed to empty, so one contender's background emails never run
 *    during another's slice.
 *    `GET /dashboard` (fan-out to three local upstreams) is measured for volley only.
 * 2. Queue depth: p99 of `POST /users` on volley with 10,000 jobs queued (slow mailer: 10 s,
 *    2 workers, capacity 200,000) vs the same server with an empty queue, plus a control with
 *    the same 10,000 users stored but the queue drained (1 ms mailer), which tells the cost of
 *    a deep queue apart from the cost of a large user store. The three servers are prefilled / warmed with 10,000 requests each at
 *    the same time, then measured one at a time (5 s after a short warm-up).
 * 3. (opt-in) Ablation: `GET /health` on the bare server with volley's pieces added back one
 *    at a time, over HTTP (includes GracefulServer; noisy on shared cores).
 * 4. (opt-in) The same attribution in-process (`internal/serverMicro.js`): each guard's CPU
 *    cost per request without sockets, median over alternating rounds; steadier than 3.
 *
 * Besides req/s and latency, each server reports the CPU time it spent per request
 * (`process.cpuUsage()` in the server, including the background emails the slice caused):
 * on shared cores that is the steadiest cost figure. Peak RSS is the server's
 * `resourceUsage().maxRSS`; heap is measured after a full GC.
 *
 * Servers run in forked children (`internal/serverRunner.js`), autocannon in this process;
 * everything on 127.0.0.1. Emails go to a temp folder, deleted afterwards.
 * Environment: `VOLLEY_BENCH_SERVER=throughput,queue,ablation,micro` picks parts (default
 * the first two); `VOLLEY_BENCH_CPU_PROF=<dir>` writes a V8 CPU profile per server process there.
 *
 * `VOLLEY_BENCH_SERVER_SCALE` scales every run's duration and (below 1) the prefill, e.g. 0.1
 * to check the bench itself; `VOLLEY_BENCH_DEBUG=1` prints a timestamped line per step.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/server.js
 */
import { fork } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import type { MicroResult } from "./internal/serverMicro.js"
import type { Guard, ServerConfig } from "./internal/serverRunner.js"
import {
  alternate,
  BIG_QUEUE,
  CONNECTIONS,
  debug,
  describeBad,
  fastMailer,
  fixed,
  load,
  type Measured,
  measuredHeader,
  measuredRow,
  rate,
  routes,
  row,
  SCALE,
  type Server,
  slice,
  SLICE_S,
  SLICES,
  summarize,
  waitForIdlePool,
  WARMUP_S,
  withServers
} from "./internal/serverLoad.js"

// ---- parameters -----------------------------------------------------------------------------

const QUEUE_TEST_S = 5 * SCALE
const PREFILL = Math.round(10_000 * Math.min(1, SCALE))
const THROUGHPUT_TARGET = 0.9
const QUEUE_P99_TARGET = 1.2

const here = path.dirname(fileURLToPath(import.meta.url))

// ---- 1. throughput: volley vs bare ----------------------------------------------------------

const throughput = async (tmp: string): Promise<void> => {
  const W = 46
  const lines: Array<string> = []
  const verdicts: Array<string> = []
  const verdict = (route: string, v: Measured, b: Measured) => {
    const ratio = rate(v) / rate(b)
    verdicts.push(`${route}: volley req/s ${fixed(ratio, 2)}x bare (target >= ${THROUGHPUT_TARGET}x) ${ratio >= THROUGHPUT_TARGET ? "met" : "MISSED"}`)
  }

  await withServers([
    ["bare", fastMailer(tmp, "health-bare", { kind: "bare" })],
    ["volley", fastMailer(tmp, "health-volley", { kind: "volley" })]
  ], async (servers) => {
    const [b, v] = (await alternate(servers, routes.health)) as [Measured, Measured]
    lines.push(measuredRow("GET /health   bare @effect/platform", W, b, undefined))
    lines.push(measuredRow("              volley Api.layer", W, v, b))
    verdict("GET /health", v, b)
  })

  await withServers([
    ["bare", fastMailer(tmp, "users-bare", { kind: "bare" })],
    ["volley", fastMailer(tmp, "users-volley", { kind: "volley" })]
  ], async (servers) => {
    const [b, v] = (await alternate(servers, routes.users)) as [Measured, Measured]
    lines.push(measuredRow("POST /users   bare @effect/platform", W, b, undefined))
    lines.push(measuredRow("              volley Api.layer", W, v, b))
    verdict("POST /users", v, b)
  })

  await withServers([["volley", fastMailer(tmp, "dashboard", { kind: "volley" })]], async ([volley]) => {
    await slice(volley!, routes.dashboard, { seconds: WARMUP_S })
    const s = await slice(volley!, routes.dashboard, { seconds: SLICE_S * SLICES })
    const m = summarize([s], (await volley!.stats()).maxRssKiB)
    if (m.bad > 0) console.log(`  (note: volley GET /dashboard: ${describeBad([s])})`)
    lines.push(measuredRow("GET /dashboard volley Api.layer (info)", W, m, undefined))
  })

  console.log(
    `\nserver 1: volley (examples/api.ts Api.layer) vs bare @effect/platform; ${CONNECTIONS} connections, ` +
      `${SLICES} alternating slices of ${SLICE_S} s each after ${WARMUP_S} s warm-up; ratios to bare`
  )
  console.log(measuredHeader("route / server", W))
  for (const l of lines) console.log(l)
  for (const v of verdicts) console.log(v)
}

// ---- 2. POST /users with a deep job queue -----------------------------------------------------

interface QueueRun {
  readonly label: string
  readonly queuedAtStart: number
  readonly queuedAtEnd: number
  readonly usersAtStart: number
  readonly m: Measured
  readonly heapMiB: number
}

const queueDepth = async (tmp: string): Promise<void> => {
  const slow = (dir: string): ServerConfig => ({
    kind: "volley",
    outbox: path.join(tmp, dir),
    mailLatencyMs: 10_000,
    workers: 2,
    queueCapacity: BIG_QUEUE
  })
  // Right before each measured run, a warm-up that leaves the queue as it is: invalid bodies,
  // then a few hundred valid users for the submit path.
  const WARM_VALID = 200
  const prefill = async (server: Server, amount: number) => {
    debug(`${server.label}: prefill ${amount}`)
    const r = await load(server, routes.users, { amount })
    debug(`${server.label}: prefilled in ${r.duration} s`)
    if (r["2xx"] !== amount) throw new Error(`prefill of ${server.label}: ${r["2xx"]} of ${amount} accepted`)
    return amount
  }
  const measure = async (server: Server, label: string, usersBefore: number): Promise<QueueRun> => {
    debug(`${server.label}: warm-up`)
    await load(server, routes.invalidUser, { seconds: WARMUP_S })
    await load(server, routes.users, { amount: WARM_VALID })
    debug(`${server.label}: measuring`)
    const queuedAtStart = (await server.jobs()).queued
    const before = await server.stats()
    const result = await load(server, routes.users, { seconds: QUEUE_TEST_S })
    // No waiting for the jobs here: with the slow mailer they would take hours.
    const after = await server.stats()
    const queuedAtEnd = (await server.jobs()).queued
    const heap = await server.stats({ gc: true })
    const m = summarize([{ result, cpuMicros: after.cpuMicros - before.cpuMicros }], after.maxRssKiB)
    if (m.bad > 0) console.log(`  (note: ${label}: ${describeBad([{ result, cpuMicros: 0 }])})`)
    return { label, queuedAtStart, queuedAtEnd, usersAtStart: usersBefore + WARM_VALID, m, heapMiB: heap.heapUsedMiB }
  }

  // All three live together; the two prefills and A's warm-up run at once (nothing is measured
  // then), so each server has served ~10,000 requests before its measured run; then each is
  // measured alone while the others sit idle (B's 2 workers sleep, C's queue is empty).
  const runs = await withServers([
    ["empty", slow("queue-empty")],
    ["deep", slow("queue-deep")],
    ["control", { ...slow("queue-control"), mailLatencyMs: 1, workers: 8 }]
  ], async (servers) => {
    const [empty, deep, control] = servers as [Server, Server, Server]
    let deepUsers = 0
    await Promise.all([
      // The 2 workers take one job each; the rest stay queued (10 s per email, 10 s timeout).
      prefill(deep, PREFILL + 2).then((n) => (deepUsers += n)),
      prefill(control, PREFILL),
      // Invalid bodies are read, decoded and answered 400: A warms up with its queue empty.
      load(empty, routes.invalidUser, { amount: PREFILL })
    ])
    // A prefill slower than the 10 s mail latency lets the workers finish a job or two: top up.
    for (let i = 0; i < 3; i++) {
      const missing = PREFILL - (await deep.jobs()).queued
      if (missing <= 0) break
      deepUsers += await prefill(deep, Math.max(missing, CONNECTIONS))
    }
    const queued = (await deep.jobs()).queued
    if (queued < PREFILL) throw new Error(`deep queue: only ${queued} jobs queued after prefill`)
    if (!(await waitForIdlePool(control, 60_000))) throw new Error("control: the job queue did not drain within 60 s")
    const label = PREFILL.toLocaleString("en-US")
    return [
      await measure(empty, "A  empty queue", 0),
      await measure(deep, `B  ${label} jobs queued`, deepUsers),
      await measure(control, `C  ${label} users, queue drained (1 ms mailer)`, PREFILL)
    ]
  })

  const [a, b, c] = runs as [QueueRun, QueueRun, QueueRun]
  console.log(
    `\nserver 2: volley POST /users with ${PREFILL.toLocaleString("en-US")} background jobs queued vs none; mailer 10 s, ` +
      `2 workers, capacity ${BIG_QUEUE.toLocaleString("en-US")}; ${CONNECTIONS} connections, ${QUEUE_TEST_S} s; ratios to A`
  )
  console.log(row([
    ["scenario", -45],
    ["queued", 7],
    ["->", 7],
    ["users", 7],
    ["req/s", 7],
    ["p50 ms", 8],
    ["p99 ms", 8],
    ["CPU us/req", 11],
    ["RSS MiB", 9],
    ["heap MiB", 9],
    ["p50 x", 7],
    ["p99 x", 7],
    ["RSS x", 7]
  ]))
  for (const r of runs) {
    console.log(row([
      [r.label, -45],
      [String(r.queuedAtStart), 7],
      [String(r.queuedAtEnd), 7],
      [String(r.usersAtStart), 7],
      [fixed(rate(r.m), 0), 7],
      [fixed(r.m.p50), 8],
      [fixed(r.m.p99), 8],
      [fixed(r.m.cpuUs, 0), 11],
      [fixed(r.m.rssMiB, 0), 9],
      [fixed(r.heapMiB, 0), 9],
      [fixed(r.m.p50 / a.m.p50, 2), 7],
      [fixed(r.m.p99 / a.m.p99, 2), 7],
      [fixed(r.m.rssMiB / a.m.rssMiB, 2), 7]
    ]))
  }
  const ratio = b.m.p99 / a.m.p99
  console.log(
    `queued p99 ${fixed(ratio, 2)}x empty (target <= ${QUEUE_P99_TARGET}x) ${ratio <= QUEUE_P99_TARGET ? "met" : "MISSED"}; ` +
      `vs the same store size with the queue drained (C): p99 ${fixed(b.m.p99 / c.m.p99, 2)}x, p50 ${fixed(b.m.p50 / c.m.p50, 2)}x`
  )
  const heldKiB = ((b.heapMiB - c.heapMiB) * 1024) / Math.max(1, b.queuedAtEnd - c.queuedAtEnd)
  console.log(`heap held per queued job (B vs C, after GC): ${fixed(heldKiB)} KiB`)
  console.log(
    "(queued / ->: jobs queued when the measured run started / ended; users: users stored at its start; " +
      "heap: after a full GC at the end; C's emails run during its run, so its CPU includes them)"
  )
}

// ---- 3. ablation: where volley's overhead on GET /health comes from ----------------------------

const ablation = async (tmp: string): Promise<void> => {
  const steps: ReadonlyArray<readonly [string, ReadonlyArray<Guard>]> = [
    ["bare @effect/platform", []],
    ["+ GracefulServer", ["graceful"]],
    ["+ withDeadline", ["deadline"]],
    ["+ withConcurrencyLimit", ["limit"]],
    ["+ instrument", ["instrument"]],
    ["+ all four", ["graceful", "deadline", "limit", "instrument"]]
  ]
  const specs = [
    ...steps.map(([label, guards], i) => [label, fastMailer(tmp, `ablation-${i}`, { kind: "bare", guards })] as const),
    ["volley Api.layer", fastMailer(tmp, "ablation-volley", { kind: "volley" })] as const
  ]
  await withServers(specs, async (servers) => {
    const measured = await alternate(servers, routes.health)
    const W = 28
    console.log(`\nserver 3: GET /health, bare server with volley's pieces added one at a time; ratios to bare`)
    console.log(measuredHeader("server", W))
    for (const [i, m] of measured.entries()) console.log(measuredRow(specs[i]![0], W, m, i === 0 ? undefined : measured[0]))
  })
}

// ---- 4. in-process cost of each guard ---------------------------------------------------------

const micro = async (): Promise<void> => {
  const results = await new Promise<ReadonlyArray<MicroResult>>((resolve, reject) => {
    const child = fork(path.join(here, "internal", "serverMicro.js"), [], { stdio: ["ignore", "pipe", "inherit", "ipc"] })
    let out = ""
    child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")))
    child.once("error", reject)
    child.once("exit", (code) => {
      try {
        if (code !== 0) throw new Error(`serverMicro exited with ${code}`)
        resolve(JSON.parse(out.trim().split("\n").pop() ?? "") as ReadonlyArray<MicroResult>)
      } catch (error) {
        reject(error)
      }
    })
  })
  const base = results[0]!
  console.log("\nserver 4: GET /health in-process (web handler, no sockets), median CPU per request; deltas to the bare router")
  console.log(row([["app", -36], ["CPU us/req", 11], ["+us", 8], ["x", 7], ["wall us/req", 12]]))
  for (const r of results) {
    console.log(row([
      [r.label, -36],
      [fixed(r.cpuUs), 11],
      [r === base ? "" : fixed(r.cpuUs - base.cpuUs), 8],
      [r === base ? "" : fixed(r.cpuUs / base.cpuUs, 2), 7],
      [fixed(r.wallUs), 12]
    ]))
  }
}

// ---- entry ----------------------------------------------------------------------------------

/** Runs the server benchmarks (see the module docs) and prints their tables. */
export const run = async (): Promise<void> => {
  const parts = (process.env["VOLLEY_BENCH_SERVER"] ?? "throughput,queue").split(",").map((p) => p.trim())
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "volley-bench-server-"))
  const started = Date.now()
  try {
    if (parts.includes("throughput")) await throughput(tmp)
    if (parts.includes("queue")) await queueDepth(tmp)
    if (parts.includes("ablation")) await ablation(tmp)
    if (parts.includes("micro")) await micro()
    console.log(
      `(server bench: ${((Date.now() - started) / 1000).toFixed(0)} s; cores shared with other work: ` +
        "absolute figures are noisy, compare the ratios and CPU per request)"
    )
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
