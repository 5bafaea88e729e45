/**
 * Download failures that never leave a file at the destination: file-system errors (a real
 * ENOTDIR, a full or read-only tmpfs, sysfs), idle and headers timeouts on the TestClock, and
 * no file or socket leaked on any path.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import * as Download from "../src/Download.js"
import { awaitSleepers, faultServer, tcpHandles } from "./support/effect.js"
import { awaitSleep, exists, run, tempDir } from "./support/download.js"
import { canMountTmpfs as canMount } from "./support/serve.js"
import { missingOutsideCi } from "./support/spawn.js"

/** A fresh tmpfs with these mount options, unmounted and removed when the test's scope closes. */
const tmpfs = (options: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-fs-"))
      const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir])
      if (mounted.status !== 0) throw new Error(`mount tmpfs ${options}: ${mounted.stderr}`)
      return dir
    }),
    (dir) =>
      Effect.sync(() => {
        spawnSync("umount", [dir])
        fs.rmSync(dir, { recursive: true, force: true })
      })
  )

describe("Download.file: failures", () => {
  it.scoped("a file-system failure is typed and names the path (parent is a regular file: ENOTDIR)", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      fs.writeFileSync(path.join(dir, "plain"), "x")
      const dest = path.join(dir, "plain", "sub", "f.bin")
      const error = yield* Effect.flip(run(Download.file(`${server.url}/range-file?size=1000`, { path: dest })))
      expect(error._tag).toBe("FileSystemError")
      if (error._tag !== "FileSystemError") return
      expect(error.reason).toBe("Other")
      expect(error.code).toBe("ENOTDIR")
      expect(error.path.startsWith(path.join(dir, "plain"))).toBe(true)
      expect(error.message).toContain(path.join(dir, "plain"))
    }))

  it.scopedLive.skipIf(missingOutsideCi(!canMount))("disk full mid-transfer (a 64 KiB tmpfs): DiskFull naming the .part, nothing at the destination", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tmpfs("size=64k")
      const dest = path.join(dir, "big.bin")
      const error = yield* Effect.flip(run(Download.file(`${server.url}/range-file?size=300000`, { path: dest, retry: false })))
      expect(error).toMatchObject({ _tag: "FileSystemError", reason: "DiskFull", code: "ENOSPC", path: `${dest}.part` })
      expect(error.message).toContain(`${dest}.part: disk full`)
      expect(exists(dest)).toBe(false)
    }))

  it.scopedLive.skipIf(missingOutsideCi(!canMount))("a read-only target folder (a read-only mount) is PermissionDenied naming the path; nothing is written", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tmpfs("size=1m,ro")
      const dest = path.join(dir, "f.bin")
      const error = yield* Effect.flip(run(Download.file(`${server.url}/range-file?size=1000`, { path: dest })))
      expect(error).toMatchObject({ _tag: "FileSystemError", reason: "PermissionDenied", code: "EROFS" })
      if (error._tag === "FileSystemError") expect(error.path.startsWith(dest)).toBe(true)
      expect(fs.readdirSync(dir)).toEqual([])
    }))

  it.scoped("writing where even root may not (sysfs) is PermissionDenied, naming the path", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dest = "/sys/volley-download-test.bin"
      const error = yield* Effect.flip(run(Download.file(`${server.url}/range-file?size=1000`, { path: dest })))
      expect(error._tag).toBe("FileSystemError")
      if (error._tag !== "FileSystemError") return
      expect(error.reason).toBe("PermissionDenied")
      expect(error.path.startsWith(dest)).toBe(true)
      expect(exists(dest)).toBe(false)
    }))

  it.scoped("a stalled body fails on the idle timeout (TestClock); the .part stays for a resume, nothing at the destination", () =>
    Effect.gen(function*() {
      // (No headers timeout: the only sleep on the TestClock is then the body's idle timer.)
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "stall.bin")
      const fiber = yield* Effect.fork(Effect.flip(run(Download.file(`${server.url}/hang-body?size=1000&sent=10`, { path: dest, idleTimeout: "5 seconds", headersTimeout: "none", retry: false }))))
      yield* awaitSleepers()
      yield* TestClock.adjust("4999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      expect(error).toMatchObject({ _tag: "NetworkError", reason: "Timeout", phase: "body" })
      expect(exists(dest)).toBe(false)
      expect(exists(`${dest}.part`)).toBe(true)
    }))

  it.scoped("a server that accepts and never answers fails on the idle timeout as a headers timeout (TestClock), leaving nothing", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "hang.bin")
      const fiber = yield* Effect.fork(Effect.flip(run(Download.file(`${server.url}/hang`, { path: dest, idleTimeout: "5 seconds", retry: false }))))
      yield* awaitSleepers()
      yield* TestClock.adjust("4999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      expect(error).toMatchObject({ _tag: "NetworkError", reason: "Timeout", phase: "headers" })
      expect(exists(dest)).toBe(false)
    }))

  it.scoped("the idle timeout counts from the last chunk: a slow but steady body never times out, a stall does (TestClock)", () =>
    Effect.gen(function*() {
      // A server that sends body bytes only when the test says so.
      const { url, push, close } = yield* Effect.promise(() =>
        new Promise<{ url: string; push: () => boolean; close: () => void }>((resolve) => {
          let response: http.ServerResponse | undefined
          const server = http.createServer((_req, res) => {
            res.writeHead(200, { "content-length": 1000, etag: "\"m\"" })
            res.flushHeaders()
            response = res
          })
          server.listen(0, "127.0.0.1", () =>
            resolve({
              url: `http://127.0.0.1:${(server.address() as { port: number }).port}/m`,
              push: () => response !== undefined && (response.write(Buffer.alloc(10, 1)), true),
              close: () => {
                server.closeAllConnections()
                server.close()
              }
            }))
        })
      )
      yield* Effect.addFinalizer(() => Effect.sync(close))
      const dir = yield* tempDir
      let received = 0
      const fiber = yield* Effect.fork(Effect.flip(run(Download.file(url, { path: path.join(dir, "m.bin"), idleTimeout: "5 seconds", retry: false, progressInterval: 0, onProgress: (p) => void (received = p.bytes) }))))
      const chunk = (n: number) =>
        Effect.gen(function*() {
          for (let i = 0; i < 2500 && !push(); i++) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 2)))
          for (let i = 0; i < 2500 && received < n; i++) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 2)))
        })
      yield* chunk(10) // t = 0
      yield* awaitSleep(5000)
      yield* TestClock.adjust("3 seconds")
      yield* chunk(20) // t = 3 s
      yield* TestClock.adjust("3 seconds") // t = 6 s: past 5 s in total, but only 3 s since the last chunk
      yield* awaitSleep(8000)
      yield* chunk(30)
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("2 seconds") // t = 8 s: 2 s since the last chunk
      yield* awaitSleep(11000)
      yield* TestClock.adjust("2999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis") // t = 11 s: 5 s since the last chunk
      expect(yield* Fiber.join(fiber)).toMatchObject({ _tag: "NetworkError", reason: "Timeout", phase: "body" })
    }))
})

/** Open file descriptors of this process that point into `dir`. */
const fdsInto = (dir: string): number =>
  fs.readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)
    } catch {
      return false
    }
  }).length

describe("Download: no leaks", () => {
  it.scoped("every path closes its files and sockets: success, mismatch, reset, stall timeout, interruption", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const sockets = tcpHandles()
      const program = Effect.gen(function*() {
        yield* Download.file(`${server.url}/range-file?size=200000`, { path: path.join(dir, "a") })
        yield* Effect.flip(Download.file(`${server.url}/range-file?size=200000`, { path: path.join(dir, "b"), checksum: "0".repeat(64) }))
        yield* Effect.flip(Download.file(`${server.url}/range-file?size=200000&resetAfter=50000`, { path: path.join(dir, "c"), retry: false }))
        // Earlier downloads leave finished sleeps on the TestClock: wait for this one's own idle timer.
        const now = yield* TestClock.currentTimeMillis
        const stalled = yield* Effect.fork(Effect.flip(Download.file(`${server.url}/hang-body?size=1000`, { path: path.join(dir, "d"), idleTimeout: "1234 millis", headersTimeout: "none", retry: false })))
        yield* awaitSleep(now + 1234)
        yield* TestClock.adjust("1234 millis")
        expect(yield* Fiber.join(stalled)).toMatchObject({ _tag: "NetworkError", reason: "Timeout" })
        let received = 0
        const interrupted = yield* Effect.fork(Download.file(`${server.url}/hang-body?size=1000`, { path: path.join(dir, "e"), progressInterval: 0, onProgress: (p) => void (received = p.bytes) }))
        for (let i = 0; i < 1000 && received < 10; i++) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 2)))
        yield* Fiber.interrupt(interrupted)
        expect(fs.statSync(path.join(dir, "e.part")).size).toBe(10)
        expect(fdsInto(dir)).toBe(0)
      })
      yield* run(program)
      expect(fdsInto(dir)).toBe(0)
      // The layer is closed: its pool and every socket it opened are gone.
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
      expect(tcpHandles()).toBeLessThanOrEqual(sockets)
    }))
})
