/**
 * The command line's own answers, from the built CLI as a user runs it: short help (with
 * defaults and examples) and `--help all`, errors that name the flag and suggest the nearest
 * one, the version, and no line too long for a terminal.
 */
import { describe, expect, it } from "vitest"
import { tables } from "../src/cli/flagTables.js"
import { runNode } from "./support/spawn.js"

const volley = (...args: ReadonlyArray<string>) => runNode(["bin/volley.js", ...args])

describe("volley --help", () => {
  it.each([["fetch"], ["download"], ["serve"], ["jobs"], ["batch"], []])("%j --help is short (< 40 lines), readable (< 110 columns), with examples", async (...path) => {
    const run = await volley(...path, "--help")
    expect(run.code).toBe(0)
    const lines = run.stdout.trimEnd().split("\n")
    expect(lines.length).toBeLessThan(40)
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(110)
    expect(run.stdout).not.toContain("This setting is optional")
    expect(run.stdout).not.toContain("--wizard")
    if (path.length > 0) expect(run.stdout).toMatch(/volley \S+.* --help all|Every flag/)
  })

  // The pre-parse check (usage.ts) keeps its own table of each command's flags: one flag added
  // to a command and not to its table is refused as unknown, so compare them both ways.
  it.each(Object.keys(tables))("the flag table of %s is the command's own flags (--help all)", async (path) => {
    const all = await volley(...path.split(" "), "--help", "all")
    expect(all.code).toBe(0)
    const builtIn = new Set(["--help", "--version", "--wizard", "--completions", "--log-level"])
    const listed = new Set<string>()
    const aliases: Record<string, string> = {}
    for (const line of all.stdout.split("\n")) {
      const m = /^\(?(?:(-[A-Za-z]), )?(--[a-z][a-z-]*)/.exec(line)
      if (m === null || builtIn.has(m[2]!)) continue
      listed.add(m[2]!)
      if (m[1] !== undefined) aliases[m[1]] = m[2]!
    }
    expect([...listed].sort()).toEqual(Object.keys(tables[path]!.flags).sort())
    expect(aliases).toEqual(tables[path]!.aliases)
  })

  it("fetch --help shows defaults and examples; --help all has every flag", async () => {
    const short = await volley("fetch", "--help")
    expect(short.stdout).toMatch(/--concurrency N\s+requests in flight at once \(16\)/)
    expect(short.stdout).toMatch(/^Examples:\n {2}volley fetch https:/m)
    const all = await volley("fetch", "--help", "all")
    expect(all.code).toBe(0)
    for (const flag of ["--proxy", "--summary-file", "--no-compressed", "--output-file", "--input-file"]) expect(all.stdout).toContain(flag)
  })

  it("--version prints the version and no blank line", async () => {
    const run = await volley("--version")
    expect(run.stdout).toBe("0.1.0\n")
  })
})

describe("volley: flag errors", () => {
  it("an unknown flag is named, with the nearest one suggested; exit 2", async () => {
    const run = await volley("fetch", "--concurency", "4", "http://127.0.0.1:9/")
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("volley fetch: unknown flag '--concurency' (did you mean --concurrency?)")
    const download = await volley("download", "--dri", "out", "http://127.0.0.1:9/x")
    expect(download.code).toBe(2)
    expect(download.stderr).toContain("unknown flag '--dri' (did you mean --dir?)")
  })

  it("a bad number names its flag", async () => {
    const run = await volley("fetch", "-c", "abc", "http://127.0.0.1:9/")
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("--concurrency: 'abc' is not an integer")
    const rate = await volley("fetch", "--rate=fast", "http://127.0.0.1:9/")
    expect(rate.stderr).toContain("--rate: 'fast' is not a number")
  })
})
