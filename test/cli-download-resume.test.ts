/**
 * The promise of `volley download` that matters most: kill it (SIGKILL or Ctrl-C) mid-download,
 * run the same command again, and it resumes to files whose checksums match. The built CLI in
 * a child process against a trickling loopback server.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { content, fileSize, interruptMidway, runCli, sha256, trickle, useCaseDirs } from "./support/cliDownload.js"

const caseDir = useCaseDirs()

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
