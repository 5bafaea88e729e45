/**
 * Downloads against real loopback servers: streamed to `.part`, hashed, verified, renamed;
 * resumed with Range + If-Range after a reset; restarted cleanly when the server ignores the
 * range or the file changed; typed failures that never leave a file at the destination.
 * Time rules (idle timeout) run on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, Stream, TestClock } from "effect"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import * as zlib from "node:zlib"
import type * as Client from "../src/Client.js"
import { Client as ClientTag } from "../src/Client.js"
import * as Download from "../src/Download.js"
import { awaitSleepers, clientLayer, faultServer, tcpHandles } from "./support/effect.js"
import { missingOutsideCi, runNode } from "./support/spawn.js"

/** The FaultServer's /range-file content: byte i is i % 251. */
const pattern = (size: number, offset = 0): Buffer => {
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) out[i] = (offset + i) % 251
  return out
}
const digest = (bytes: Uint8Array, algorithm = "sha256") => createHash(algorithm).update(bytes).digest("hex")

/** A fresh temp folder, removed when the test's scope closes. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "volley-dl-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const exists = (p: string) => fs.existsSync(p)

/**
 * Whether this process may mount a tmpfs (root on Linux): a small or read-only file system is
 * the honest way to make a real ENOSPC or EROFS happen. Elsewhere those tests are skipped,
 * except in CI, where they run and fail.
 */
const canMount: boolean = (() => {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), "volley-mount-"))
  try {
    if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=4k", "tmpfs", probe]).status !== 0) return false
    spawnSync("umount", [probe])
    return true
  } finally {
    fs.rmSync(probe, { recursive: true, force: true })
  }
})()

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

/** Waits (real time, bounded) until a sleep ending at `at` (TestClock millis) is registered. */
const awaitSleep = (at: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2500; i++) {
      if (Chunk.toReadonlyArray(yield* TestClock.sleeps()).includes(at)) return
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 2)))
    }
    return yield* Effect.dieMessage(`no sleep until ${at} on the TestClock`)
  })

const run = <A, E>(effect: Effect.Effect<A, E, Client.Client>, options?: Client.ClientOptions) =>
  Effect.provide(effect, clientLayer(options))

/** A small server whose file can change between requests; honours Range and (optionally) If-Range. */
interface MutableServer {
  readonly url: string
  readonly requests: Array<{ readonly headers: http.IncomingHttpHeaders; readonly path: string }>
  content: Buffer
  /** Sent as ETag unless undefined (then only Last-Modified, if set, can validate a resume). */
  etag: string | undefined
  lastModified: string | undefined
  /** Cut the connection after this many body bytes of a full (200) response. */
  cutAfter: number | undefined
  /** Send this many body bytes of a full response, then nothing more (the socket stays open). */
  stallAfter: number | undefined
  /** Serve ranges without checking If-Range (a non-compliant server). */
  ignoreIfRange: boolean
  disposition: string | undefined
}

const mutableServer = Effect.acquireRelease(
  Effect.async<{ server: http.Server; state: MutableServer }>((resume) => {
    const state: MutableServer = {
      url: "",
      requests: [],
      content: pattern(200_000),
      etag: "\"a\"",
      lastModified: undefined,
      cutAfter: undefined,
      stallAfter: undefined,
      ignoreIfRange: false,
      disposition: undefined
    }
    const server = http.createServer((req, res) => {
      state.requests.push({ headers: req.headers, path: req.url ?? "/" })
      const url = new URL(req.url ?? "/", "http://x")
      const disposition = url.searchParams.get("cd") ?? state.disposition
      const base: http.OutgoingHttpHeaders = {
        ...(state.etag !== undefined ? { etag: state.etag } : {}),
        ...(state.lastModified !== undefined ? { "last-modified": state.lastModified } : {}),
        "accept-ranges": "bytes",
        ...(disposition !== null && disposition !== undefined ? { "content-disposition": disposition } : {})
      }
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "")
      const ifRange = req.headers["if-range"]
      if (range !== null && (state.ignoreIfRange || ifRange === undefined || ifRange === (state.etag ?? state.lastModified))) {
        const start = Number(range[1])
        res.writeHead(206, { ...base, "content-length": state.content.length - start, "content-range": `bytes ${start}-${state.content.length - 1}/${state.content.length}` })
        return void res.end(state.content.subarray(start))
      }
      res.writeHead(200, { ...base, "content-length": state.content.length })
      if (state.stallAfter !== undefined) return void res.write(state.content.subarray(0, state.stallAfter))
      if (state.cutAfter === undefined) return void res.end(state.content)
      res.write(state.content.subarray(0, state.cutAfter), () => res.socket?.destroy())
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as { port: number }
      resume(Effect.succeed({ server, state: Object.assign(state, { url: `http://127.0.0.1:${address.port}` }) }))
    })
  }),
  ({ server }) => Effect.async<void>((resume) => {
    server.closeAllConnections()
    server.close(() => resume(Effect.void))
  })
).pipe(Effect.map(({ state }) => state))

describe("Download.file", () => {
  it.scoped("streams to the destination, hashes, leaves no .part or .meta", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "file.bin")
      const result = yield* run(Download.file(`${server.url}/range-file?size=300000`, { path: dest }))
      const expected = pattern(300_000)
      expect(fs.readFileSync(dest).equals(expected)).toBe(true)
      expect(result).toMatchObject({ path: dest, size: 300_000, verified: false, skipped: false, resumedFrom: 0, transferred: 300_000 })
      expect(result.checksum).toEqual({ algorithm: "sha256", hex: digest(expected) })
      expect(fs.readdirSync(dir)).toEqual(["file.bin"])
    }))

  it.scoped("a body of several MiB (many writes, queued while the disk is busy) arrives intact", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "big.bin")
      const size = 7 * 1024 * 1024 + 12_345
      const result = yield* run(Download.file(`${server.url}/range-file?size=${size}`, { path: dest }))
      const expected = pattern(size)
      expect(fs.readFileSync(dest).equals(expected)).toBe(true)
      expect(result.checksum.hex).toBe(digest(expected))
    }))

  it.scoped("verifies an expected checksum (sha256, sha512, sha1, md5)", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const expected = pattern(50_000)
      for (const algorithm of ["sha256", "sha512", "sha1", "md5"] as const) {
        const dest = path.join(dir, `f.${algorithm}`)
        const result = yield* run(Download.file(`${server.url}/range-file?size=50000`, { path: dest, checksum: `${algorithm}:${digest(expected, algorithm).toUpperCase()}` }))
        expect(result.verified).toBe(true)
        expect(result.checksum).toEqual({ algorithm, hex: digest(expected, algorithm) })
      }
    }))

  it.scoped("a checksum mismatch is typed and leaves nothing: no destination, no .part, no .meta", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "bad.bin")
      const wrong = "0".repeat(64)
      const error = yield* Effect.flip(run(Download.file(`${server.url}/range-file?size=100000`, { path: dest, checksum: `sha256:${wrong}` })))
      expect(error._tag).toBe("ChecksumMismatch")
      if (error._tag !== "ChecksumMismatch") return
      expect(error).toMatchObject({ path: dest, algorithm: "sha256", expected: wrong, actual: digest(pattern(100_000)) })
      expect(fs.readdirSync(dir)).toEqual([])
    }))

  it.scoped("reset mid-body, then the next call resumes with Range + If-Range and completes the right file", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "big.bin")
      const url = `${server.url}/range-file?size=1000000&etag=v7&resetAfter=400000`
      const first = yield* Effect.flip(run(Download.file(url, { path: dest, retry: false })))
      expect(first._tag).toBe("NetworkError")
      expect(exists(dest)).toBe(false)
      const partSize = fs.statSync(`${dest}.part`).size
      expect(partSize).toBe(400_000)
      expect(JSON.parse(fs.readFileSync(`${dest}.part.meta`, "utf8"))).toMatchObject({ etag: "\"v7\"", total: 1_000_000 })

      const expected = pattern(1_000_000)
      const result = yield* run(Download.file(url, { path: dest, retry: false, checksum: `sha256:${digest(expected)}` }))
      expect(result).toMatchObject({ resumedFrom: 400_000, transferred: 600_000, size: 1_000_000, verified: true })
      expect(fs.readFileSync(dest).equals(expected)).toBe(true)
      const second = server.requests[1]!
      expect(second.headers["range"]).toBe("bytes=400000-")
      expect(second.headers["if-range"]).toBe("\"v7\"")
      expect(fs.readdirSync(dir)).toEqual(["big.bin"])
    }))

  it.scoped("with retries on, a reset mid-body is retried as a resume within one call", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "r.bin")
      const fiber = yield* Effect.fork(run(Download.file(`${server.url}/range-file?size=500000&resetAfter=200000`, { path: dest, retry: { maxAttempts: 3, jitter: false } })))
      // The retry waits its 200 ms backoff on the TestClock (other sleeps, such as the body's
      // idle timeout, may be registered too: wait for this one).
      yield* awaitSleep(200)
      yield* TestClock.adjust("200 millis")
      const result = yield* Fiber.join(fiber)
      expect(result.resumedFrom).toBe(200_000)
      expect(fs.readFileSync(dest).equals(pattern(500_000))).toBe(true)
      expect(server.requests.map((r) => r.headers["range"])).toEqual([undefined, "bytes=200000-"])
    }))

  it.scoped("a server that ignores Range answers 200: the .part is restarted cleanly", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "ign.bin")
      const url = `${server.url}/range-file?size=300000&ignoreRange=1&resetAfter=100000`
      yield* Effect.flip(run(Download.file(url, { path: dest, retry: false })))
      expect(fs.statSync(`${dest}.part`).size).toBe(100_000)
      const result = yield* run(Download.file(url, { path: dest, retry: false }))
      expect(server.requests[1]!.headers["range"]).toBe("bytes=100000-")
      expect(result).toMatchObject({ resumedFrom: 0, transferred: 300_000 })
      expect(fs.readFileSync(dest).equals(pattern(300_000))).toBe(true)
    }))

  it.scoped("a changed ETag between attempts: If-Range makes the server send the new file, which replaces the .part", () =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const dir = yield* tempDir
      const dest = path.join(dir, "changed.bin")
      server.cutAfter = 70_000
      yield* Effect.flip(run(Download.file(`${server.url}/f`, { path: dest, retry: false })))
      expect(fs.statSync(`${dest}.part`).size).toBe(70_000)
      server.cutAfter = undefined
      server.etag = "\"b\""
      server.content = Buffer.alloc(150_000, 7)
      const result = yield* run(Download.file(`${server.url}/f`, { path: dest, retry: false, checksum: `sha256:${digest(server.content)}` }))
      expect(server.requests[1]!.headers["if-range"]).toBe("\"a\"")
      expect(result).toMatchObject({ resumedFrom: 0, size: 150_000, verified: true })
      expect(fs.readFileSync(dest).equals(server.content)).toBe(true)
    }))

  it.scoped("without an ETag, Last-Modified is the If-Range validator: resumed while unchanged, restarted once it changes", () =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const dir = yield* tempDir
      const dest = path.join(dir, "dated.bin")
      server.etag = undefined
      server.lastModified = "Tue, 24 Nov 2026 10:00:00 GMT"
      server.cutAfter = 60_000
      yield* Effect.flip(run(Download.file(`${server.url}/f`, { path: dest, retry: false })))
      server.cutAfter = undefined
      const resumed = yield* run(Download.file(`${server.url}/f`, { path: dest, retry: false, checksum: `sha256:${digest(server.content)}` }))
      expect(server.requests[1]!.headers["if-range"]).toBe("Tue, 24 Nov 2026 10:00:00 GMT")
      expect(resumed).toMatchObject({ resumedFrom: 60_000, verified: true })
      // A second download of a changed file, cut short, then resumed against a newer date.
      const second = path.join(dir, "dated2.bin")
      server.cutAfter = 30_000
      yield* Effect.flip(run(Download.file(`${server.url}/f2`, { path: second, retry: false })))
      server.cutAfter = undefined
      server.lastModified = "Wed, 25 Nov 2026 10:00:00 GMT"
      server.content = Buffer.alloc(90_000, 3)
      const restarted = yield* run(Download.file(`${server.url}/f2`, { path: second, retry: false, checksum: `sha256:${digest(server.content)}` }))
      expect(server.requests[3]!.headers["if-range"]).toBe("Tue, 24 Nov 2026 10:00:00 GMT")
      expect(restarted).toMatchObject({ resumedFrom: 0, size: 90_000, verified: true })
      expect(fs.readFileSync(second).equals(server.content)).toBe(true)
    }))

  it.scoped("a server that ignores If-Range and sends a 206 of a changed file: detected by ETag, restarted", () =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const dir = yield* tempDir
      const dest = path.join(dir, "lying.bin")
      server.cutAfter = 50_000
      yield* Effect.flip(run(Download.file(`${server.url}/f`, { path: dest, retry: false })))
      server.cutAfter = undefined
      server.ignoreIfRange = true
      server.etag = "\"c\""
      server.content = Buffer.alloc(120_000, 9)
      const result = yield* run(Download.file(`${server.url}/f`, { path: dest, retry: false }))
      expect(server.requests.map((r) => r.headers["range"])).toEqual([undefined, "bytes=50000-", undefined])
      expect(result.resumedFrom).toBe(0)
      expect(fs.readFileSync(dest).equals(server.content)).toBe(true)
    }))

  it.scoped("a complete .part (416 on resume) is verified and renamed without refetching", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "done.bin")
      const url = `${server.url}/range-file?size=10000`
      fs.writeFileSync(`${dest}.part`, pattern(10_000))
      // The meta as the download writes it: the URL redacted, matched by its sha256.
      fs.writeFileSync(`${dest}.part.meta`, JSON.stringify({ url, urlSha256: digest(Buffer.from(url)), etag: "\"v1\"", total: 10_000 }))
      const result = yield* run(Download.file(url, { path: dest, checksum: digest(pattern(10_000)) }))
      expect(result).toMatchObject({ resumedFrom: 10_000, transferred: 0, verified: true })
      expect(server.requests[0]!.headers["range"]).toBe("bytes=10000-")
      expect(fs.readdirSync(dir)).toEqual(["done.bin"])
    }))

  it.scoped("an existing destination: skipped when it has the expected checksum, kept (DestinationExists) otherwise, replaced with force", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "have.bin")
      const url = `${server.url}/range-file?size=20000`
      fs.writeFileSync(dest, pattern(20_000))
      const skipped = yield* run(Download.file(url, { path: dest, checksum: `sha256:${digest(pattern(20_000))}` }))
      expect(skipped).toMatchObject({ skipped: true, transferred: 0, verified: true })
      expect(server.requests).toHaveLength(0)

      fs.writeFileSync(dest, "old")
      const exists = yield* Effect.flip(run(Download.file(url, { path: dest })))
      expect(exists).toMatchObject({ _tag: "DestinationExists", path: dest })
      const wrongChecksum = yield* Effect.flip(run(Download.file(url, { path: dest, checksum: digest(pattern(20_000)) })))
      expect(wrongChecksum._tag).toBe("DestinationExists")
      expect(fs.readFileSync(dest, "utf8")).toBe("old")
      expect(server.requests).toHaveLength(0)

      yield* run(Download.file(url, { path: dest, force: true }))
      expect(fs.readFileSync(dest).equals(pattern(20_000))).toBe(true)
    }))

  it.scoped("max size: refused from Content-Length before any byte is written", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "cl.bin")
      const error = yield* Effect.flip(run(Download.file(`${server.url}/huge-cl?size=${64 * 1024 * 1024}`, { path: dest, maxBytes: 1024 * 1024 })))
      expect(error).toMatchObject({ _tag: "FileTooLarge", limit: 1024 * 1024, size: 64 * 1024 * 1024, path: dest })
      expect(fs.readdirSync(dir)).toEqual([])
    }))

  it.scoped("max size: a chunked body is stopped mid-stream, not buffered (the server sent a fraction)", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "chunked.bin")
      const error = yield* Effect.flip(run(Download.file(`${server.url}/huge?size=${256 * 1024 * 1024}`, { path: dest, maxBytes: 2 * 1024 * 1024 })))
      expect(error).toMatchObject({ _tag: "FileTooLarge", limit: 2 * 1024 * 1024 })
      yield* Effect.promise(() => server.waitForClientAbort("/huge"))
      // Socket buffers on both sides hold a few MiB at most; nowhere near the 256 MiB body.
      expect(server.stats.bytesSent).toBeLessThan(32 * 1024 * 1024)
      expect(fs.readdirSync(dir)).toEqual([])
    }))

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

  it.scoped("interrupting a download keeps the .part (and meta); the next call resumes it", () =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const dir = yield* tempDir
      const dest = path.join(dir, "int.bin")
      server.stallAfter = 80_000
      let seen = 0
      const fiber = yield* Effect.fork(run(Download.file(`${server.url}/f`, { path: dest, progressInterval: 0, onProgress: (p) => void (seen = p.bytes) })))
      // Wait (bounded, failing loudly) until every sent byte was received. Not until the .part
      // holds them: the last batch may wait behind the writer while the body stalls, and is
      // written when the download is interrupted, which is what this test checks.
      for (let i = 0; seen < 80_000; i++) {
        if (i >= 1_000) return yield* Effect.dieMessage(`only ${seen} of 80000 bytes received`)
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
      }
      yield* Fiber.interrupt(fiber)
      expect(fs.statSync(`${dest}.part`).size).toBe(80_000)
      expect(exists(`${dest}.part.meta`)).toBe(true)
      expect(exists(dest)).toBe(false)
      server.stallAfter = undefined
      const result = yield* run(Download.file(`${server.url}/f`, { path: dest }))
      expect(result).toMatchObject({ resumedFrom: 80_000, transferred: 120_000 })
      expect(fs.readFileSync(dest).equals(server.content)).toBe(true)
    }))

  it.scoped("names from a folder: URL path by default, Content-Disposition when asked (sanitized)", () =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const dir = yield* tempDir
      const byUrl = yield* run(Download.file(`${server.url}/files/report%20v2.pdf?x=1`, { dir }))
      expect(byUrl.path).toBe(path.join(dir, "report v2.pdf"))
      const cd = encodeURIComponent("attachment; filename=\"../../evil.sh\"; filename*=UTF-8''%E2%82%AC%20rates.txt")
      const byHeader = yield* run(Download.file(`${server.url}/dl?cd=${cd}`, { dir, nameFrom: "content-disposition" }))
      expect(byHeader.path).toBe(path.join(dir, "€ rates.txt"))
      expect(fs.readdirSync(dir).sort()).toEqual(["report v2.pdf", "€ rates.txt"])
    }))

  it.scoped("sends the caller's headers (names lower-cased), also through a Client service not built by Client.layer", () =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const dir = yield* tempDir
      const headers = { Authorization: "Bearer t", "X-Trace": "7" }
      yield* run(Download.file(`${server.url}/f`, { path: path.join(dir, "a.bin"), headers }))
      // A hand-made service (here: a copy of the real one) must work the same.
      const stubbed = Effect.flatMap(ClientTag, (client) =>
        Effect.provideService(Download.file(`${server.url}/f`, { path: path.join(dir, "b.bin"), headers }), ClientTag, { ...client }))
      yield* run(stubbed)
      expect(server.requests.map((r) => [r.headers["authorization"], r.headers["x-trace"], r.headers["user-agent"]?.startsWith("volley")])).toEqual([
        ["Bearer t", "7", true],
        ["Bearer t", "7", true]
      ])
      expect(fs.readFileSync(path.join(dir, "b.bin")).equals(server.content)).toBe(true)
    }))
})

/**
 * A server whose body is gzip with `Content-Encoding: gzip` (whatever was asked), honouring
 * Range on the encoded bytes; cut after 100 KB of the encoded body while `cuts` > 0.
 */
const gzipServer = (plain: Buffer) =>
  Effect.acquireRelease(
    Effect.async<{ server: http.Server; state: { url: string; gz: Buffer; cuts: number; requests: Array<http.IncomingHttpHeaders> } }>((resume) => {
      const state = { url: "", gz: zlib.gzipSync(plain), cuts: 0, requests: [] as Array<http.IncomingHttpHeaders> }
      const server = http.createServer((req, res) => {
        state.requests.push(req.headers)
        const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "")
        const start = range === null ? 0 : Number(range[1])
        res.writeHead(start > 0 ? 206 : 200, {
          "content-encoding": "gzip",
          "content-length": state.gz.length - start,
          etag: "\"gz\"",
          "accept-ranges": "bytes",
          ...(start > 0 ? { "content-range": `bytes ${start}-${state.gz.length - 1}/${state.gz.length}` } : {})
        })
        if (state.cuts > 0) {
          state.cuts--
          return void res.write(state.gz.subarray(start, start + 100_000), () => res.socket?.destroy())
        }
        res.end(state.gz.subarray(start))
      })
      server.listen(0, "127.0.0.1", () => {
        state.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
        resume(Effect.succeed({ server, state }))
      })
    }),
    ({ server }) => Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
  ).pipe(Effect.map(({ state }) => state))

/** Deterministic bytes gzip cannot shrink. */
const noise = (size: number): Buffer => {
  const out = Buffer.allocUnsafe(size)
  let x = 0x2545f491
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

describe("Download: decompress", () => {
  it.scoped("by default the bytes are stored as served (no Accept-Encoding; checksum of the gzip); decompress stores the decoded file, checksum of that", () =>
    Effect.gen(function*() {
      const plain = pattern(300_000)
      const server = yield* gzipServer(plain)
      const dir = yield* tempDir
      const raw = yield* run(Download.file(`${server.url}/a.gz`, { path: path.join(dir, "a.gz"), checksum: `sha256:${digest(server.gz)}` }))
      expect(raw.verified).toBe(true)
      expect(fs.readFileSync(path.join(dir, "a.gz")).equals(server.gz)).toBe(true)
      expect(server.requests[0]!["accept-encoding"]).toBeUndefined()
      const decoded = yield* run(Download.file(`${server.url}/a`, { path: path.join(dir, "a"), checksum: `sha256:${digest(plain)}`, decompress: true }))
      expect(decoded).toMatchObject({ verified: true, size: plain.length })
      expect(fs.readFileSync(path.join(dir, "a")).equals(plain)).toBe(true)
      expect(server.requests[1]!["accept-encoding"]).toMatch(/^gzip, deflate, br/)
      // The served bytes' digest does not describe the decoded file.
      const mismatch = yield* Effect.either(run(Download.file(`${server.url}/a`, { path: path.join(dir, "b"), checksum: digest(server.gz), decompress: true })))
      expect(Either.isLeft(mismatch) && mismatch.left._tag).toBe("ChecksumMismatch")
    }))

  it.scoped("with decompress a cut transfer is never resumed: the retry starts over and the file is the decoded whole; its .part is not resumed without decompress either", () =>
    Effect.gen(function*() {
      const plain = noise(600_000)
      const server = yield* gzipServer(plain)
      const dir = yield* tempDir
      const dest = path.join(dir, "n.bin")
      server.cuts = 1
      const fiber = yield* Effect.fork(run(Download.file(`${server.url}/n`, { path: dest, decompress: true, retry: { maxAttempts: 2, jitter: false } })))
      yield* awaitSleep(200) // the retry's backoff, on the TestClock
      yield* TestClock.adjust("200 millis")
      const result = yield* Fiber.join(fiber)
      expect(result).toMatchObject({ resumedFrom: 0, size: plain.length })
      expect(fs.readFileSync(dest).equals(plain)).toBe(true)
      expect(server.requests.map((h) => h.range)).toEqual([undefined, undefined])

      // Cut with no retry: a decoded prefix stays in the .part...
      fs.rmSync(dest)
      server.cuts = 1
      const cut = yield* Effect.either(run(Download.file(`${server.url}/n`, { path: dest, decompress: true, retry: false })))
      expect(Either.isLeft(cut)).toBe(true)
      expect(fs.statSync(`${dest}.part`).size).toBeGreaterThan(0)
      // ...and a download of the served bytes does not append to it: it starts over.
      const again = yield* run(Download.file(`${server.url}/n`, { path: dest, checksum: digest(server.gz) }))
      expect(again).toMatchObject({ resumedFrom: 0, verified: true })
      expect(server.requests.map((h) => h.range)).toEqual([undefined, undefined, undefined, undefined])
      expect(fs.readFileSync(dest).equals(server.gz)).toBe(true)
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

describe("Download.track", () => {
  it.scoped("emits progress (bytes, total, rate) and ends with Done", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const events = yield* run(Stream.runCollect(Download.track(`${server.url}/range-file?size=200000`, { path: path.join(dir, "t.bin"), progressInterval: 0 })))
      const list = Chunk.toReadonlyArray(events)
      const last = list[list.length - 1]!
      expect(last._tag).toBe("Done")
      const progress = list.flatMap((e) => e._tag === "Progress" ? [e.progress] : [])
      expect(progress[0]).toMatchObject({ bytes: 0, total: 200_000, done: false })
      expect(progress[progress.length - 1]).toMatchObject({ bytes: 200_000, total: 200_000, done: true })
      const bytes = progress.map((p) => p.bytes)
      expect([...bytes].sort((a, b) => a - b)).toEqual(bytes)
    }))

  it.scoped("a failure fails the stream with the typed error", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const error = yield* Effect.flip(run(Stream.runDrain(Download.track(`${server.url}/status/404`, { path: path.join(dir, "x") }))))
      expect(error).toMatchObject({ _tag: "StatusError", status: 404 })
    }))
})

describe("Download.many", () => {
  it.scoped("a file named like another's staging file (x and x.part in one run) gets its own name; both arrive intact", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const items: Array<Download.Item> = [
        { url: `${server.url}/range-file?size=150000`, name: "x" },
        { url: `${server.url}/range-file?size=90000`, name: "x.part" }
      ]
      const outcomes = yield* run(Download.many(items, { dir, concurrency: 2 }))
      expect(outcomes.map((o) => o._tag === "Success" && path.basename(o.value.path))).toEqual(["x", "x (1).part"])
      expect(fs.readFileSync(path.join(dir, "x")).equals(pattern(150_000))).toBe(true)
      expect(fs.readFileSync(path.join(dir, "x (1).part")).equals(pattern(90_000))).toBe(true)
      expect(fs.readdirSync(dir).sort()).toEqual(["x", "x (1).part"])
    }))

  it.scoped("bounded per host, one outcome per input in input order, collisions named in input order", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const urls = [0, 1, 2, 3, 4, 5].map((i) => `${server.url}/range-file?size=${100_000 + i}`)
      const items: Array<Download.Item> = [...urls, `${server.url}/status/404`, { url: urls[0]!, name: "custom.bin", checksum: digest(pattern(100_000)) }]
      const outcomes = yield* run(Download.many(items, { dir, concurrency: 8, perHost: 2 }))
      expect(outcomes.map((o) => [o.index, o._tag])).toEqual([
        [0, "Success"], [1, "Success"], [2, "Success"], [3, "Success"], [4, "Success"], [5, "Success"], [6, "Failure"], [7, "Success"]
      ])
      const paths = outcomes.flatMap((o) => o._tag === "Success" ? [path.basename(o.value.path)] : [])
      expect(paths).toEqual(["range-file", "range-file (1)", "range-file (2)", "range-file (3)", "range-file (4)", "range-file (5)", "custom.bin"])
      for (let i = 0; i < 6; i++) expect(fs.statSync(path.join(dir, paths[i]!)).size).toBe(100_000 + i)
      expect(Math.max(...server.maxInFlightByHost.values())).toBeLessThanOrEqual(2)
      const failure = outcomes[6]!
      expect(failure._tag === "Failure" && failure.error._tag).toBe("StatusError")
    }))

  it.scoped("hostile Content-Disposition names stay inside the folder, collisions resolved in input order", () =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const dir = yield* tempDir
      const hostile = [
        "attachment; filename=\"../../x\"",
        "attachment; filename=\"/etc/passwd\"",
        "attachment; filename=\"a/b\"",
        "attachment; filename*=UTF-8''nul%00byte.txt",
        "attachment; filename*=UTF-8''new%0Aline.txt",
        "attachment; filename=\"..\"",
        "attachment; filename=\"CON\"",
        "attachment; filename=\"x\"",
        "attachment; filename=\"..\\\\..\\\\win.ini\""
      ]
      const outcomes = yield* run(Download.many(hostile.map((cd) => `${server.url}/f?cd=${encodeURIComponent(cd)}`), { dir, nameFrom: "content-disposition", concurrency: 4 }))
      const names = outcomes.map((o) => o._tag === "Success" ? path.relative(dir, o.value.path) : o.error._tag)
      expect(names).toEqual(["x", "passwd", "b", "nul_byte.txt", "new_line.txt", "download", "_CON", "x (1)", "win.ini"])
      for (const name of names) expect(path.resolve(dir, name).startsWith(dir + path.sep)).toBe(true)
      expect(fs.readdirSync(dir).sort()).toEqual([...names].sort())
      expect(fs.readdirSync(path.dirname(dir)).includes("x")).toBe(false)
    }))

  it.scoped("an invalid URL is a Failure outcome, not a crash", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const outcomes = yield* run(Download.many(["not a url"], { dir }))
      expect(outcomes[0]).toMatchObject({ _tag: "Failure", index: 0 })
      expect(outcomes[0]!._tag === "Failure" && outcomes[0]!.error._tag).toBe("InvalidUrlError")
    }))
})

describe("Download.parseChecksum", () => {
  it("accepts algorithm:hex and bare hex by length; rejects the rest", () => {
    expect(Download.parseChecksum(`sha256:${"A".repeat(64)}`)).toEqual(Either.right({ algorithm: "sha256", hex: "a".repeat(64) }))
    expect(Download.parseChecksum("d".repeat(32))).toEqual(Either.right({ algorithm: "md5", hex: "d".repeat(32) }))
    expect(Either.isLeft(Download.parseChecksum("sha256:abc"))).toBe(true)
    expect(Either.isLeft(Download.parseChecksum("crc32:abcdabcd"))).toBe(true)
    expect(Either.isLeft(Download.parseChecksum("sha256:" + "z".repeat(64)))).toBe(true)
  })
})

describe("examples/download.ts", () => {
  it("downloads, verifies, refuses the tampered file, then skips on the second run", async () => {
    const run = await runNode(["dist/examples/download.js"], { timeoutMs: 60_000 })
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(run.stdout.trim().split("\n")).toEqual([
      "progress: 25%",
      "progress: 50%",
      "progress: 75%",
      "progress: 100%",
      "ok alpha.bin 3.0 MiB sha256 verified",
      "ok beta.bin 1.0 MiB sha256 verified",
      "ok gamma.bin 5.0 MiB sha256 verified",
      "ok notes.txt 0.1 MiB sha256 verified",
      "refused tampered.bin: checksum mismatch, nothing written (no file)",
      "summary: 4 of 5 downloaded and verified, 1 refused",
      "second run: 4 of 4 already present, nothing fetched",
      "folder: alpha.bin, beta.bin, gamma.bin, notes.txt"
    ])
  }, 90_000)
})
