/**
 * Shared by the test/download*.test.ts files: the FaultServer's /range-file pattern, digests,
 * temp folders, TestClock waits and a loopback server whose file can change between requests.
 */
import { Chunk, Effect, TestClock } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import type * as Client from "../../src/Client.js"
import { clientLayer } from "./effect.js"

/** The FaultServer's /range-file content: byte i is i % 251. */
export const pattern = (size: number, offset = 0): Buffer => {
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) out[i] = (offset + i) % 251
  return out
}
export const digest = (bytes: Uint8Array, algorithm = "sha256") => createHash(algorithm).update(bytes).digest("hex")

/** A fresh temp folder, removed when the test's scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "volley-dl-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

export const exists = (p: string) => fs.existsSync(p)

/** Waits (real time, bounded) until a sleep ending at `at` (TestClock millis) is registered. */
export const awaitSleep = (at: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2500; i++) {
      if (Chunk.toReadonlyArray(yield* TestClock.sleeps()).includes(at)) return
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 2)))
    }
    return yield* Effect.dieMessage(`no sleep until ${at} on the TestClock`)
  })

export const run = <A, E>(effect: Effect.Effect<A, E, Client.Client>, options?: Client.ClientOptions) =>
  Effect.provide(effect, clientLayer(options))

/** A small server whose file can change between requests; honours Range and (optionally) If-Range. */
export interface MutableServer {
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
  /** A 206 carries at most this many bytes (an honest but short `Content-Range`). */
  rangeLimit: number | undefined
  disposition: string | undefined
}

export const mutableServer = Effect.acquireRelease(
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
      rangeLimit: undefined,
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
        if (start >= state.content.length) {
          res.writeHead(416, { ...base, "content-length": 0, "content-range": `bytes */${state.content.length}` })
          return void res.end()
        }
        const end = Math.min(state.content.length, start + (state.rangeLimit ?? Infinity))
        res.writeHead(206, { ...base, "content-length": end - start, "content-range": `bytes ${start}-${end - 1}/${state.content.length}` })
        return void res.end(state.content.subarray(start, end))
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
