/**
 * `volley serve` on its embedded default (a SQLite file) as a user runs it: crash recovery
 * after `kill -9`, the `volley jobs` commands on the same file, and clear errors for a bad
 * `--db`, an unreachable database and a corrupt file.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import * as SignUps from "../examples/signups.js"
import * as DurableJobs from "../src/server/DurableJobs.js"
import { canMountTmpfs, inBatches, killAll, mountTmpfs, postUser, serve, until } from "./support/serve.js"
import { missingOutsideCi, runNode } from "./support/spawn.js"

afterEach(() => killAll())

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "volley-jobs-serve-"))
/** A port nobody listens on: bind one, note it, close it. */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port
      s.close(() => resolve(p))
    })
  })
const emails = (outbox: string) => fs.readdirSync(outbox).filter((f) => f.endsWith(".eml")).sort()

describe("volley serve on the durable queue (SQLite)", () => {
  it("kill -9 with 100 accepted sign-ups queued: after a restart on the same file, all 100 emails are in the outbox exactly once", async () => {
    const dir = tempDir()
    const outbox = path.join(dir, "outbox")
    const db = `file:${path.join(dir, "volley.db")}`
    // A slow mailer: most of the 100 emails are still queued when the process dies.
    const first = await serve(["--db", db, "--outbox", outbox, "--workers", "2", "--mail-latency", "300", "--lease", "1"])
    const statuses = await inBatches(Array.from({ length: 100 }, (_, i) => i), 10, async (i) => (await postUser(first.url, i)).status)
    expect(statuses.filter((s) => s !== 201)).toEqual([])
    first.child.kill("SIGKILL")
    await first.exited
    const beforeRestart = emails(outbox).length
    expect(beforeRestart).toBeLessThan(100)

    const second = await serve(["--db", db, "--outbox", outbox, "--workers", "4", "--mail-latency", "10", "--lease", "1"])
    await until(() => emails(outbox).length === 100, "100 emails after the restart", 30_000)
    const expected = Array.from({ length: 100 }, (_, i) => `welcome-${i + 1}.eml`).sort()
    expect(emails(outbox)).toEqual(expected)
    // One email per user, each to the right address (users and jobs were committed together).
    const bodies = expected.map((f) => fs.readFileSync(path.join(outbox, f), "utf8"))
    expect(new Set(bodies.map((b) => /^To: (.*)$/m.exec(b)?.[1])).size).toBe(100)
    const jobs = await (await fetch(`${second.url}/jobs`)).json() as { counts: Record<string, number>; deadLetters: Array<unknown> }
    await until(async () => ((await (await fetch(`${second.url}/jobs`)).json()) as typeof jobs).counts["done"] === 100, "100 jobs done", 10_000)
    expect(jobs.deadLetters).toEqual([])
    second.child.kill("SIGTERM")
    expect(await second.exited).toBe(0)

    // The same file through the CLI.
    const list = await runNode(["bin/volley.js", "jobs", "list", "--db", db, "--limit", "3"])
    expect(list.code).toBe(0)
    expect(list.stdout).toContain("queue email: 0 queued, 0 running, 100 done, 0 dead")
    expect(list.stdout).toMatch(/^welcome-email:1 {2}done {2}attempts 1/m)
    const retry = await runNode(["bin/volley.js", "jobs", "retry", "welcome-email:1", "--db", db])
    expect({ code: retry.code, stderr: retry.stderr.trim() }).toEqual({ code: 2, stderr: "volley jobs retry: no dead job with id welcome-email:1" })
    fs.rmSync(dir, { recursive: true, force: true })
  }, 90_000)

  it("the database file, its WAL and its folder are created private (0600, 0700): they hold names and emails", async () => {
    const dir = tempDir()
    const folder = path.join(dir, "data")
    const file = path.join(folder, "volley.db")
    const served = await serve(["--db", `file:${file}`, "--outbox", path.join(dir, "outbox"), "--mail-latency", "0"])
    expect((await postUser(served.url, 1)).status).toBe(201)
    const mode = (f: string) => (fs.statSync(f).mode & 0o777).toString(8)
    expect({ folder: mode(folder), db: mode(file), wal: mode(`${file}-wal`), shm: mode(`${file}-shm`) }).toEqual({ folder: "700", db: "600", wal: "600", shm: "600" })
    served.child.kill("SIGTERM")
    expect(await served.exited).toBe(0)
    fs.rmSync(dir, { recursive: true, force: true })
  }, 30_000)

  it.skipIf(missingOutsideCi(!canMountTmpfs))("on a database it cannot write (a read-only mount), volley serve fails at start, saying so", async () => {
    const fsys = mountTmpfs("size=4m")
    try {
      const db = `file:${path.join(fsys.dir, "volley.db")}`
      const first = await serve(["--db", db, "--outbox", path.join(fsys.dir, "outbox")])
      first.child.kill("SIGTERM")
      expect(await first.exited).toBe(0)
      fsys.remount("ro")
      const second = await runNode(["bin/volley.js", "serve", "--port", "0", "--db", db, "--outbox", path.join(tempDir(), "outbox")], { timeoutMs: 15_000 })
      expect({ code: second.code, listening: second.stdout.includes("listening") }).toEqual({ code: 1, listening: false })
      expect(second.stderr).toContain(`volley serve: cannot open database ${path.join(fsys.dir, "volley.db")}: the database is not writable`)
    } finally {
      fsys.dispose()
    }
  }, 30_000)

  it("a row that is not JSON: volley serve dead-letters it and still drains and exits 0 on SIGTERM; volley jobs list shows it", async () => {
    const dir = tempDir()
    const file = path.join(dir, "volley.db")
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(DurableJobs.layerSqlite({ filename: file }))
      const sql = Context.get(context, SqlClient.SqlClient)
      yield* sql`INSERT INTO volley_jobs (id, queue_name, element, state, attempts, run_after, created_at, updated_at)
        VALUES ('welcome-email:poison', 'email', '{not json', 'queued', 0, 0, 0, 0)`
    })))
    const served = await serve(["--db", `file:${file}`, "--outbox", path.join(dir, "outbox"), "--mail-latency", "0"])
    const counts = async () => ((await (await fetch(`${served.url}/jobs`)).json()) as { counts: Record<string, number> }).counts
    await until(async () => (await counts())["dead"] === 1, "the row dead-lettered", 10_000)
    expect((await postUser(served.url, 1)).status).toBe(201)
    await until(async () => (await counts())["done"] === 1, "a sign-up's email sent after it", 10_000)
    served.child.kill("SIGTERM")
    expect(await served.exited).toBe(0)
    const list = await runNode(["bin/volley.js", "jobs", "list", "--db", `file:${file}`], { timeoutMs: 15_000 })
    expect(list.code).toBe(0)
    expect(list.stdout).toMatch(/^welcome-email:poison {2}dead {2}attempts 0 .*error: stored element is not valid JSON$/m)
    fs.rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  it("GET /jobs shows dead letters by id, kind, attempts and error code only; volley jobs list prints stored text terminal-safe (--details: payload and stack); so do the server's log lines", async () => {
    const dir = tempDir()
    const file = path.join(dir, "volley.db")
    const hostile = "upstream said \u001b]0;pwned\u0007\u009b2J\u0085"
    class UpstreamRefused extends Data.TaggedError("UpstreamRefused")<{ readonly body: string }> {
      override get message() {
        return this.body
      }
    }
    // A dead letter whose payload is a user and whose error quotes a hostile upstream, and a
    // row (not JSON) whose id carries escapes, which the server logs when it dead-letters it.
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const Welcome = DurableJobs.kind("welcome-email", { payload: SignUps.WelcomeEmail.payload, retry: { times: 0 } })
      const failing = DurableJobs.handle(Welcome, () => Effect.fail(new UpstreamRefused({ body: hostile })))
      const context = yield* Layer.build(Layer.provideMerge(DurableJobs.layer({ name: "email", handlers: [failing] }), DurableJobs.layerSqlite({ filename: file })))
      const jobs = Context.get(context, DurableJobs.DurableJobs)
      yield* jobs.submit(Welcome, { id: 7, name: "Grace Secretname", email: "grace@private.example" }, { key: "7" })
      while ((yield* jobs.stats).dead < 1) yield* Effect.sleep("20 millis")
    }).pipe(Effect.timeout("10 seconds"), Effect.provide(Logger.remove(Logger.defaultLogger)))))
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const sql = Context.get(yield* Layer.build(DurableJobs.layerSqlite({ filename: file })), SqlClient.SqlClient)
      yield* sql`INSERT INTO volley_jobs (id, queue_name, element, state, attempts, run_after, created_at, updated_at)
        VALUES (${"welcome-email:\u001b]0;pwned\u0007"}, 'email', '{not json', 'queued', 0, 0, 0, 0)`
    })))

    const served = await serve(["--db", `file:${file}`, "--outbox", path.join(dir, "outbox"), "--mail-latency", "0"])
    const view = async () => (await (await fetch(`${served.url}/jobs`)).json()) as { counts: Record<string, number>; deadLetters: Array<unknown> }
    await until(async () => (await view()).counts["dead"] === 2, "both dead letters", 10_000)
    const body = JSON.stringify(await view())
    expect((await view()).deadLetters).toEqual([
      { id: "welcome-email:7", kind: "welcome-email", attempts: 1, error: "UpstreamRefused" },
      { id: "welcome-email:\u001b]0;pwned\u0007", kind: "?", attempts: 0, error: "Error" }
    ])
    expect(body).not.toMatch(/Secretname|private\.example|upstream said|\bat /)
    // The email check refuses C1 controls (U+0085 is not \s): no dead letter to be made that way.
    const c1 = await fetch(`${served.url}/users`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "x", email: "a\u0085b@example.com" }) })
    expect(c1.status).toBe(400)
    expect(await c1.text()).toContain("email must not contain control characters")
    served.child.kill("SIGTERM")
    expect(await served.exited).toBe(0)
    expect(served.output()).toContain("job welcome-email:\\x1b]0;pwned\\x07 is not valid JSON")
    expect(served.output()).not.toMatch(/[\u001b\u0007\u0085\u009b]/)

    const list = await runNode(["bin/volley.js", "jobs", "list", "--db", `file:${file}`, "--state", "dead"], { timeoutMs: 15_000 })
    expect(list.code).toBe(0)
    expect(list.stdout).toContain("welcome-email:7  dead  attempts 1")
    expect(list.stdout).toContain("upstream said \\x1b]0;pwned\\x07\\x9b2J\\x85")
    expect(list.stdout).not.toContain("Secretname")
    const detailed = await runNode(["bin/volley.js", "jobs", "list", "--db", `file:${file}`, "--state", "dead", "--details"], { timeoutMs: 15_000 })
    expect(detailed.code).toBe(0)
    expect(detailed.stdout).toContain(`payload: {"id":7,"name":"Grace Secretname","email":"grace@private.example"}`)
    expect(detailed.stdout).toMatch(/^ {2}\| +at /m)
    for (const out of [list.stdout, list.stderr, detailed.stdout, detailed.stderr]) expect(out).not.toMatch(/[\u001b\u0007\u0085\u009b]/)
    fs.rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  it.skipIf(missingOutsideCi(!canMountTmpfs))("a commit that fails (disk full) answers 503 with Retry-After, logged at ERROR; every acknowledged sign-up keeps its user and email", async () => {
    const fsys = mountTmpfs("size=1m")
    const dir = tempDir()
    try {
      const db = `file:${path.join(fsys.dir, "volley.db")}`
      const outbox = path.join(dir, "outbox")
      const served = await serve(["--db", db, "--outbox", outbox, "--mail-latency", "0"])
      expect((await postUser(served.url, 1)).status).toBe(201)
      await until(() => fs.existsSync(path.join(outbox, "welcome-1.eml")), "the first email", 10_000)
      // Fill the file system: the next commit cannot append to the WAL.
      const filler = path.join(fsys.dir, "filler")
      const fd = fs.openSync(filler, "w")
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(4096))
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe("ENOSPC")
      } finally {
        fs.closeSync(fd)
      }
      const refused = await postUser(served.url, 2)
      expect({ status: refused.status, retryAfter: refused.headers.get("retry-after") }).toEqual({ status: 503, retryAfter: "1" })
      expect(served.output()).toMatch(/level=ERROR .*sign-up not stored/)
      fs.rmSync(filler)
      // Space again: sign-ups are taken, and each acknowledged one has its email.
      const accepted = await postUser(served.url, 3)
      expect(accepted.status).toBe(201)
      const { id } = await accepted.json() as { id: number }
      await until(() => fs.existsSync(path.join(outbox, `welcome-${id}.eml`)), "the email of the sign-up after the failure", 10_000)
      served.child.kill("SIGTERM")
      expect(await served.exited).toBe(0)
      const list = await runNode(["bin/volley.js", "jobs", "list", "--db", db], { timeoutMs: 15_000 })
      expect(list.stdout).toContain("queue email: 0 queued, 0 running, 2 done, 0 dead")
    } finally {
      fsys.dispose()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it("a bad --db URL is a usage error (exit 2) naming it; VOLLEY_DB is read the same way", async () => {
    const bad = await runNode(["bin/volley.js", "serve", "--port", "0", "--db", "mysql://localhost/x"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("volley serve: bad database URL \"mysql://localhost/x\": unknown scheme")
    const env = await runNode(["bin/volley.js", "jobs", "list"], { env: { VOLLEY_DB: "postgres://u:hunter2@/db" } })
    expect(env.code).toBe(2)
    expect(env.stderr).toContain("bad database URL")
    expect(env.stderr).not.toContain("hunter2")
  })

  it("a PostgreSQL password is never echoed: in ?password= / ?sslpassword=, or holding a / (a URL that does not parse)", async () => {
    const port = await closedPort()
    const query = await runNode(["bin/volley.js", "serve", "--port", "0", "--db", `postgres://alice@127.0.0.1:${port}/db?password=Qpw1secret&sslpassword=Qpw2secret`], { timeoutMs: 15_000 })
    expect(query.code).toBe(1)
    expect(query.stderr).toContain(`cannot open database postgres://***@127.0.0.1:${port}/db?password=***&sslpassword=***`)
    const slash = await runNode(["bin/volley.js", "jobs", "list", "--db", `postgres://alice:S3cr/etPW@127.0.0.1:${port}/db`], { timeoutMs: 15_000 })
    expect(slash.code).toBe(2)
    expect(slash.stderr).toContain(`bad database URL "postgres://***@127.0.0.1:${port}/db": not a valid URL`)
    for (const out of [query.stdout, query.stderr, slash.stdout, slash.stderr]) {
      expect(out).not.toMatch(/Qpw1secret|Qpw2secret|etPW|S3cr/)
    }
  }, 30_000)

  it("an unreachable PostgreSQL and a corrupt SQLite file each fail with the cause named, and the file is left as it was", async () => {
    const port = await closedPort()
    const down = await runNode(["bin/volley.js", "serve", "--port", "0", "--db", `postgres://volley:hunter2@127.0.0.1:${port}/volley`])
    expect(down.code).toBe(1)
    expect(down.stderr).toContain(`cannot open database postgres://***@127.0.0.1:${port}/volley`)
    expect(down.stderr).toMatch(/ECONNREFUSED|connect/)
    expect(down.stderr + down.stdout).not.toContain("hunter2")

    const dir = tempDir()
    const file = path.join(dir, "volley.db")
    const data = Buffer.from("precious, but not SQLite\n".repeat(500))
    fs.writeFileSync(file, data)
    const corrupt = await runNode(["bin/volley.js", "serve", "--port", "0", "--db", `file:${file}`])
    expect(corrupt.code).toBe(1)
    expect(corrupt.stderr).toContain(`cannot open database ${file}`)
    expect(corrupt.stderr).toMatch(/not a database/i)
    expect(fs.readFileSync(file).equals(data)).toBe(true)
    fs.rmSync(dir, { recursive: true, force: true })
  }, 30_000)
})
