/**
 * The `.part.meta` beside a staged download: it keeps no secret on disk (the URL redacted, a
 * hash of the full URL to match a resume, mode 0600), and it is validated when read: anything
 * unexpected discards the `.part` and starts clean, never fails or kills a run.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as Client from "../src/Client.js"
import * as Download from "../src/Download.js"
import * as Meta from "../src/internal/download/meta.js"
import { clientLayer, faultServer } from "./support/effect.js"

const pattern = (size: number): Buffer => {
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) out[i] = i % 251
  return out
}

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "volley-meta-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const run = <A, E>(effect: Effect.Effect<A, E, Client.Client>) => Effect.provide(effect, clientLayer())

/** Every byte of every file under `dir`, as latin1 text (so a secret is found whatever the encoding around it). */
const everythingOnDisk = (dir: string): string =>
  fs.readdirSync(dir).map((name) => `${name}\n${fs.readFileSync(path.join(dir, name)).toString("latin1")}`).join("\n")

describe("Download: .part.meta holds no secret", () => {
  it.scoped("no password or access_token on disk, mode 0600; the same URL resumes (matched by hash), another password does not", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "s.bin")
      const host = server.url.replace("http://", "")
      // resetAfter cuts full responses only: the same URL resumes with a Range request.
      const url = (password: string) => `http://admin:${password}@${host}/range-file?size=300000&etag=v9&access_token=tok-${password}&resetAfter=100000`
      expect((yield* Effect.flip(run(Download.file(url("s3cretPW"), { path: dest, retry: false }))))._tag).toBe("NetworkError")
      const onDisk = everythingOnDisk(dir)
      expect(onDisk).toContain("range-file")
      expect(onDisk).not.toContain("s3cretPW")
      expect(onDisk).not.toContain("tok-")
      expect(fs.statSync(`${dest}.part.meta`).mode & 0o777).toBe(0o600)

      // Another password is another URL: not resumed (no Range sent), restarted (and cut again).
      yield* Effect.flip(run(Download.file(url("other"), { path: dest, retry: false })))
      expect(server.requests.at(-1)!.headers["range"]).toBeUndefined()
      expect(everythingOnDisk(dir)).not.toContain("other")
      // The same full URL as the .part's resumes from it.
      const result = yield* run(Download.file(url("other"), { path: dest, retry: false }))
      expect(result).toMatchObject({ resumedFrom: 100_000, size: 300_000 })
      expect(server.requests.at(-1)!.headers["range"]).toBe("bytes=100000-")
      expect(fs.readFileSync(dest).equals(pattern(300_000))).toBe(true)
    }))
})

describe("Download: a .part.meta is validated, never trusted", () => {
  /** A cut download of `url` into `dest`, leaving a 100000-byte .part and its (valid) meta. */
  const staged = (url: string, dest: string) =>
    Effect.gen(function*() {
      yield* Effect.flip(run(Download.file(url, { path: dest, retry: false })))
      expect(fs.statSync(`${dest}.part`).size).toBe(100_000)
      return JSON.parse(fs.readFileSync(`${dest}.part.meta`, "utf8")) as Record<string, unknown>
    })

  const tampered: ReadonlyArray<readonly [string, (meta: Record<string, unknown>) => string]> = [
    ["a non-string etag", (meta) => JSON.stringify({ ...meta, etag: 42 })],
    ["CR/LF in lastModified (no etag)", (meta) => JSON.stringify({ ...meta, etag: undefined, lastModified: "Tue, 01 Jan 2030 00:00:00 GMT\r\nX-Injected: 1" })],
    ["a NUL in the etag", (meta) => JSON.stringify({ ...meta, etag: "\"v5\u0000\"" })],
    ["a negative total", (meta) => JSON.stringify({ ...meta, total: -1 })],
    ["a string total", (meta) => JSON.stringify({ ...meta, total: "300000" })],
    ["an array", () => "[]"],
    ["null", () => "null"],
    ["bad JSON", (meta) => JSON.stringify(meta).slice(0, 20)]
  ]

  for (const [what, rewrite] of tampered) {
    it.scoped(`${what}: the .part is discarded and the download starts clean and succeeds`, () =>
      Effect.gen(function*() {
        const server = yield* faultServer()
        const dir = yield* tempDir
        const dest = path.join(dir, "t.bin")
        // A weak-free strong ETag the server keeps: with a valid meta this would resume.
        const url = `${server.url}/range-file?size=300000&etag=v5&resetAfter=100000`
        const meta = yield* staged(url, dest)
        fs.writeFileSync(`${dest}.part.meta`, rewrite(meta))
        const result = yield* run(Download.file(url, { path: dest, retry: false })).pipe(
          Effect.catchAllDefect((defect) => Effect.fail(`defect: ${String(defect)}`)),
          Effect.either
        )
        // A clean start of this URL is cut again at 100000 (full responses are): what matters is
        // that it was a clean start, not a resume through the bad meta, and nothing threw.
        expect(result._tag === "Left" ? String(result.left) : "Right").not.toMatch(/defect/)
        expect(server.requests).toHaveLength(2)
        expect(server.requests[1]!.headers["range"]).toBeUndefined()
        expect(server.requests[1]!.headers["if-range"]).toBeUndefined()
        // The stale .part was discarded: what is there now is the clean start's own prefix.
        expect(fs.readFileSync(`${dest}.part`).equals(pattern(100_000))).toBe(true)
        expect(JSON.parse(fs.readFileSync(`${dest}.part.meta`, "utf8"))).toMatchObject({ etag: "\"v5\"" })
      }))
  }

  it.scoped("a bad meta in one item of Download.many does not stop the run: every item succeeds", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const cutUrl = `${server.url}/range-file?size=300000&etag=v6&resetAfter=100000`
      const meta = yield* staged(cutUrl, path.join(dir, "a.bin"))
      // Now the same name, a URL that completes; the meta claims it and carries a number ETag.
      const url = `${server.url}/range-file?size=300000&etag=v6`
      fs.writeFileSync(path.join(dir, "a.bin.part.meta"), JSON.stringify({ ...meta, urlSha256: createHash("sha256").update(url).digest("hex"), etag: 42 }))
      const outcomes = yield* Effect.provide(
        Download.many([{ url, name: "a.bin" }, { url: `${server.url}/range-file?size=1000`, name: "b.bin" }], { dir }),
        clientLayer()
      )
      expect(outcomes.map((o) => o._tag)).toEqual(["Success", "Success"])
      expect(fs.readFileSync(path.join(dir, "a.bin")).equals(pattern(300_000))).toBe(true)
    }))
})

describe("Download: Meta.parse accepts exactly what Meta.write writes", () => {
  const valid = {
    url: "http://h/x?access_token=<redacted>",
    urlSha256: "a".repeat(64),
    etag: "\"v1\"",
    lastModified: "Tue, 01 Jan 2030 00:00:00 GMT",
    total: 300000,
    decoded: true,
    ino: 12345
  }
  const { etag: _e, lastModified: _l, total: _t, decoded: _d, ...required } = valid

  it("a meta as written, and one with only the required fields", () => {
    expect(Meta.parse(JSON.stringify(valid))).toEqual(valid)
    expect(Meta.parse(JSON.stringify(required))).toEqual(required)
    const made = Meta.make("http://h/x", "http://h/x", { etag: "\"e\"", lastModified: undefined, total: 7, decoded: false }, 0)
    expect(Meta.parse(JSON.stringify(made))).toEqual(made)
  })

  const refused: ReadonlyArray<readonly [string, unknown]> = [
    ["an extra key", { ...valid, extra: 1 }],
    ["a __proto__ key", JSON.parse(`{"__proto__":{"x":1},${JSON.stringify(valid).slice(1)}`)],
    ["no url", { ...valid, url: undefined }],
    ["a number url", { ...valid, url: 1 }],
    ["no urlSha256", { ...valid, urlSha256: undefined }],
    ["an upper-case urlSha256", { ...valid, urlSha256: "A".repeat(64) }],
    ["a short urlSha256", { ...valid, urlSha256: "a".repeat(63) }],
    ["an empty etag", { ...valid, etag: "" }],
    ["an etag over 1024 characters", { ...valid, etag: "x".repeat(1025) }],
    ["a tab in lastModified", { ...valid, lastModified: "a\tb" }],
    ["a non-ASCII etag", { ...valid, etag: "é" }],
    ["a null etag", { ...valid, etag: null }],
    ["a fractional total", { ...valid, total: 1.5 }],
    ["a total past 2^53", { ...valid, total: 2 ** 53 }],
    ["decoded: false", { ...valid, decoded: false }],
    ["no ino", { ...valid, ino: undefined }],
    ["a negative ino", { ...valid, ino: -1 }],
    ["a string ino", { ...valid, ino: "1" }],
    ["a string", "meta"],
    ["a number", 1]
  ]
  for (const [what, value] of refused) {
    it(`refuses ${what}`, () => {
      expect(Meta.parse(JSON.stringify(value))).toBeUndefined()
    })
  }
  it("refuses bad JSON and empty text", () => {
    expect(Meta.parse("{")).toBeUndefined()
    expect(Meta.parse("")).toBeUndefined()
  })
})
