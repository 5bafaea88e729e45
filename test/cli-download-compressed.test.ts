/**
 * `volley download --compressed / --no-compressed`, spawning the real command against a
 * loopback server that gzips: by default the file is stored as served (a gzip stays gzip,
 * `checksum=` is of the served bytes, no `Accept-Encoding` is sent); `--compressed` asks
 * for gzip and stores the decoded file (`checksum=` is of that); a transfer cut mid-body
 * under `--compressed` is restarted, never resumed, so the file is never a corrupt splice.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { runDownload, sha256, writeList } from "./support/cliDownload.js"


/** Text that gzip shrinks (a .tar's worth of it). */
const text = Buffer.from(Array.from({ length: 4000 }, (_, i) => `line ${i}: the quick brown fox jumps over the lazy dog\n`).join(""))
const textGz = zlib.gzipSync(text)
/** Bytes gzip cannot shrink (deterministic), large enough to be cut midway. */
const noise = (() => {
  const out = Buffer.allocUnsafe(1024 * 1024)
  let x = 0x9e3779b9
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
})()
const noiseGz = zlib.gzipSync(noise)

interface Seen {
  readonly path: string
  readonly acceptEncoding: string | undefined
  readonly range: string | undefined
}

let server: http.Server
let url: string
let seen: Array<Seen> = []
let dir: string
/** `/cut/…`: how many more requests are cut midway (after ~300 KB of the encoded body). */
let cutsLeft = 0

/**
 * `/always/NAME`: gzip with `Content-Encoding: gzip` whatever was asked (a `.tar.gz` served
 * with that header); `/negotiated/NAME`: gzip only when the request asks for it, else
 * identity, as a compressing server does; `/cut/NAME`: like `/always`, with a strong ETag and
 * Range on the encoded bytes, and cut mid-body while `cutsLeft` > 0.
 */
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-dl-gz-"))
  server = http.createServer((req, res) => {
    const acceptEncoding = req.headers["accept-encoding"]
    seen.push({ path: req.url ?? "", acceptEncoding, range: req.headers.range })
    const u = new URL(req.url ?? "/", "http://x")
    const [, mode, name] = u.pathname.split("/")
    const [plain, gz] = name?.startsWith("noise") === true ? [noise, noiseGz] : [text, textGz]
    if (mode === "negotiated" && !/\bgzip\b/.test(acceptEncoding ?? "")) {
      res.writeHead(200, { "content-type": "application/x-tar", "content-length": plain.length, vary: "accept-encoding" })
      return void res.end(plain)
    }
    const etag = `"${name}-gz"`
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "")
    const start = mode === "cut" && range !== null && req.headers["if-range"] === etag ? Number(range[1]) : 0
    res.writeHead(start > 0 ? 206 : 200, {
      "content-type": "application/x-tar",
      "content-encoding": "gzip",
      "content-length": gz.length - start,
      etag,
      "accept-ranges": "bytes",
      ...(start > 0 ? { "content-range": `bytes ${start}-${gz.length - 1}/${gz.length}` } : {})
    })
    if (mode === "cut" && cutsLeft > 0) {
      cutsLeft--
      res.write(gz.subarray(start, start + 300_000), () => setTimeout(() => res.destroy(), 50))
      return
    }
    res.end(gz.subarray(start))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  fs.rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => {
  seen = []
  cutsLeft = 0
})

describe("volley download: --compressed / --no-compressed", () => {
  it("by default stores the bytes as served: a gzip stays gzip, checksum= is of the served bytes, no Accept-Encoding", async () => {
    const out = path.join(dir, "default")
    const file = writeList(dir, "default.txt", [
      `${url}/always/data.tar.gz sha256:${sha256(textGz)}`,
      `${url}/negotiated/data.tar sha256:${sha256(text)}`
    ])
    const run = await runDownload([file, "--dir", out])
    expect(run.code).toBe(0)
    expect(fs.readFileSync(path.join(out, "data.tar.gz")).equals(textGz)).toBe(true)
    expect(fs.readFileSync(path.join(out, "data.tar")).equals(text)).toBe(true)
    expect(seen.map((s) => s.acceptEncoding)).toEqual([undefined, undefined])
    expect(run.stdout).toMatch(/2 files: 2 ok, 0 failed/)
    // --no-compressed says the same explicitly, and wins over --compressed.
    const again = await runDownload([writeList(dir, "explicit.txt", [`${url}/always/x.tar.gz out=x.tar.gz`]), "--dir", out, "--compressed", "--no-compressed"])
    expect(again.code).toBe(0)
    expect(fs.readFileSync(path.join(out, "x.tar.gz")).equals(textGz)).toBe(true)
    expect(seen.at(-1)!.acceptEncoding).toBeUndefined()
  })

  it("--compressed asks for gzip and stores the decoded file; checksum= is of the decoded bytes", async () => {
    const out = path.join(dir, "compressed")
    const file = writeList(dir, "compressed.txt", [
      `${url}/negotiated/one.tar sha256:${sha256(text)}`,
      `${url}/always/two.tar sha256:${sha256(text)}`,
      // The served bytes' checksum no longer describes the stored file.
      `${url}/always/three.tar sha256:${sha256(textGz)}`
    ])
    const run = await runDownload([file, "--dir", out, "--compressed"])
    expect(run.code).toBe(1)
    expect(fs.readFileSync(path.join(out, "one.tar")).equals(text)).toBe(true)
    expect(fs.readFileSync(path.join(out, "two.tar")).equals(text)).toBe(true)
    expect(run.stdout).toMatch(/failed {2}.*sha256 mismatch for .*three\.tar/)
    expect(fs.existsSync(path.join(out, "three.tar"))).toBe(false)
    expect(seen).toHaveLength(3)
    for (const s of seen) expect(s.acceptEncoding).toMatch(/^gzip, deflate, br/)
  })

  it("--compressed never resumes: a cut transfer restarts (retry and rerun), and the file is the decoded whole", async () => {
    const out = path.join(dir, "cut")
    const file = writeList(dir, "cut.txt", [`${url}/cut/noise.bin sha256:${sha256(noise)}`])
    // Cut once, retried within the run: the retry starts over (no Range on an encoded body).
    cutsLeft = 1
    const retried = await runDownload([file, "--dir", out, "--compressed", "--retries", "1"])
    expect(retried.code).toBe(0)
    expect(seen.map((s) => s.range)).toEqual([undefined, undefined])
    expect(sha256(fs.readFileSync(path.join(out, "noise.bin")))).toBe(sha256(noise))
    fs.rmSync(out, { recursive: true })

    // Cut with no retry: the decoded prefix is kept as a .part, marked as decoded...
    seen = []
    cutsLeft = 1
    const cut = await runDownload([file, "--dir", out, "--compressed", "--retries", "0"])
    expect(cut.code).toBe(1)
    expect(fs.statSync(path.join(out, "noise.bin.part")).size).toBeGreaterThan(0)
    expect(JSON.parse(fs.readFileSync(path.join(out, "noise.bin.part.meta"), "utf8"))).toMatchObject({ decoded: true })
    // ...which a rerun without --compressed does not resume either: those bytes are no prefix
    // of the served gzip. It starts over and stores the file as served.
    const plain = writeList(dir, "cut-plain.txt", [`${url}/cut/noise.bin sha256:${sha256(noiseGz)}`])
    const rerun = await runDownload([plain, "--dir", out])
    expect(rerun.code).toBe(0)
    expect(seen.map((s) => s.range)).toEqual([undefined, undefined])
    expect(fs.readFileSync(path.join(out, "noise.bin")).equals(noiseGz)).toBe(true)
    expect(fs.readdirSync(out)).toEqual(["noise.bin"])
  })

  it("without --compressed a cut gzip resumes with Range on the served bytes, byte-exact", async () => {
    const out = path.join(dir, "resume")
    const file = writeList(dir, "resume.txt", [`${url}/cut/noise.bin.gz sha256:${sha256(noiseGz)} out=noise.bin.gz`])
    cutsLeft = 1
    const run = await runDownload([file, "--dir", out, "--retries", "1"])
    expect(run.code).toBe(0)
    expect(seen[0]!.range).toBeUndefined()
    expect(seen[1]!.range).toMatch(/^bytes=[1-9]\d*-$/)
    expect(fs.readFileSync(path.join(out, "noise.bin.gz")).equals(noiseGz)).toBe(true)
  })
})
