/**
 * `volley download` like aria2, spawning the real command: mirror URLs tried in turn, per-line
 * options (`out=`, `checksum=`, `header=`, inline or on indented lines), the file's mtime
 * from `Last-Modified`, and `--limit-rate` holding within 10% on a 4 MiB file.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { runDownload, sha256, writeList } from "./support/cliDownload.js"

const lastModified = "Wed, 21 Oct 2015 07:28:00 GMT"

/** Deterministic content of `/file/NAME?size=N`. */
const content = (name: string, size: number): Buffer => {
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) out[i] = (name.length * 31 + i * 7 + (i >>> 8)) & 0xff
  return out
}

let server: http.Server
let url: string
let requests: Array<{ readonly path: string; readonly headers: http.IncomingHttpHeaders }> = []
let dir: string

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-aria-"))
  server = http.createServer((req, res) => {
    requests.push({ path: req.url ?? "", headers: req.headers })
    const u = new URL(req.url ?? "/", "http://x")
    if (u.pathname === "/fail") return void res.writeHead(503, { "content-length": 0 }).end()
    const name = u.pathname.slice("/file/".length)
    const body = content(name, Number(u.searchParams.get("size") ?? "100"))
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length, "last-modified": lastModified })
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
})
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
  fs.rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => {
  requests = []
})

describe("volley download: aria2-style input", () => {
  it("tries a line's mirror URLs in turn when one fails; the file keeps the first URL's name", async () => {
    const out = path.join(dir, "mirrors")
    const file = writeList(dir, "mirrors.txt", [
      `${url}/fail ${url}/file/m.bin?size=1000 out=m.bin`,
      `http://127.0.0.1:1/r.bin\t${url}/file/r.bin?size=500`,
      `${url}/file/plain.bin?size=200`,
      `${url}/fail ${url.replace("//", "//user:s3cret@")}/file/cred.bin?size=20`
    ])
    const run = await runDownload([file, "--dir", out, "--retries", "0"])
    expect(run.stderr).toMatch(/mirror failed: .*\/fail.*; trying .*\/file\/m\.bin/)
    expect(run.stdout + run.stderr).not.toContain("s3cret") // a mirror's credentials stay redacted
    expect(run.code).toBe(0)
    expect(fs.readFileSync(path.join(out, "m.bin")).equals(content("m.bin", 1000))).toBe(true)
    expect(fs.readFileSync(path.join(out, "r.bin")).equals(content("r.bin", 500))).toBe(true)
    expect(fs.readdirSync(out).sort()).toEqual(["fail", "m.bin", "plain.bin", "r.bin"]) // named by its first URL, as aria2 does
    expect(run.stdout).toMatch(/4 files: 4 ok, 0 failed/)
    const paths = requests.map((r) => r.path)
    expect(paths.indexOf("/fail")).toBeLessThan(paths.indexOf("/file/m.bin?size=1000"))
  })

  it("all mirrors failing is one failure (exit 1), reported once", async () => {
    const run = await runDownload([writeList(dir, "allfail.txt", [`${url}/fail http://127.0.0.1:1/x out=x.bin`]), "--dir", path.join(dir, "allfail"), "--retries", "0"])
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(/1 file: 0 ok, 1 failed/)
  })

  it("out=, checksum= and header= per line (inline or indented); a wrong checksum= fails that file only", async () => {
    const out = path.join(dir, "options")
    const good = sha256(content("a", 300))
    const file = writeList(dir, "options.txt", [
      `${url}/file/a?size=300 out=alpha.bin checksum=sha-256=${good} header=X-Token:abc`,
      `${url}/file/b?size=400`,
      "  out=beta.bin",
      "  header=Authorization: Bearer two words",
      `${url}/file/c?size=100 out=gamma.bin checksum=sha-256=${"0".repeat(64)}`
    ])
    const run = await runDownload([file, "--dir", out, "--retries", "0"])
    expect(run.code).toBe(1)
    expect(fs.readdirSync(out).filter((f) => !f.includes(".part")).sort()).toEqual(["alpha.bin", "beta.bin"])
    expect(run.stderr).toMatch(/ok .*alpha\.bin.*sha256 verified/)
    expect(run.stdout).toMatch(/failed {2}.*sha256 mismatch/)
    expect(requests.find((r) => r.path.startsWith("/file/a"))!.headers["x-token"]).toBe("abc")
    expect(requests.find((r) => r.path.startsWith("/file/b"))!.headers["authorization"]).toBe("Bearer two words")
    expect(requests.find((r) => r.path.startsWith("/file/a"))!.headers["authorization"]).toBeUndefined()
  })

  it("a bad option line is named FILE:LINE and its entry skipped (exit 2)", async () => {
    const file = writeList(dir, "badopt.txt", [`${url}/file/ok?size=10`, `${url}/file/skip?size=10`, "  colour=blue"])
    const run = await runDownload([file, "--dir", path.join(dir, "badopt")])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain(`${file}:3: unknown option "colour" (out, checksum, header)`)
    expect(fs.readdirSync(path.join(dir, "badopt"))).toEqual(["ok"])
  })

  it("sets each file's modification time from Last-Modified", async () => {
    const out = path.join(dir, "mtime")
    const run = await runDownload([writeList(dir, "mtime.txt", [`${url}/file/t.bin?size=50`]), "--dir", out])
    expect(run.code).toBe(0)
    expect(fs.statSync(path.join(out, "t.bin")).mtime.getTime()).toBe(new Date(lastModified).getTime())
  })

  it("--limit-rate 1M takes a 4 MiB file 4 s, within 10%", async () => {
    const out = path.join(dir, "rate")
    const run = await runDownload([writeList(dir, "rate.txt", [`${url}/file/big.bin?size=${4 * 1024 * 1024}`]), "--dir", out, "--limit-rate", "1M"])
    expect(run.code).toBe(0)
    expect(fs.statSync(path.join(out, "big.bin")).size).toBe(4 * 1024 * 1024)
    // The command's own clock, from the first request to the summary (process start-up excluded).
    const seconds = Number(/ in ([\d.]+)s\n$/.exec(run.stdout)?.[1])
    expect(seconds).toBeGreaterThanOrEqual(3.6)
    expect(seconds).toBeLessThanOrEqual(4.4)
  })

  it("a bad --limit-rate is a usage error (exit 2)", async () => {
    const run = await runDownload([writeList(dir, "r.txt", [`${url}/file/x?size=1`]), "--limit-rate", "fast"])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("--limit-rate must be bytes per second like 500K or 2M, got \"fast\"")
  })
})
