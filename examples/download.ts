/**
 * Verified, concurrent downloads with progress.
 *
 * Starts its own loopback server with a few generated files, downloads them three at a time
 * into a temporary folder, each checked against its published SHA-256, and reports progress
 * and a summary. One file's published checksum is wrong on purpose: it fails as a typed
 * `ChecksumMismatch` and leaves nothing behind. A second run finds the verified files
 * already in place and fetches nothing.
 *
 *   npm run build && node dist/examples/download.js
 */
import { Console, Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import * as Client from "../src/Client.js"
import * as Download from "../src/Download.js"

/** The files the server publishes: name and size; the content is generated from the name. */
const files = [
  { name: "alpha.bin", size: 3 * 1024 * 1024 },
  { name: "beta.bin", size: 1024 * 1024 },
  { name: "gamma.bin", size: 5 * 1024 * 1024 },
  { name: "notes.txt", size: 100 * 1024 }
]

const generate = (name: string, size: number): Buffer => {
  const out = Buffer.allocUnsafe(size)
  let x = [...name].reduce((a, c) => (a * 33 + c.charCodeAt(0)) >>> 0, 5381)
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

/** A loopback file server (port 0), with ETags and Range support like a real one. */
const server = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly close: () => void }>((resume) => {
    const bodies = new Map(files.map((f) => [`/${f.name}`, generate(f.name, f.size)]))
    const srv = http.createServer((req, res) => {
      const body = bodies.get(req.url ?? "")
      if (body === undefined) return void res.writeHead(404).end("not found")
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "")
      const start = range !== null ? Number(range[1]) : 0
      res.writeHead(range !== null ? 206 : 200, {
        "content-length": body.length - start,
        etag: `"${sha256(body).slice(0, 16)}"`,
        "accept-ranges": "bytes",
        ...(range !== null ? { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` } : {})
      })
      res.end(body.subarray(start))
    })
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number }
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, close: () => srv.close() }))
    })
  }),
  (s) => Effect.sync(() => s.close())
)

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "volley-example-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MiB`

const program = Effect.gen(function*() {
  const { url } = yield* server
  const dir = yield* tempDir

  // The published checksums; the last entry's is wrong on purpose.
  const items: Array<Download.Item> = files.map((f) => ({ url: `${url}/${f.name}`, checksum: `sha256:${sha256(generate(f.name, f.size))}` }))
  items.push({ url: `${url}/beta.bin`, name: "tampered.bin", checksum: `sha256:${"0".repeat(64)}` })

  // Progress: bytes per download, summed; report each quarter of the total once.
  const total = files.reduce((sum, f) => sum + f.size, 0) + files[1]!.size
  const bytes = new Map<number, number>()
  let reported = 0
  const onProgress = (index: number, progress: Download.Progress) => {
    bytes.set(index, progress.bytes)
    const done = [...bytes.values()].reduce((a, b) => a + b, 0)
    while (reported < 4 && done >= (total * (reported + 1)) / 4) {
      reported++
      console.log(`progress: ${reported * 25}%`)
    }
  }

  const outcomes = yield* Download.many(items, { dir, concurrency: 3, onProgress })
  for (const outcome of outcomes) {
    if (outcome._tag === "Success") {
      const r = outcome.value
      yield* Console.log(`ok ${path.basename(r.path)} ${mib(r.size)} sha256 ${r.verified ? "verified" : "computed"}`)
      continue
    }
    const error = outcome.error
    switch (error._tag) {
      case "ChecksumMismatch":
        yield* Console.log(`refused ${path.basename(error.path)}: checksum mismatch, nothing written (${fs.existsSync(error.path) ? "file present!" : "no file"})`)
        break
      default:
        yield* Console.log(`failed ${outcome.url}: ${error.message}`)
    }
  }
  const ok = outcomes.filter((o) => o._tag === "Success").length
  yield* Console.log(`summary: ${ok} of ${outcomes.length} downloaded and verified, ${outcomes.length - ok} refused`)

  // Again: everything verified is already there, so nothing is fetched.
  const again = yield* Download.many(items.slice(0, files.length), { dir })
  const skipped = again.filter((o) => o._tag === "Success" && o.value.skipped).length
  yield* Console.log(`second run: ${skipped} of ${again.length} already present, nothing fetched`)
  yield* Console.log(`folder: ${fs.readdirSync(dir).sort().join(", ")}`)
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(Client.layer()))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
