/**
 * Download's decompress option against a gzipping loopback server: stored as served by
 * default, decoded when asked, and a decoded transfer is never resumed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, TestClock } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import * as zlib from "node:zlib"
import * as Download from "../src/Download.js"
import { awaitSleep, digest, pattern, run, tempDir } from "./support/download.js"

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
