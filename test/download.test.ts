/**
 * Downloads against real loopback servers: streamed to `.part`, hashed, verified, renamed;
 * an existing destination, size limits, names, headers, progress, checksum parsing and the
 * example. Resume, failures, decompression and Download.many have their own
 * test/download*.test.ts files.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Client as ClientTag } from "../src/Client.js"
import * as Download from "../src/Download.js"
import { faultServer } from "./support/effect.js"
import { digest, mutableServer, pattern, run, tempDir } from "./support/download.js"
import { runNode } from "./support/spawn.js"

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

  it.scoped("a skipped destination drops a meta with no .part beside it (a crash's leftover), and keeps one that has its .part", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "done.bin")
      const url = `${server.url}/range-file?size=20000`
      const checksum = `sha256:${digest(pattern(20_000))}`
      fs.writeFileSync(dest, pattern(20_000))
      fs.writeFileSync(`${dest}.part.meta`, "{}")
      expect(yield* run(Download.file(url, { path: dest, checksum }))).toMatchObject({ skipped: true })
      expect(fs.readdirSync(dir)).toEqual(["done.bin"])

      // A .part with its meta may be another download's: left alone.
      fs.writeFileSync(`${dest}.part`, pattern(100))
      fs.writeFileSync(`${dest}.part.meta`, "{}")
      expect(yield* run(Download.file(url, { path: dest, checksum }))).toMatchObject({ skipped: true })
      expect(fs.readdirSync(dir).sort()).toEqual(["done.bin", "done.bin.part", "done.bin.part.meta"].sort())
      expect(server.requests).toHaveLength(0)
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

  it.scoped("sends the caller's headers (names lower-cased), also through a copy of the Client service (its core travels with it)", () =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const dir = yield* tempDir
      const headers = { Authorization: "Bearer t", "X-Trace": "7" }
      yield* run(Download.file(`${server.url}/f`, { path: path.join(dir, "a.bin"), headers }))
      // A copy of the service (as a wrapper spreading it would make) must work the same.
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
