/**
 * `volley download --db file:…` as a user runs it: the built CLI against the fault server's
 * `/files/` route (which counts requests per URL), killed with SIGKILL mid-run and rerun; a
 * claim taken away mid-download; names that collide; bad durable flags.
 */
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { open } from "../src/internal/durableBatch/database.js"
import { tables } from "../src/internal/durableBatch/schema.js"
import { runDownload } from "./support/cliDownload.js"
import { perPath, startCli, storeCounts, until } from "./support/durableCli.js"
import { type FaultServer, startFaultServer } from "./support/FaultServer.js"
import { pattern } from "./support/faultRoutes.js"
import { hasScript, missingOutsideCi, runInTerminal, runNode } from "./support/spawn.js"

const SIZE = 20_000
const HEX = createHash("sha256").update(pattern(0, SIZE)).digest("hex")
let server: FaultServer
let dir: string

beforeAll(async () => {
  server = await startFaultServer()
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-durable-download-"))
})
afterAll(async () => {
  await server.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

/** A list of `n` files `fK.bin`, each held back `ms` by the server, with its checksum. */
const writeList = (name: string, n: number, ms: number) => {
  const list = path.join(dir, `${name}.txt`)
  fs.writeFileSync(list, Array.from({ length: n }, (_, i) => `${server.url}/files/f${i}.bin?size=${SIZE}&ms=${ms} sha256:${HEX}`).join("\n") + "\n")
  return list
}

/** The files of a folder: complete ones by name, and any side files left. */
const folder = (out: string) => {
  const names = fs.existsSync(out) ? fs.readdirSync(out) : []
  return {
    files: names.filter((n) => !n.includes(".part")),
    sideFiles: names.filter((n) => n.includes(".part")),
    hashOf: (n: string) => createHash("sha256").update(fs.readFileSync(path.join(out, n))).digest("hex")
  }
}

const run = (sql: (s: Effect.Effect.Success<ReturnType<typeof open>>) => Effect.Effect<unknown, unknown>, db: string) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(open(db), sql)))

describe("volley download --db (SQLite)", () => {
  it("killed mid-run, then rerun: every file complete and checksummed, each fetched at most once more than the claims open at the kill, no .part left", async () => {
    server.reset()
    const N = 60
    const list = writeList("crash", N, 60)
    const out = path.join(dir, "crash-out")
    const db = `file:${path.join(dir, "crash.db")}`
    const args = ["--db", db, "--lease", "1s", "-c", "4", "--per-host", "4", "-d", out, "-i", list]
    const first = startCli(["download", ...args], { timeoutMs: 60_000 })
    await until(() => server.requests.length >= N / 3, 45_000, "a third of the files")
    first.child.kill("SIGKILL")
    expect((await first.done).signal).toBe("SIGKILL")
    const atKill = await storeCounts(db)
    expect(atKill.done).toBeGreaterThan(0)
    expect(atKill.done + atKill.claimed + atKill.pending).toBe(N)

    const second = await runDownload(args)
    expect([second.code, second.stderr.slice(-400)]).toEqual([0, second.stderr.slice(-400)])
    expect(second.stdout).toContain(`${N} files: ${N} ok`)
    const { files, hashOf, sideFiles } = folder(out)
    expect(files.sort()).toEqual(Array.from({ length: N }, (_, i) => `f${i}.bin`).sort())
    for (const f of files) expect(hashOf(f)).toBe(HEX)
    expect(sideFiles).toEqual([])
    const counts = perPath(server.requests)
    expect(counts.size).toBe(N)
    expect([...counts.values()].every((n) => n <= 2)).toBe(true)
    const extra = server.requests.length - N
    expect(extra).toBeLessThanOrEqual(atKill.claimed)
    console.log(`download --db crash: N=${N}, done at kill ${atKill.done}, claims open at kill ${atKill.claimed}, fetched twice ${extra}`)

    // After completion: nothing is fetched, and the stored outcomes are reported again.
    const before = server.requests.length
    const third = await runDownload(args)
    expect(third.code).toBe(0)
    expect(server.requests.length).toBe(before)
    expect(third.stdout).toContain(`${N} files: ${N} ok`)
    expect(third.stderr).toContain(`0 files of ${N} downloaded by this worker`)

    // `volley batch results`: one record per file, in list order, with its checksum verdict.
    const name = /batch (\S+):/.exec(third.stderr)?.[1] ?? ""
    const results = await runNode(["bin/volley.js", "batch", "results", "--db", db, name], { timeoutMs: 60_000 })
    expect(results.code).toBe(0)
    const records = results.stdout.trim().split("\n").map((l) => JSON.parse(l) as { item: number; ok: boolean; checksum: string; verified: boolean; path: string })
    expect(records.map((r) => r.item)).toEqual(Array.from({ length: N }, (_, i) => i + 1))
    for (const r of records) expect([r.ok, r.checksum, r.verified, path.basename(r.path)]).toEqual([true, `sha256:${HEX}`, true, `f${r.item - 1}.bin`])
  }, 120_000)

  it("Ctrl-C: exit 130 with the partial summary, this worker's claims given back at once, the rerun finishes the list", async () => {
    server.reset()
    const N = 30
    const list = writeList("sigint", N, 300)
    const out = path.join(dir, "sigint-out")
    const db = `file:${path.join(dir, "sigint.db")}`
    const args = ["--db", db, "-c", "4", "--per-host", "4", "-d", out, "-i", list]
    const first = startCli(["download", ...args], { timeoutMs: 60_000 })
    await until(() => server.requests.length >= 6, 45_000, "six files")
    first.child.kill("SIGINT")
    const stopped = await first.done
    expect(stopped.code).toBe(130)
    expect(stopped.stderr).toContain("interrupted after")
    const atStop = await storeCounts(db)
    expect(atStop.claimed).toBe(0) // released, not left to expire
    expect(atStop.done + atStop.pending).toBe(N)
    const second = await runDownload(args)
    expect(second.code).toBe(0)
    expect(second.stdout).toContain(`${N} files: ${N} ok`)
    expect(folder(out).sideFiles).toEqual([])
  }, 60_000)

  it.skipIf(missingOutsideCi(!hasScript))("on a terminal, the total line counts the files other workers finished", async () => {
    server.reset()
    const N = 40
    const list = writeList("tty", N, 250)
    const out = path.join(dir, "tty-out")
    const db = `file:${path.join(dir, "tty.db")}`
    const args = ["download", "--db", db, "-c", "2", "--per-host", "4", "-d", out, "-i", list]
    const other = startCli(args, { timeoutMs: 60_000 })
    const mine = await runInTerminal(["bin/volley.js", ...args], { timeoutMs: 60_000 })
    expect([mine.code, (await other.done).code]).toEqual([0, 0])
    expect(mine.stdout).toMatch(new RegExp(`total {2}\\d+/${N} files, \\d+ by other workers`))
    expect(mine.stdout).toContain(`${N} files: ${N} ok`)
  }, 60_000)

  it("a claim taken over mid-download: the worker writes no .part and renames nothing, stores nothing, and downloads the file again once it gets the claim back", async () => {
    server.reset()
    const list = path.join(dir, "stolen.txt")
    fs.writeFileSync(list, `${server.url}/files/stolen.bin?size=${SIZE}&ms=1500 sha256:${HEX}\n`)
    const out = path.join(dir, "stolen-out")
    const db = `file:${path.join(dir, "stolen.db")}`
    // The default lease (30 s): the lease renewal cannot notice the theft in time, only the guard.
    const worker = startCli(["download", "--db", db, "-d", out, "-i", list], { timeoutMs: 60_000 })
    await until(() => server.requests.length >= 1, 45_000, "the first request")
    // Another worker takes the claim over for 2.5 s while the response is held back.
    await run((s) => s.sql`UPDATE ${s.sql(tables.items)} SET acquired_by = 'thief', lease_until = ${Date.now() + 2_500}`, db)
    await until(() => server.requests.length >= 2 || fs.existsSync(path.join(out, "stolen.bin")), 30_000, "the second request")
    // When the claim came back, neither a .part nor the file had been written.
    expect(server.requests.length).toBe(2)
    expect([folder(out).files, folder(out).sideFiles]).toEqual([[], []])
    const done = await worker.done
    expect(done.code).toBe(0)
    const { files, hashOf, sideFiles } = folder(out)
    expect([files, sideFiles]).toEqual([["stolen.bin"], []])
    expect(hashOf("stolen.bin")).toBe(HEX)
    expect(done.stdout).toContain("1 file: 1 ok")
  }, 60_000)

  it("two list items wanting the same name: the later one gets `name (1)`, by its place in the list, and a note says so", async () => {
    server.reset()
    const list = path.join(dir, "same.txt")
    fs.writeFileSync(list, [`${server.url}/files/x/a.bin?size=100`, `${server.url}/files/y/a.bin?size=200`, `${server.url}/files/z/A.bin?size=300`].join("\n") + "\n")
    const out = path.join(dir, "same-out")
    const result = await runDownload(["--db", `file:${path.join(dir, "same.db")}`, "-d", out, "-i", list])
    expect(result.code).toBe(0)
    expect(fs.statSync(path.join(out, "a.bin")).size).toBe(100)
    expect(fs.statSync(path.join(out, "a (1).bin")).size).toBe(200)
    expect(fs.statSync(path.join(out, "A (2).bin")).size).toBe(300)
    expect(result.stderr).toContain(`item 2 would be saved as "a.bin" like item 1: saved as "a (1).bin"`)
  }, 60_000)

  it("bad durable flags are usage errors (exit 2) naming the problem, before anything is downloaded", async () => {
    server.reset()
    const url = `${server.url}/files/u.bin?size=10`
    const out = path.join(dir, "bad-out")
    const badUrl = await runDownload(["--db", "mysql://x/y", "-d", out, url])
    expect(badUrl.code).toBe(2)
    expect(badUrl.stderr).toContain(`bad database URL "mysql://x/y"`)
    const badLease = await runDownload(["--db", `file:${path.join(dir, "bad.db")}`, "--lease", "soon", "-d", out, url])
    expect(badLease.code).toBe(2)
    expect(badLease.stderr).toContain(`invalid --lease "soon"`)
    const named = await runDownload(["--db", `file:${path.join(dir, "bad.db")}`, "--content-disposition", "-d", out, url])
    expect(named.code).toBe(2)
    expect(named.stderr).toContain("--content-disposition cannot be combined with --db")
    const badEnv = await runNode(["bin/volley.js", "download", "--durable", "-d", out, url], { timeoutMs: 60_000, env: { VOLLEY_DB: "mysql://x/y" } })
    expect(badEnv.code).toBe(2)
    expect(badEnv.stderr).toContain(`bad database URL "mysql://x/y"`)
    expect(server.requests.length).toBe(0)
    expect(fs.existsSync(out)).toBe(false)
    // --durable takes a good VOLLEY_DB.
    const envDb = path.join(dir, "env.db")
    const good = await runNode(["bin/volley.js", "download", "--durable", "-d", out, url], { timeoutMs: 60_000, env: { VOLLEY_DB: `file:${envDb}` } })
    expect([good.code, good.stdout]).toEqual([0, expect.stringContaining("1 file: 1 ok")])
    expect(good.stderr).toContain(envDb)
  }, 60_000)
})
