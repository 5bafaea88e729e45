/**
 * Resumed downloads against real loopback servers: Range + If-Range after a reset, within one
 * call when retries are on; restarted cleanly when the server ignores the range or the file
 * changed (ETag or Last-Modified); a complete .part; an interrupted download resumed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Download from "../src/Download.js"
import { faultServer } from "./support/effect.js"
import { awaitSleep, digest, exists, type MutableServer, mutableServer, pattern, run, tempDir } from "./support/download.js"

describe("Download.file: resume", () => {
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
      const ino = fs.statSync(`${dest}.part`).ino
      fs.writeFileSync(`${dest}.part.meta`, JSON.stringify({ url, urlSha256: digest(Buffer.from(url)), etag: "\"v1\"", total: 10_000, ino }))
      const result = yield* run(Download.file(url, { path: dest, checksum: digest(pattern(10_000)) }))
      expect(result).toMatchObject({ resumedFrom: 10_000, transferred: 0, verified: true })
      expect(server.requests[0]!.headers["range"]).toBe("bytes=10000-")
      expect(fs.readdirSync(dir)).toEqual(["done.bin"])
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
})

describe("Download.file: a 206 is checked against what was recorded", () => {
  /** A 1000-byte file cut at 500: a .part of 500 bytes and its meta (total 1000). */
  const cutAt500 = (server: MutableServer, dest: string) =>
    Effect.gen(function*() {
      server.content = pattern(1000)
      server.cutAfter = 500
      yield* Effect.flip(run(Download.file(`${server.url}/f`, { path: dest, retry: false })))
      expect(fs.statSync(`${dest}.part`).size).toBe(500)
      server.cutAfter = undefined
    })

  it.scoped("a short 206 (bytes 500-599/1000) never ends as a finished file; the next call resumes from 600 and completes it", () =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const dir = yield* tempDir
      const dest = path.join(dir, "short.bin")
      yield* cutAt500(server, dest)
      server.rangeLimit = 100
      const error = yield* Effect.flip(run(Download.file(`${server.url}/f`, { path: dest, retry: false })))
      expect(error).toMatchObject({ _tag: "NetworkError", reason: "Protocol", code: "SIZE_MISMATCH" })
      expect(exists(dest)).toBe(false)
      expect(fs.readFileSync(`${dest}.part`).equals(pattern(600))).toBe(true)
      server.rangeLimit = undefined
      const result = yield* run(Download.file(`${server.url}/f`, { path: dest, retry: false }))
      expect(result).toMatchObject({ resumedFrom: 600, size: 1000 })
      expect(fs.readFileSync(dest).equals(pattern(1000))).toBe(true)
      expect(server.requests.map((r) => r.headers["range"])).toEqual([undefined, "bytes=500-", "bytes=600-"])
    }))

  it.scoped("a file changed under the same ETag (206 bytes 500-1499/1500 after a 1000-byte original) restarts from zero, never splices", () =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const dir = yield* tempDir
      const dest = path.join(dir, "grown.bin")
      yield* cutAt500(server, dest)
      const changed = pattern(1500, 7) // other bytes, other size, same ETag
      server.content = changed
      const result = yield* run(Download.file(`${server.url}/f`, { path: dest, retry: false }))
      expect(result).toMatchObject({ resumedFrom: 0, size: 1500 })
      expect(fs.readFileSync(dest).equals(changed)).toBe(true)
      expect(server.requests.map((r) => r.headers["range"])).toEqual([undefined, "bytes=500-", undefined])
    }))

  it.scoped("a 416 whose total is the .part's size but not the recorded total (the file shrank under the same ETag) restarts from zero", () =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const dir = yield* tempDir
      const dest = path.join(dir, "shrunk.bin")
      server.content = pattern(1500)
      server.cutAfter = 1000
      yield* Effect.flip(run(Download.file(`${server.url}/f`, { path: dest, retry: false })))
      expect(fs.statSync(`${dest}.part`).size).toBe(1000)
      server.cutAfter = undefined
      const shrunk = pattern(1000, 9)
      server.content = shrunk
      const result = yield* run(Download.file(`${server.url}/f`, { path: dest, retry: false }))
      expect(result).toMatchObject({ resumedFrom: 0, size: 1000 })
      expect(fs.readFileSync(dest).equals(shrunk)).toBe(true)
      expect(server.requests.map((r) => r.headers["range"])).toEqual([undefined, "bytes=1000-", undefined])
    }))

  it.scoped("a 206 whose Content-Length disagrees with its Content-Range, or whose end is past its total, restarts from zero", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      for (const [name, query] of [["cl", "badLength=1"], ["end", "badEnd=1"]] as const) {
        const dest = path.join(dir, `${name}.bin`)
        const url = `${server.url}/range-file?size=1000&etag=${name}&resetAfter=500&${query}`
        yield* Effect.flip(run(Download.file(url, { path: dest, retry: false })))
        expect(fs.statSync(`${dest}.part`).size).toBe(500)
        server.reset()
        // The restart's full response is cut again (resetAfter): what matters is that it was one.
        yield* Effect.flip(run(Download.file(url, { path: dest, retry: false })))
        expect(server.requests.map((r) => r.headers["range"])).toEqual(["bytes=500-", undefined])
        expect(exists(dest)).toBe(false)
      }
    }))

  it.scoped("a .part and .part.meta planted together (the meta not written for that .part) are discarded, never resumed", () =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const dir = yield* tempDir
      const dest = path.join(dir, "victim.bin")
      server.content = pattern(1000)
      // What a server naming its files victim.bin.part and victim.bin.part.meta could leave: a
      // regular file of its bytes, and a meta claiming the real URL and ETag.
      const url = `${server.url}/f`
      const planted = { url, urlSha256: digest(Buffer.from(url)), etag: "\"a\"", total: 1000 }
      // Without an inode, and with another file's inode.
      for (const ino of [undefined, (part: string) => fs.statSync(part).ino + 1]) {
        fs.writeFileSync(`${dest}.part`, Buffer.alloc(500, "A"))
        fs.writeFileSync(`${dest}.part.meta`, JSON.stringify({ ...planted, ...(ino ? { ino: ino(`${dest}.part`) } : {}) }))
        server.requests.length = 0
        const result = yield* run(Download.file(url, { path: dest, retry: false, force: true }))
        expect(result.resumedFrom).toBe(0)
        expect(fs.readFileSync(dest).equals(pattern(1000))).toBe(true)
        expect(server.requests.map((r) => r.headers["range"])).toEqual([undefined])
      }
    }))
})
