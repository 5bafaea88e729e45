/**
 * `volley download` as a user runs it: the built CLI in a child process against loopback
 * servers. Exit codes, bad lines reported as FILE:LINE, sha256sum files, TLS flags, and the
 * promise that matters most: kill it (SIGKILL or Ctrl-C) mid-download, run the same command
 * again, and it resumes to files whose checksums match. Plus the pure parts (input parsing,
 * progress rendering) as unit tests.
 */
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Input from "../src/cli/internal/downloadInput.js"
import * as Display from "../src/cli/internal/downloadProgress.js"
import { type FaultServer, startFaultServer } from "./support/FaultServer.js"
import { hasScript, missingOutsideCi, root, runInTerminal, runNode } from "./support/spawn.js"

const cli = path.join(root, "bin", "volley.js")
/** Runs the built CLI; the kill timer is generous because startup is slow on a loaded machine. */
const runCli = (args: ReadonlyArray<string>) => runNode([cli, ...args], { timeoutMs: 90_000 })
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

/** Deterministic content per file name. */
const content = (name: string, size: number): Buffer => {
  const seed = [...name].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 7)
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) out[i] = (seed + i * 131 + (i >>> 9)) & 0xff
  return out
}

/**
 * Serves `/NAME?size=N` with a strong ETag and Range/If-Range; while `slow` is set it
 * trickles 16 KiB every 20 ms, so a test can kill the CLI mid-body.
 */
interface TrickleServer {
  readonly url: string
  readonly requests: Array<{ readonly path: string; readonly range: string | undefined; readonly ifRange: string | undefined }>
  slow: boolean
  close(): Promise<void>
}

const startTrickleServer = (): Promise<TrickleServer> =>
  new Promise((resolve) => {
    const timers = new Set<NodeJS.Timeout>()
    const state = { requests: [] as TrickleServer["requests"], slow: true }
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x")
      const name = url.pathname.slice(1)
      const size = Number(url.searchParams.get("size") ?? "0")
      const body = content(name, size)
      const etag = `"${name}-${size}"`
      state.requests.push({ path: req.url ?? "", range: req.headers.range, ifRange: req.headers["if-range"] as string | undefined })
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "")
      const honour = range !== null && (req.headers["if-range"] === undefined || req.headers["if-range"] === etag)
      const start = honour ? Number(range![1]) : 0
      res.writeHead(honour ? 206 : 200, {
        etag,
        "accept-ranges": "bytes",
        "content-length": size - start,
        ...(honour ? { "content-range": `bytes ${start}-${size - 1}/${size}` } : {})
      })
      let offset = start
      const step = () => {
        if (res.destroyed) return
        if (!state.slow) return void res.end(body.subarray(offset))
        if (offset >= size) return void res.end()
        const next = Math.min(size, offset + 16 * 1024)
        res.write(body.subarray(offset, next))
        offset = next
        const timer = setTimeout(() => {
          timers.delete(timer)
          step()
        }, 20)
        timers.add(timer)
      }
      step()
    })
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port
      resolve({
        url: `http://127.0.0.1:${port}`,
        get requests() {
          return state.requests
        },
        get slow() {
          return state.slow
        },
        set slow(value: boolean) {
          state.slow = value
        },
        close: () =>
          new Promise<void>((done) => {
            for (const t of timers) clearTimeout(t)
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })

let work: string
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "volley-cli-dl-"))
})
afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

/** Runs `use` with a fresh server, closed afterwards (tests below run concurrently). */
const withServer = async <S extends { close(): Promise<void> }>(start: () => Promise<S>, use: (server: S) => Promise<void>) => {
  const server = await start()
  try {
    await use(server)
  } finally {
    await server.close()
  }
}
const trickle = (use: (server: TrickleServer) => Promise<void>) => withServer(startTrickleServer, use)
const fault = (use: (server: FaultServer) => Promise<void>, options?: { tls?: boolean }) => withServer(() => startFaultServer(options), use)

const caseDir = (name: string) => {
  const dir = path.join(work, name)
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

/** CLI startup takes a second or more, and far longer on a loaded machine: be generous. */
const waitFor = async (check: () => boolean, what: string, timeoutMs = 40_000) => {
  const started = Date.now()
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const fileSize = (p: string) => (fs.existsSync(p) ? fs.statSync(p).size : 0)

/** Starts the CLI, waits until its .part files hold some bytes, then sends `signal`. */
const interruptMidway = async (args: ReadonlyArray<string>, parts: ReadonlyArray<string>, signal: NodeJS.Signals) => {
  const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
  let stderr = ""
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
  child.stdout.resume()
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, sig) => resolve({ code, signal: sig }))
  )
  try {
    await waitFor(() => parts.every((p) => fileSize(p) >= 64 * 1024), "the .part files to grow")
  } catch (error) {
    child.kill("SIGKILL")
    throw new Error(`${String(error)}; stderr: ${stderr}`)
  }
  child.kill(signal)
  const exit = await Promise.race([
    exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("CLI did not exit after the signal")), 20_000))
  ])
  return { ...exit, stderr }
}

const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i % 251))

// Each case spawns the CLI (about a second of startup each); the cases are independent, so
// they run side by side.
describe.concurrent("volley download: resume after the process dies", { timeout: 120_000 }, () => {
  it("SIGKILL mid-download, then the same command resumes with Range + If-Range; checksums match", () =>
    trickle(async (server) => {
      const dir = caseDir("kill9")
      const files = [["alpha.bin", 600_000], ["beta.bin", 700_000]] as const
      const list = path.join(dir, "list.txt")
      fs.writeFileSync(list, files.map(([name, size]) => `${server.url}/${name}?size=${size} sha256:${sha256(content(name, size))}`).join("\n") + "\n")
      const out = path.join(dir, "out")
      const args = ["download", list, "--dir", out]

      const killed = await interruptMidway(args, files.map(([name]) => path.join(out, `${name}.part`)), "SIGKILL")
      expect(killed.signal).toBe("SIGKILL")
      const partSizes = files.map(([name]) => fileSize(path.join(out, `${name}.part`)))
      for (const [name] of files) {
        expect(fs.existsSync(path.join(out, name))).toBe(false)
        expect(fs.existsSync(path.join(out, `${name}.part.meta`))).toBe(true)
      }

      server.slow = false
      const before = server.requests.length
      const rerun = await runCli(args)
      expect(rerun.stderr).not.toContain("FAILED")
      expect(rerun.code).toBe(0)
      for (const [i, [name, size]] of files.entries()) {
        expect(sha256(fs.readFileSync(path.join(out, name)))).toBe(sha256(content(name, size)))
        const resumed = server.requests.slice(before).find((r) => r.path.startsWith(`/${name}`))!
        expect(resumed.range).toMatch(/^bytes=\d+-$/)
        // The .part may have grown a little between our look and the kill.
        expect(Number(/\d+/.exec(resumed.range!)![0])).toBeGreaterThanOrEqual(partSizes[i]!)
        expect(resumed.ifRange).toBe(`"${name}-${size}"`)
      }
      expect(fs.readdirSync(out).sort()).toEqual(["alpha.bin", "beta.bin"])
      expect(rerun.stdout).toMatch(/2 files: 2 ok \(2 resumed\), 0 failed/)
    }))

  it("Ctrl-C (SIGINT) exits 130 with a partial summary, keeping the .part; rerunning completes it", () =>
    trickle(async (server) => {
      const dir = caseDir("sigint")
      const list = path.join(dir, "list.txt")
      fs.writeFileSync(list, `${server.url}/gamma.bin?size=800000\n`)
      const out = path.join(dir, "out")
      const args = ["download", list, "--dir", out]
      const interrupted = await interruptMidway(args, [path.join(out, "gamma.bin.part")], "SIGINT")
      expect(interrupted.code).toBe(130)
      expect(interrupted.stderr).toContain("run the same command again to resume")
      // The partial summary: what had finished when the signal came (here, nothing yet).
      expect(interrupted.stderr).toMatch(/volley download: interrupted after 0 of 1 file: 0 ok, 0 failed; \S+ B received in /)
      expect(fs.existsSync(path.join(out, "gamma.bin"))).toBe(false)
      server.slow = false
      const rerun = await runCli(args)
      expect(rerun.code).toBe(0)
      expect(sha256(fs.readFileSync(path.join(out, "gamma.bin")))).toBe(sha256(content("gamma.bin", 800_000)))
      expect(rerun.stdout).toContain("resumed")
    }))
})

describe.concurrent("volley download: input, outcomes, exit codes", { timeout: 120_000 }, () => {
  it("all ok: exit 0, plain log lines when not a TTY, a summary; a rerun keeps finished files and exits 0", () =>
    fault(async (server) => {
      const dir = caseDir("ok")
      const list = path.join(dir, "list.txt")
      fs.writeFileSync(list, `# two files\n${server.url}/range-file?size=1000 first.bin\n\n${server.url}/range-file?size=2000 sha256:${sha256(pattern(2000))} second name.bin\n`)
      const args = ["download", list, "--dir", path.join(dir, "out")]
      const run = await runCli(args)
      expect(run.code).toBe(0)
      expect(run.stderr).toMatch(/\[1\/2\] start /)
      expect(run.stderr).toMatch(/\[2\/2\] ok .*second name\.bin.*sha256 verified/)
      expect(run.stdout).toMatch(/^ok {6}sha256:[0-9a-f]{64} {2}.*first\.bin$/m)
      expect(run.stdout).toMatch(/2 files: 2 ok, 0 failed/)
      expect(fs.statSync(path.join(dir, "out", "second name.bin")).size).toBe(2000)
      // Again: the file with a checksum is verified in place, the other is kept as it is.
      const again = await runCli(args)
      expect(again.code).toBe(0)
      expect(again.stdout).toMatch(/1 ok \(1 already present\), 1 kept/)
      expect(server.requests).toHaveLength(2)
    }))

  it.skipIf(missingOutsideCi(!hasScript))("on a terminal: a bar per active download and a total line, redrawn in place, then the summary", () =>
    trickle(async (server) => {
      const dir = caseDir("tty")
      const list = path.join(dir, "list.txt")
      // 1 MiB each at the trickle's 16 KiB / 20 ms: over a second of transfer, so the 100 ms
      // redraws show progress even when other test files load the cores.
      const size = 1024 * 1024
      fs.writeFileSync(list, `${server.url}/one.bin?size=${size} one.bin\n${server.url}/two.bin?size=${size} two.bin\n`)
      const run = await runInTerminal([cli, "download", list, "--dir", path.join(dir, "out")], { timeoutMs: 90_000 })
      expect(run.code).toBe(0)
      // Bars: name, [###---], percent, bytes of total, rate; and the total line under them.
      expect(run.stdout).toMatch(/one\.bin +\[#+-*\] +\d+% +[\d.]+ (KiB|MiB)\/1\.0 MiB/)
      expect(run.stdout).toMatch(/total {2}\d\/2 files {2}[\d.]+ (KiB|MiB)/)
      // Redrawn in place: cursor up to the first bar line, clear below.
      expect(run.stdout).toMatch(/\x1b\[\dF\x1b\[J/)
      expect(run.stdout).toMatch(/2 files: 2 ok, 0 failed/)
      expect(fs.readFileSync(path.join(dir, "out", "two.bin")).equals(content("two.bin", size))).toBe(true)
    }))

  it("--content-disposition names files from the server, sanitized into --dir; --force replaces what exists", () =>
    fault(async (server) => {
      const dir = caseDir("names")
      const out = path.join(dir, "out")
      const hostile = encodeURIComponent(`attachment; filename="../../escaped.bin"`)
      const list = path.join(dir, "list.txt")
      fs.writeFileSync(list, `${server.url}/range-file?size=3000&cd=${hostile}\n`)
      // Without the flag the name comes from the URL path.
      expect((await runCli(["download", list, "--dir", out])).code).toBe(0)
      const byServer = await runCli(["download", list, "--dir", out, "--content-disposition"])
      expect(byServer.code).toBe(0)
      expect(fs.readdirSync(out).sort()).toEqual(["escaped.bin", "range-file"])
      expect(fs.existsSync(path.join(dir, "escaped.bin"))).toBe(false)
      expect(fs.existsSync(path.resolve(dir, "..", "escaped.bin"))).toBe(false)
      // The same name again, now with other content: kept without --force, replaced with it.
      fs.writeFileSync(list, `${server.url}/range-file?size=5000 range-file\n`)
      const kept = await runCli(["download", list, "--dir", out])
      expect(kept.stdout).toMatch(/kept .*range-file \(already exists\)/)
      expect(fs.statSync(path.join(out, "range-file")).size).toBe(3000)
      const forced = await runCli(["download", list, "--dir", out, "--force"])
      expect(forced.code).toBe(0)
      expect(fs.readFileSync(path.join(out, "range-file")).equals(pattern(5000))).toBe(true)
    }))

  it("a bad line is reported as FILE:LINE and skipped; the rest still download; exit 2", () =>
    fault(async (server) => {
      const dir = caseDir("badline")
      const list = path.join(dir, "list.txt")
      fs.writeFileSync(list, [`${server.url}/range-file?size=100 a.bin`, "ftp://example.com/x", `${server.url}/range-file?size=100 sha256:1234 b.bin`, "not a url", `${server.url}/range-file?size=300 c.bin`].join("\n"))
      const run = await runCli(["download", list, "--dir", path.join(dir, "out")])
      expect(run.code).toBe(2)
      expect(run.stderr).toContain(`${list}:2: unsupported scheme ftp`)
      expect(run.stderr).toContain(`${list}:3: sha256 checksum must have 64 hex digits`)
      expect(run.stderr).toContain(`${list}:4: not a URL`)
      expect(fs.readdirSync(path.join(dir, "out")).sort()).toEqual(["a.bin", "c.bin"])
    }))

  it("a 404, a checksum mismatch and a file over --max-size fail (exit 1); the others complete", () =>
    fault(async (server) => {
      const dir = caseDir("fail")
      const list = path.join(dir, "list.txt")
      fs.writeFileSync(list, [
        `${server.url}/status/404 missing.bin`,
        `${server.url}/range-file?size=500 sha256:${"0".repeat(64)} wrong.bin`,
        `${server.url}/huge-cl?size=${8 * 1024 * 1024} big.bin`,
        `${server.url}/range-file?size=500 fine.bin`
      ].join("\n"))
      const run = await runCli(["download", list, "--dir", path.join(dir, "out"), "--max-size", "1M"])
      expect(run.code).toBe(1)
      expect(run.stdout).toMatch(/failed {2}GET .*\/status\/404: HTTP 404/)
      expect(run.stdout).toMatch(/failed {2}.*sha256 mismatch/)
      expect(run.stdout).toContain("exceeds the limit of 1048576 bytes")
      expect(run.stdout).toMatch(/4 files: 1 ok, 3 failed/)
      expect(fs.readdirSync(path.join(dir, "out"))).toEqual(["fine.bin"])
    }))

  it("--idle-timeout fails a stalled body, --timeout an attempt that runs too long, --retries 0 tries once (exit 1)", () =>
    fault(async (server) => {
      const dir = caseDir("timeouts")
      const out = path.join(dir, "out")
      const list = path.join(dir, "list.txt")
      fs.writeFileSync(list, [
        `${server.url}/hang-body?size=1000&sent=10 stalled.bin`,
        `${server.url}/hang stuck.bin`,
        `${server.url}/trickle?chunks=40&interval=100 slow.bin`,
        `${server.url}/range-file?size=500 fine.bin`
      ].join("\n"))
      const run = await runCli(["download", list, "--dir", out, "--idle-timeout", "400ms", "--timeout", "1500ms", "--retries", "0"])
      expect(run.code).toBe(1)
      expect(run.stdout).toMatch(/failed {2}GET .*\/hang-body\?\S*: timeout \(body\)/)
      expect(run.stdout).toMatch(/failed {2}GET .*\/hang: timeout \(headers\)/) // no answer at all: the idle timeout bounds that too
      expect(run.stdout).toMatch(/failed {2}GET .*\/trickle\?\S*: timeout \(deadline\)/) // never idle, but past --timeout
      expect(run.stdout).toMatch(/4 files: 1 ok, 3 failed/)
      // One request each: --retries 0 means a single attempt.
      expect(server.requests.filter((r) => r.path.startsWith("/hang") || r.path.startsWith("/trickle"))).toHaveLength(3)
      // The stalled body's bytes are kept for a resume; nothing at either destination.
      expect(fs.readdirSync(out).filter((f) => !f.endsWith(".meta")).sort()).toEqual(["fine.bin", "slow.bin.part", "stalled.bin.part"])
    }))

  it("--checksums takes sha256sum output (text and binary mode) matched by file name", () =>
    fault(async (server) => {
      const dir = caseDir("sums")
      const list = path.join(dir, "list.txt")
      fs.writeFileSync(list, `${server.url}/range-file?size=700 one.bin\n${server.url}/range-file?size=800 two.bin\n${server.url}/range-file?size=900 three.bin\n`)
      const sums = path.join(dir, "SHA256SUMS")
      fs.writeFileSync(sums, `${sha256(pattern(700))}  one.bin\n${sha256(pattern(800))} *dist/two.bin\n${sha256(pattern(1))}  three.bin\n`)
      const run = await runCli(["download", list, "--dir", path.join(dir, "out"), "--checksums", sums])
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(/ok .*one\.bin.*sha256 verified/)
      expect(run.stderr).toMatch(/ok .*two\.bin.*sha256 verified/)
      expect(run.stdout).toMatch(/failed {2}.*sha256 mismatch for .*three\.bin/)
    }))

  it("usage errors exit 2: unreadable FILE, bad flag values, an empty list", async () => {
    const dir = caseDir("usage")
    fs.writeFileSync(path.join(dir, "empty.txt"), "# nothing\n")
    const [missing, empty, badFlag] = await Promise.all([
      runCli(["download", path.join(dir, "nope.txt")]),
      runCli(["download", path.join(dir, "empty.txt")]),
      runCli(["download", path.join(dir, "empty.txt"), "--concurrency", "0", "--max-size", "lots"])
    ])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("cannot read")
    expect(empty.code).toBe(2)
    expect(empty.stderr).toContain("no URLs")
    expect(badFlag.code).toBe(2)
    expect(badFlag.stderr).toContain("--concurrency must be a positive integer")
    expect(badFlag.stderr).toContain("--max-size must be a size")
  })

  it("TLS: a self-signed server works with --ca; --insecure works and warns on stderr", () =>
    fault(async (server) => {
      const dir = caseDir("tls")
      const list = path.join(dir, "list.txt")
      fs.writeFileSync(list, `${server.url}/range-file?size=1000 t.bin\n`)
      const [withCa, insecure] = await Promise.all([
        runCli(["download", list, "--dir", path.join(dir, "ca"), "--ca", path.join(root, "test/support/certs/cert.pem")]),
        runCli(["download", list, "--dir", path.join(dir, "insecure"), "--insecure"])
      ])
      expect(withCa.code).toBe(0)
      expect(withCa.stderr).not.toContain("WARNING")
      expect(insecure.code).toBe(0)
      expect(insecure.stderr).toMatch(/WARNING: --insecure: TLS certificates are NOT verified/)
      expect(insecure.stdout).not.toContain("WARNING")
      expect(fs.statSync(path.join(dir, "insecure", "t.bin")).size).toBe(1000)
    }, { tls: true }))
})

describe("list and checksum parsing", () => {
  it("URL [algo:HEX] [NAME with spaces], comments and blank lines", () => {
    const hex = "ab".repeat(32)
    const { entries, errors } = Input.parseList(`# c\n\nhttps://h/a.bin\nhttps://h/b sha256:${hex}\nhttps://h/c sha256:${hex} my file.bin\nhttps://h/d plain name\nbogus\nhttps://h/e md5:${"f".repeat(32)}\nhttps://h/f sha1:xyz\n`)
    expect(entries).toEqual([
      { line: 3, url: "https://h/a.bin", mirrors: ["https://h/a.bin"], checksum: undefined, name: undefined, headers: undefined },
      { line: 4, url: "https://h/b", mirrors: ["https://h/b"], checksum: { algorithm: "sha256", hex }, name: undefined, headers: undefined },
      { line: 5, url: "https://h/c", mirrors: ["https://h/c"], checksum: { algorithm: "sha256", hex }, name: "my file.bin", headers: undefined },
      { line: 6, url: "https://h/d", mirrors: ["https://h/d"], checksum: undefined, name: "plain name", headers: undefined },
      { line: 8, url: "https://h/e", mirrors: ["https://h/e"], checksum: { algorithm: "md5", hex: "f".repeat(32) }, name: undefined, headers: undefined }
    ])
    expect(errors.map((e) => e.line)).toEqual([7, 9])
  })

  it("aria2-style: mirrors on one line, out= / checksum= / header= inline or on indented lines; bad options named by line", () => {
    const hex = "ab".repeat(32)
    const { entries, errors } = Input.parseList(
      [
        `https://a/x.iso https://b/x.iso\tout=x.iso checksum=sha-256=${hex}`,
        "  header=Authorization: Bearer t0k en",
        "https://c/y header=X-A:1 my y.bin",
        "  bogus=1",
        "https://d/z checksum=sha-256=12",
        "  out=",
        "https://e/w ftp://e/w"
      ].join("\n")
    )
    expect(entries).toEqual([
      {
        line: 1,
        url: "https://a/x.iso",
        mirrors: ["https://a/x.iso", "https://b/x.iso"],
        checksum: { algorithm: "sha256", hex },
        name: "x.iso",
        headers: { authorization: "Bearer t0k en" }
      }
    ])
    // Line 3 is skipped: its option line 4 is unknown. Nothing bad passes silently.
    expect(errors).toEqual([
      { line: 4, message: "unknown option \"bogus\" (out, checksum, header)" },
      { line: 5, message: "sha256 checksum must have 64 hex digits, got 2" },
      { line: 6, message: "option out= without a URL line before it" },
      { line: 7, message: "unsupported scheme ftp (http or https)" }
    ])
  })

  it("sha256sum text/binary lines, sha512 by length, BSD style; bad lines reported", () => {
    const a = "a".repeat(64)
    const b = "b".repeat(128)
    const { sums, errors } = Input.parseChecksums(`${a}  x.bin\n${b} *dir/y.bin\nSHA256 (z.bin) = ${a}\ngarbage\n${"c".repeat(10)}  short.bin\n`)
    expect(sums.get("x.bin")).toEqual({ algorithm: "sha256", hex: a })
    expect(sums.get("y.bin")).toEqual({ algorithm: "sha512", hex: b })
    expect(sums.get("z.bin")).toEqual({ algorithm: "sha256", hex: a })
    expect(errors.map((e) => e.line)).toEqual([4, 5])
  })

  it("sizes and durations", () => {
    expect(Input.parseSize("1M")).toBe(1024 * 1024)
    expect(Input.parseSize("2GiB")).toBe(2 * 1024 ** 3)
    expect(Input.parseSize("1.5k")).toBe(1536)
    expect(Input.parseSize("10MB")).toBe(10_000_000)
    expect(Input.parseSize("lots")).toBeUndefined()
    expect(Input.parseSize("0")).toBeUndefined()
    expect(Input.parseDuration("30")).toBe(30_000)
    expect(Input.parseDuration("500ms")).toBe(500)
    expect(Input.parseDuration("2m")).toBe(120_000)
    expect(Input.parseDuration("soon")).toBeUndefined()
  })
})

describe("progress display", () => {
  const progress = (bytes: number, total: number | undefined, rate: number): Parameters<typeof Display.applyProgress>[2] => ({
    url: "u",
    path: "/out/file.iso",
    bytes,
    total,
    resumedFrom: 0,
    rate,
    elapsedMs: 1000,
    done: false
  })

  it("a bar per active download plus a total line with bytes, rate and ETA", () => {
    const state = Display.makeState(3)
    Display.applyProgress(state, 0, progress(50 * 1024 * 1024, 100 * 1024 * 1024, 10 * 1024 * 1024))
    Display.applyProgress(state, 1, progress(1024, undefined, 1024))
    const lines = Display.renderBars(state, 100)
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/^file\.iso +\[#+-+\] +50% {2}50\.0 MiB\/100\.0 MiB {2}10\.0 MiB\/s {2}ETA 5s$/)
    expect(lines[1]).toMatch(/\? {2}1\.0 KiB {2}1\.0 KiB\/s {2}ETA --/)
    expect(lines[2]).toBe("total  0/3 files, 1 queued  50.0 MiB  10.0 MiB/s  ETA --")
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(100)
    Display.applyOutcome(state, { _tag: "Success", index: 1, item: "u", url: "u", value: {} as never })
    expect(Display.renderTotal(state, 100)).toBe("total  1/3 files, 1 queued  50.0 MiB  10.0 MiB/s  ETA 5s")
  })

  it("redraws in place on a TTY and writes plain lines otherwise", () => {
    let tty = ""
    const screen = Display.makeDisplay({ files: 1, tty: true, columns: () => 60, write: (t) => (tty += t) })
    screen.progress(0, progress(10, 100, 5))
    screen.tick()
    screen.tick()
    screen.outcome({ _tag: "Success", index: 0, item: "u", url: "u", value: {} as never }, "ok file.iso")
    screen.close()
    expect(tty).toContain("\x1b[2F\x1b[J")
    expect(tty).toContain("[1/1] ok file.iso\n")
    let plain = ""
    const log = Display.makeDisplay({ files: 1, tty: false, columns: () => 60, write: (t) => (plain += t) })
    log.start(0, "http://h/file.iso")
    log.progress(0, progress(10, 100, 5))
    log.tick()
    log.outcome({ _tag: "Success", index: 0, item: "u", url: "u", value: {} as never }, "ok file.iso")
    expect(plain).toBe("[1/1] start http://h/file.iso\n[1/1] ok file.iso\n")
  })

  it("formats ETA and sizes", () => {
    expect(Display.formatEta(59.2)).toBe("1m00s")
    expect(Display.formatEta(3725)).toBe("1h02m")
    expect(Display.formatEta(undefined)).toBe("--")
    expect(Display.formatBytes(1536)).toBe("1.5 KiB")
  })
})
