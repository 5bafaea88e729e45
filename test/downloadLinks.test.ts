/**
 * A download never writes outside its folder through a link it finds there: a `.part`, a
 * `.part.meta` or a destination that is a symlink (or a hard link) to a file elsewhere leaves
 * that file untouched, and the destination ends up a regular file. Real links, real loopback
 * server; the "elsewhere" file lives outside the download folder.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as Client from "../src/Client.js"
import * as Download from "../src/Download.js"
import { mutableServer } from "./support/download.js"
import { clientLayer, faultServer } from "./support/effect.js"

const pattern = (size: number): Buffer => {
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) out[i] = i % 251
  return out
}
const digest = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "volley-links-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const run = <A, E>(effect: Effect.Effect<A, E, Client.Client>) => Effect.provide(effect, clientLayer())

/** A download folder and, beside it (outside it), a victim file with known content. */
const setup = Effect.gen(function*() {
  const root = yield* tempDir
  const dir = path.join(root, "dl")
  fs.mkdirSync(dir)
  const victim = path.join(root, "victim.txt")
  const original = "export SECRET=keep-me\n".repeat(20)
  fs.writeFileSync(victim, original)
  return { dir, victim, original }
})

const isRegular = (p: string) => fs.lstatSync(p).isFile()

describe("Download: links in the download folder", () => {
  it.scoped("a .part symlinked outside the folder is replaced, never written through", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const { dir, original, victim } = yield* setup
      const dest = path.join(dir, "x.tar.gz")
      fs.symlinkSync(victim, `${dest}.part`)
      const result = yield* run(Download.file(`${server.url}/range-file?size=100000`, { path: dest }))
      expect(fs.readFileSync(victim, "utf8")).toBe(original)
      expect(isRegular(dest)).toBe(true)
      expect(fs.readFileSync(dest).equals(pattern(100_000))).toBe(true)
      expect(result.size).toBe(100_000)
    }))

  it.scoped("a .part.meta symlinked outside the folder is replaced, never written through", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const { dir, original, victim } = yield* setup
      const dest = path.join(dir, "m.bin")
      fs.symlinkSync(victim, `${dest}.part.meta`)
      // Cut mid-body: the meta stays, and must be a file of its own.
      const error = yield* Effect.flip(run(Download.file(`${server.url}/range-file?size=300000&etag=v1&resetAfter=100000`, { path: dest, retry: false })))
      expect(error._tag).toBe("NetworkError")
      expect(fs.readFileSync(victim, "utf8")).toBe(original)
      expect(isRegular(`${dest}.part.meta`)).toBe(true)
      expect(isRegular(`${dest}.part`)).toBe(true)
    }))

  /**
   * A download of `url` cut at 100000 bytes, then its .part replaced by `plant` (a link to the
   * victim, which holds exactly the .part's size: a resume would truncate it there and append)
   * and the meta rewritten to bind that link's inode, as an attacker who can write the folder
   * could: what is left to stop the resume is the own-file check and O_NOFOLLOW. The second
   * run asks for the SAME URL, so the resume path really runs.
   */
  const plantedResume = (name: string, plant: (victim: string, part: string) => void) =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const { dir, victim } = yield* setup
      const dest = path.join(dir, name)
      const url = `${server.url}/f`
      server.content = pattern(300_000)
      server.cutAfter = 100_000
      yield* Effect.flip(run(Download.file(url, { path: dest, retry: false })))
      expect(fs.statSync(`${dest}.part`).size).toBe(100_000)
      const victimContent = Buffer.alloc(100_000, "v")
      fs.writeFileSync(victim, victimContent)
      fs.rmSync(`${dest}.part`)
      plant(victim, `${dest}.part`)
      const meta = JSON.parse(fs.readFileSync(`${dest}.part.meta`, "utf8")) as Record<string, unknown>
      fs.writeFileSync(`${dest}.part.meta`, JSON.stringify({ ...meta, ino: fs.lstatSync(`${dest}.part`).ino }))
      server.cutAfter = undefined
      const result = yield* run(Download.file(url, { path: dest, retry: false }))
      expect(fs.readFileSync(victim).equals(victimContent)).toBe(true)
      expect(isRegular(dest)).toBe(true)
      expect(fs.readFileSync(dest).equals(pattern(300_000))).toBe(true)
      expect(result.resumedFrom).toBe(0)
      // The first run, then one clean request: the link was never resumed.
      expect(server.requests.map((r) => r.headers["range"])).toEqual([undefined, undefined])
    })

  it.scoped("a resumable .part swapped for a symlink (meta bound to it, same URL) is not resumed through the link", () =>
    plantedResume("r.bin", (victim, part) => fs.symlinkSync(victim, part)))

  it.scoped("a resumable .part that is a hard link to a file outside (meta bound to it, same URL) is not resumed into it", () =>
    plantedResume("h.bin", (victim, part) => fs.linkSync(victim, part)))

  it.scoped("a destination symlinked outside: not 'skipped' through the link, kept without force, replaced by a regular file with force", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const { dir, victim } = yield* setup
      const dest = path.join(dir, "d.bin")
      // The victim holds exactly the expected bytes: following the link would report a skip.
      fs.writeFileSync(victim, pattern(50_000))
      fs.symlinkSync(victim, dest)
      const url = `${server.url}/range-file?size=50000`
      const checksum = `sha256:${digest(pattern(50_000))}`
      const refused = yield* Effect.flip(run(Download.file(url, { path: dest, checksum })))
      expect(refused._tag).toBe("DestinationExists")
      expect(fs.lstatSync(dest).isSymbolicLink()).toBe(true)
      const result = yield* run(Download.file(url, { path: dest, checksum, force: true }))
      expect(result).toMatchObject({ skipped: false, verified: true })
      expect(isRegular(dest)).toBe(true)
      expect(fs.readFileSync(victim).equals(pattern(50_000))).toBe(true)
    }))

  it.scoped("staging files are private: .part and .part.meta are mode 0600", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const { dir } = yield* setup
      const dest = path.join(dir, "p.bin")
      yield* Effect.flip(run(Download.file(`${server.url}/range-file?size=300000&etag=v4&resetAfter=100000`, { path: dest, retry: false })))
      expect(fs.statSync(`${dest}.part`).mode & 0o777).toBe(0o600)
      expect(fs.statSync(`${dest}.part.meta`).mode & 0o777).toBe(0o600)
      // No temp file left beside them.
      expect(fs.readdirSync(dir).sort()).toEqual(["p.bin.part", "p.bin.part.meta"])
    }))
})
