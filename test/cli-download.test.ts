/**
 * `volley download` as a user runs it: the built CLI in a child process against loopback
 * servers. Exit codes, bad lines reported as FILE:LINE, sha256sum files, TLS flags. Killing
 * it mid-download and resuming is in cli-download-resume.test.ts; the pure parts (input
 * parsing, progress rendering) in cli-download-input / cli-download-progress.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { cli, content, fault, pattern, runCli, sha256, trickle, useCaseDirs } from "./support/cliDownload.js"
import { hasScript, missingOutsideCi, root, runInTerminal, runNode } from "./support/spawn.js"

const caseDir = useCaseDirs()

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

  it("--content-disposition never takes a side file's name (.part, .part.meta) nor keeps format or line-separator characters", () =>
    fault(async (server) => {
      const dir = caseDir("sidecars")
      const out = path.join(dir, "out")
      const cd = (name: string) => encodeURIComponent(`attachment; filename*=UTF-8''${encodeURIComponent(name)}`)
      const names = ["victim.bin.part", "victim.bin.part.meta", "report\u061Cfdp.exe", "pay\u200Bpal.html", "line\u2028sep.txt"]
      const list = path.join(dir, "list.txt")
      fs.writeFileSync(list, names.map((name, i) => `${server.url}/range-file?size=${1000 + i}&cd=${cd(name)}\n`).join(""))
      const planted = await runCli(["download", list, "--dir", out, "--content-disposition"])
      expect(planted.code).toBe(0)
      expect(fs.readdirSync(out).sort()).toEqual(["line_sep.txt", "pay_pal.html", "report_fdp.exe", "victim.bin.part.meta_", "victim.bin.part_"])
      // The real victim.bin later: a clean download, not a resume of anything a server left.
      fs.writeFileSync(list, `${server.url}/range-file?size=3000 victim.bin\n`)
      server.reset()
      expect((await runCli(["download", list, "--dir", out])).code).toBe(0)
      expect(server.requests.map((r) => r.headers["range"])).toEqual([undefined])
      expect(fs.readFileSync(path.join(out, "victim.bin")).equals(pattern(3000))).toBe(true)
    }))

  it("a finished file follows the umask (0644 under umask 022), as curl's and fetch -O's do; a cut download's .part and .part.meta stay 0600", () =>
    fault(async (server) => {
      const dir = caseDir("modes")
      const out = path.join(dir, "out")
      const list = path.join(dir, "list.txt")
      fs.writeFileSync(list, `${server.url}/range-file?size=3000 done.bin\n${server.url}/range-file?size=300000&resetAfter=100000 cut.bin\n`)
      const run = await runNode([cli, "download", list, "--dir", out, "--retries", "0"], { umask: "022", timeoutMs: 60_000 })
      expect(run.code).toBe(1)
      expect(fs.statSync(path.join(out, "done.bin")).mode & 0o777).toBe(0o644)
      expect(fs.statSync(path.join(out, "cut.bin.part")).mode & 0o777).toBe(0o600)
      expect(fs.statSync(path.join(out, "cut.bin.part.meta")).mode & 0o777).toBe(0o600)
      // umask 077: the finished file is private too.
      fs.rmSync(out, { recursive: true })
      const strict = await runNode([cli, "download", list, "--dir", out, "--retries", "0"], { umask: "077", timeoutMs: 60_000 })
      expect(strict.code).toBe(1)
      expect(fs.statSync(path.join(out, "done.bin")).mode & 0o777).toBe(0o600)
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
