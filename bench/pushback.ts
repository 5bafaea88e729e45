/**
 * `VOLLEY_BENCH=pushback`: issue 19's hosts that push back, over real loopback sockets, through
 * the real client (`Batch.settle`, a fresh `Client.layer` per row): the `volley/testing` server
 * models in a process of their own (`internal/pushbackServer.ts`), under the live clock.
 *
 * | host | items, concurrency |
 * | --- | --- |
 * | rate limit 100/s, IETF headers, 429 + Retry-After past it | 2,000 GETs, c=64 |
 * | capacity 16 in service + 16 queued, 20 ms each, 503 at once beyond | 2,000 GETs, c=128 |
 * | down: always 503 | 500 GETs, c=32 |
 *
 * Each host runs with the defaults, with the policy the issue names (`perHost: "adaptive"`, the
 * circuit breaker), and with the per-host policies off (`retryBudget: false, serverSignals:
 * false`: each request retrying alone, as before issue 19); the capacity host also at c=32, its
 * capacity, which no 503 answers: the goodput the host gives on this machine. Per row: requests the host got,
 * its rejections (429/503), failed items, amplification (requests / items), the most requests
 * it had in at once (the capacity host's own count), wall time and items per second (the capacity host serves 800/s), and
 * what the batch summary counted (pauses, budget and breaker refusals). Every round's row is
 * printed, none dropped. Knobs: `VOLLEY_BENCH_PUSHBACK_ROUNDS` (1), `VOLLEY_BENCH_PUSHBACK_ROWS`
 * (a comma-separated list of row names, or substrings of them; all by default). Also runs alone:
 * `node dist/bench/pushback.js`.
 */
import * as ManagedRuntime from "effect/ManagedRuntime"
import { type ChildProcess, fork } from "node:child_process"
import { pathToFileURL } from "node:url"
import * as Batch from "../src/Batch.js"
import * as Client from "../src/Client.js"
import type { ServerStats } from "../src/Testing.js"

interface Row {
  readonly name: string
  readonly host: "ratelimit" | "capacity" | "down"
  readonly items: number
  readonly concurrency: number
  readonly client?: Client.ClientOptions
  readonly batch?: Pick<Batch.Options<string, unknown, unknown, never>, "perHost" | "circuitBreaker">
}

const off = { retryBudget: false, serverSignals: false } as const

export const rows: ReadonlyArray<Row> = [
  { name: "ratelimit default", host: "ratelimit", items: 2000, concurrency: 64 },
  { name: "ratelimit off", host: "ratelimit", items: 2000, concurrency: 64, client: off },
  { name: "capacity default", host: "capacity", items: 2000, concurrency: 128 },
  { name: "capacity adaptive", host: "capacity", items: 2000, concurrency: 128, batch: { perHost: "adaptive" } },
  { name: "capacity off", host: "capacity", items: 2000, concurrency: 128, client: off },
  // The reference: a client that knows the capacity (32 = 16 in service + 16 queued) never gets a 503.
  { name: "capacity c=32", host: "capacity", items: 2000, concurrency: 32 },
  { name: "down default", host: "down", items: 500, concurrency: 32 },
  { name: "down breaker", host: "down", items: 500, concurrency: 32, batch: { circuitBreaker: true } },
  { name: "down off", host: "down", items: 500, concurrency: 32, client: off }
]

/** The models' process, and a way to ask it one thing at a time. */
const startServer = async () => {
  const child: ChildProcess = fork(new URL("./internal/pushbackServer.js", import.meta.url), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const next = () => new Promise<unknown>((resolve) => child.once("message", resolve))
  const { port } = (await next()) as { port: number }
  const ask = async (message: object) => (child.send(message), next())
  return {
    url: `http://127.0.0.1:${port}`,
    reset: () => ask({ op: "reset" }),
    stats: async (model: string) => ((await ask({ op: "stats", model })) as { stats: ServerStats }).stats,
    stop: () => child.disconnect()
  }
}

export interface Measured {
  readonly row: Row
  readonly sent: number
  readonly rejected: number
  readonly failed: number
  /** The most requests the host had in at once. */
  readonly peak: number
  readonly seconds: number
  readonly summary: Batch.Summary
}

const measure = async (server: Awaited<ReturnType<typeof startServer>>, row: Row): Promise<Measured> => {
  await server.reset()
  const urls = Array.from({ length: row.items }, (_, i) => `${server.url}/${row.host}/item/${i}`)
  const runtime = ManagedRuntime.make(Client.layer(row.client ?? {}))
  try {
    const start = performance.now()
    const outcomes = await runtime.runPromise(Batch.settle(urls, { concurrency: row.concurrency, ...row.batch }))
    const seconds = (performance.now() - start) / 1000
    const summary = Batch.summarize(outcomes)
    const stats = await server.stats(row.host)
    return { row, sent: stats.requests, rejected: stats.rejected, failed: summary.failed, peak: stats.maxConcurrent, seconds, summary }
  } finally {
    await runtime.dispose()
  }
}

const columns = ["row", "items", "c", "sent", "rejected", "failed", "ampl.", "peak", "wall s", "items/s", "pauses", "budget ref.", "breaker ref."] as const

const line = (m: Measured): ReadonlyArray<string> => [
  m.row.name,
  String(m.row.items),
  String(m.row.concurrency),
  String(m.sent),
  String(m.rejected),
  String(m.failed),
  `${(m.sent / m.row.items).toFixed(2)}x`,
  String(m.peak),
  m.seconds.toFixed(2),
  (m.row.items / m.seconds).toFixed(0),
  String(m.summary.pauses),
  String(m.summary.budgetRefused),
  String(m.summary.breakerRefused)
]

export const run = async (): Promise<void> => {
  const rounds = Math.max(1, Number(process.env["VOLLEY_BENCH_PUSHBACK_ROUNDS"] ?? 1))
  const only = process.env["VOLLEY_BENCH_PUSHBACK_ROWS"]?.split(",").filter((name) => name !== "")
  const chosen = rows.filter((row) => only === undefined || only.length === 0 || only.some((name) => row.name.includes(name)))
  console.log("\npushback: issue 19's hosts over loopback (volley/testing models, own process), Batch.settle, every round")
  console.log("(off: retryBudget false, serverSignals false; rejected: the host's 429s/503s; ampl.: requests / items)")
  const widths = [18, 6, 4, 6, 9, 7, 6, 5, 7, 8, 7, 12, 13]
  const print = (cells: ReadonlyArray<string>) => console.log(cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" "))
  print(columns)
  const server = await startServer()
  try {
    for (let round = 0; round < rounds; round++) {
      for (const row of chosen) print(line(await measure(server, row)))
    }
  } finally {
    server.stop()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
