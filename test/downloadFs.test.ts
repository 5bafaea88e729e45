/**
 * The download's write path: batches written behind the caller at explicit positions, with
 * background syncs along the way; the file ends up exactly as written, whatever the batching;
 * and it is fsynced before it is renamed into place.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import fsCjs from "node:fs"
import { syncBuiltinESMExports } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import * as Download from "../src/Download.js"
import * as Fs from "../src/internal/download/fs.js"
import { clientLayer, faultServer } from "./support/effect.js"

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff)

describe("writeBehind", () => {
  it.effect("writes batches in order with a background sync every few bytes; fsync and settled wait for it", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-fs-"))
      const target = path.join(dir, "f.part")
      const fd = yield* Fs.openForWrite(target, true)
      // syncEvery of 1 byte: a sync starts after every write, and overlaps the next one.
      const writer = Fs.writeBehind(fd, target, 1)
      const batches = Array.from({ length: 20 }, (_, i) => [bytes(1000 + i, i), bytes(10, i + 100)])
      let position = 0
      for (const batch of batches) {
        yield* writer.flush
        writer.start(batch, position)
        position += batch.reduce((n, b) => n + b.length, 0)
      }
      yield* writer.flush
      yield* writer.fsync
      yield* writer.settled
      yield* Fs.close(fd, target)
      const expected = Buffer.concat(batches.flat())
      expect(fs.readFileSync(target).equals(expected)).toBe(true)
      fs.rmSync(dir, { recursive: true, force: true })
    }))
})

describe("a download's data reaches the disk before its name does", () => {
  it.scoped("fsync of the .part after its last write, then the rename into place, then the folder's fsync (fs call order)", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-fsync-"))
      const dest = path.join(dir, "f.bin")
      // Call order is the claim, so a spy (on node:fs, which downloadFs calls) is the check.
      const calls: Array<string> = []
      const fds = new Map<number, string>()
      const original = { open: fsCjs.open, writev: fsCjs.writev, fsync: fsCjs.fsync, rename: fsCjs.rename }
      const patched = fsCjs as unknown as Record<string, unknown>
      patched["open"] = (p: fs.PathLike, flags: unknown, ...rest: Array<unknown>) => {
        const cb = rest.pop() as (err: NodeJS.ErrnoException | null, fd: number) => void
        return (original.open as (...args: Array<unknown>) => void)(p, flags, ...rest, (err: NodeJS.ErrnoException | null, fd: number) => {
          if (err === null) fds.set(fd, String(p))
          cb(err, fd)
        })
      }
      patched["writev"] = (fd: number, ...rest: Array<unknown>) => {
        calls.push(`writev ${path.basename(fds.get(fd) ?? "?")}`)
        return (original.writev as (...args: Array<unknown>) => void)(fd, ...rest)
      }
      patched["fsync"] = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
        calls.push(`fsync ${path.basename(fds.get(fd) ?? "?")}`)
        return original.fsync(fd, cb)
      }
      patched["rename"] = (from: fs.PathLike, to: fs.PathLike, cb: (err: NodeJS.ErrnoException | null) => void) => {
        calls.push(`rename ${path.basename(String(from))} -> ${path.basename(String(to))}`)
        return original.rename(from, to, cb)
      }
      syncBuiltinESMExports()
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          Object.assign(patched, original)
          syncBuiltinESMExports()
          fs.rmSync(dir, { recursive: true, force: true })
        })
      )
      yield* Effect.provide(Download.file(`${server.url}/range-file?size=3000000`, { path: dest }), clientLayer())
      const relevant = calls.filter((c) => !c.includes(".meta"))
      const lastWrite = relevant.lastIndexOf("writev f.bin.part")
      const partSync = relevant.lastIndexOf("fsync f.bin.part")
      const renamed = relevant.indexOf("rename f.bin.part -> f.bin")
      const dirSync = relevant.lastIndexOf(`fsync ${path.basename(dir)}`)
      expect(lastWrite).toBeGreaterThanOrEqual(0)
      expect(partSync).toBeGreaterThan(lastWrite)
      expect(renamed).toBeGreaterThan(partSync)
      expect(dirSync).toBeGreaterThan(renamed)
    }))
})

describe("the safe open never writes through a link", () => {
  /** A folder with a victim file outside the staging name, removed afterwards. */
  const setup = Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-safe-"))
      const victim = path.join(dir, "victim.txt")
      fs.writeFileSync(victim, "keep me\n")
      return { dir, victim, part: path.join(dir, "x.part") }
    }),
    ({ dir }) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

  it.scoped("reopening (resume) a .part that is a symlink fails with ELOOP; the victim is untouched", () =>
    Effect.gen(function*() {
      const { part, victim } = yield* setup
      fs.symlinkSync(victim, part)
      const error = yield* Effect.flip(Fs.openForWrite(part, false))
      expect(error).toMatchObject({ _tag: "FileSystemError", operation: "open", code: "ELOOP" })
      expect(fs.readFileSync(victim, "utf8")).toBe("keep me\n")
    }))

  it.scoped("reopening (resume) a .part hard-linked to another file fails with ENOTREG; the victim is untouched", () =>
    Effect.gen(function*() {
      const { part, victim } = yield* setup
      fs.linkSync(victim, part)
      const error = yield* Effect.flip(Fs.openForWrite(part, false))
      expect(error).toMatchObject({ _tag: "FileSystemError", operation: "open", code: "ENOTREG" })
      expect(fs.readFileSync(victim, "utf8")).toBe("keep me\n")
    }))

  it.scoped("a fresh open replaces a symlink at the name with a private file of its own", () =>
    Effect.gen(function*() {
      const { part, victim } = yield* setup
      fs.symlinkSync(victim, part)
      const fd = yield* Fs.openForWrite(part, true)
      yield* Fs.close(fd, part)
      const stats = fs.lstatSync(part)
      expect(stats.isFile() && stats.nlink === 1 && (stats.mode & 0o777) === 0o600).toBe(true)
      expect(fs.readFileSync(victim, "utf8")).toBe("keep me\n")
    }))

  it.scoped("publish refuses a staging file that is a symlink (ELOOP) or hard-linked (ENOTREG): the destination is not created", () =>
    Effect.gen(function*() {
      const { dir, part, victim } = yield* setup
      const dest = path.join(dir, "x")
      fs.symlinkSync(victim, part)
      expect(yield* Effect.flip(Fs.publish(part, dest))).toMatchObject({ code: "ELOOP" })
      fs.rmSync(part)
      fs.linkSync(victim, part)
      expect(yield* Effect.flip(Fs.publish(part, dest))).toMatchObject({ operation: "rename", code: "ENOTREG" })
      expect(fs.existsSync(dest)).toBe(false)
    }))
})
