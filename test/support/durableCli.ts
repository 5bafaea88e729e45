/**
 * Helpers for the `volley fetch --db` and `volley download --db` tests: a CLI process that can
 * be killed mid-run, the requests per URL a fault server saw, the store's rows read directly,
 * and the PostgreSQL rig of the two-worker tests.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { open } from "../../src/internal/durableBatch/database.js"
import { tables } from "../../src/internal/durableBatch/schema.js"
import { type FaultServer, startFaultServer } from "./FaultServer.js"
import { type Postgres, startPostgres } from "./postgres.js"
import { root } from "./spawn.js"

export interface Running {
  readonly child: ChildProcessWithoutNullStreams
  readonly done: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly stdout: string; readonly stderr: string }>
}

/** Starts `volley <args>`; `done` resolves when it exits (SIGKILLed after `timeoutMs`). */
export const startCli = (args: ReadonlyArray<string>, options: { readonly timeoutMs?: number; readonly env?: NodeJS.ProcessEnv } = {}): Running => {
  const child = spawn(process.execPath, ["bin/volley.js", ...args], { cwd: root, env: { ...process.env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] })
  child.stdin.end()
  let stdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
  return { child, done }
}

/** Polls `check` every 20 ms until it holds, failing after `timeoutMs`. */
export const until = async (check: () => boolean, timeoutMs: number, what: string): Promise<void> => {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Requests per path (query included). */
export const perPath = (requests: ReadonlyArray<{ readonly path: string }>): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const r of requests) counts.set(r.path, (counts.get(r.path) ?? 0) + 1)
  return counts
}

/** The store's rows of a batch by state (and, for claimed rows, how many were marked sent). */
export const storeCounts = (url: string): Promise<{ readonly pending: number; readonly claimed: number; readonly sent: number; readonly done: number }> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const s = yield* open(url)
    const rows = yield* s.sql<{ readonly state: string; readonly sent: number | string; readonly n: number | string }>`
      SELECT state, CASE WHEN sent_at IS NULL THEN 0 ELSE 1 END AS sent, COUNT(*) AS n FROM ${s.sql(tables.items)} GROUP BY 1, 2`
    const out = { pending: 0, claimed: 0, sent: 0, done: 0 }
    for (const r of rows) {
      const n = Number(r.n)
      if (r.state === "pending") out.pending += n
      else if (r.state === "done") out.done += n
      else {
        out.claimed += n
        if (Number(r.sent) === 1) out.sent += n
      }
    }
    return out
  })))

/** Parses NDJSON output, failing on any line that is not one whole JSON object. */
export const records = (stdout: string): Array<{ readonly line: number; readonly ok: boolean; readonly error?: string; readonly message?: string }> =>
  stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { line: number; ok: boolean })

/** A PostgreSQL server, a fault server and a scratch folder for one test file. */
export interface PgRig {
  readonly pg: Postgres
  readonly server: FaultServer
  readonly dir: string
  /** A new, empty database on the server: its URL. */
  readonly freshDatabase: () => Promise<string>
  readonly stop: () => Promise<void>
}

export const startPgRig = async (prefix: string): Promise<PgRig> => {
  const [pg, server] = await Promise.all([startPostgres(), startFaultServer()])
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  let databases = 0
  return {
    pg,
    server,
    dir,
    freshDatabase: async () => {
      const name = `d${++databases}`
      await pg.createDatabase(name)
      return pg.url(name)
    },
    stop: async () => {
      await server.close()
      await pg.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
