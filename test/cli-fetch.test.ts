/**
 * `volley fetch`, run as a user runs it: the built CLI in a child process, against the local
 * fault server. Output formats, exit codes, invalid input, fail-fast and Ctrl-C.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { type FetchFlags, parseDuration, parseLine, resolveFlags } from "../src/cli/internal/fetchInput.js"
import { makeStats, progressText, summaryText } from "../src/cli/internal/fetchOutput.js"
import * as Batch from "../src/Batch.js"
import { Either, Option } from "effect"
import { type FaultServer, startFaultServer } from "./support/FaultServer.js"
import { type Finished, hasScript, missingOutsideCi, root, runInTerminal, runNode } from "./support/spawn.js"
import { defaultFetchFlags } from "./support/fetchFlags.js"

let server: FaultServer
let dir: string

beforeAll(async () => {
  server = await startFaultServer()
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-fetch-"))
})
afterAll(async () => {
  await server.close()
  fs.rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => server.reset())

/** Writes an input file and returns its path. */
const input = (name: string, lines: ReadonlyArray<string>): string => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, `${lines.join("\n")}\n`)
  return file
}

const fetchCli = (args: ReadonlyArray<string>, options?: { readonly input?: string }): Promise<Finished> =>
  runNode(["bin/volley.js", "fetch", ...args], options)

const records = (stdout: string): Array<Record<string, unknown>> =>
  stdout.trim() === "" ? [] : stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)

// eslint-disable-next-line no-control-regex
const controlChars = /[\x00-\x08\x0b-\x1f\x7f]/

describe("volley fetch: output", () => {
  it("prints one valid NDJSON record per request and a summary on stderr; holds --rate and --per-host; exit 0", async () => {
    const slow = Array.from({ length: 7 }, (_, i) => `${server.url}/slow?ms=20&i=${i}`)
    const file = input("ok.txt", ["# ten fine requests", `${server.url}/ok?size=10`, "", `${server.url}/json`, ...slow])
    const run = await fetchCli([file, "--concurrency", "8", "--per-host", "3", "--rate", "20"])
    expect(run.code).toBe(0)
    const out = records(run.stdout)
    expect(out.map((r) => r["line"]).sort((a, b) => Number(a) - Number(b))).toEqual([2, 4, 5, 6, 7, 8, 9, 10, 11])
    for (const record of out) {
      expect(record).toMatchObject({ ok: true, status: 200, attempts: 1 })
      expect(typeof record["ms"]).toBe("number")
      expect(typeof record["url"]).toBe("string")
    }
    expect(out.find((r) => r["line"] === 2)!["bytes"]).toBe(10)
    expect(run.stderr).toMatch(/^volley fetch: 9 requests in .*: 9 ok, 0 failed\n/)
    expect(run.stderr).toContain("latency: p50")
    expect(controlChars.test(run.stderr)).toBe(false) // not a terminal: no progress line
    // 20/s in windows of 100 ms (2 starts each): 9 starts span at least 4 windows.
    const times = server.requests.map((r) => r.at)
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(380)
    expect(server.stats.maxInFlight).toBeLessThanOrEqual(3)
  })

  it("gives each failure its own tag, reason and message; exit 1 when some failed", async () => {
    const file = input("mixed.txt", [`${server.url}/ok`, `${server.url}/status/404`, "http://127.0.0.1:1/refused", `${server.url}/hang`])
    const run = await fetchCli([file, "--timeout", "300ms", "--retries", "0"])
    expect(run.code).toBe(1)
    const byLine = new Map(records(run.stdout).map((r) => [r["line"], r]))
    expect(byLine.get(1)).toMatchObject({ ok: true, status: 200 })
    expect(byLine.get(2)).toMatchObject({ ok: false, status: 404, error: "StatusError" })
    expect(byLine.get(3)).toMatchObject({ ok: false, error: "NetworkError", reason: "ConnectionRefused" })
    expect(byLine.get(4)).toMatchObject({ ok: false, error: "NetworkError", reason: "Timeout", phase: "deadline" })
    expect(String(byLine.get(4)!["message"])).toContain("timeout")
    expect(run.stderr).toMatch(/1 ok, 3 failed/)
  })

  it("reads NDJSON lines with method, headers and body, and reads stdin with -", async () => {
    const lines = [
      JSON.stringify({ url: `${server.url}/echo`, method: "POST", headers: { "x-trace": "t1" }, body: "hello" }),
      `${server.url}/echo`
    ]
    // `-` goes last: @effect/cli stops reading flags after a bare `-`.
    const run = await fetchCli(["--header", "X-Team: blue", "--method", "PUT", "-"], { input: `${lines.join("\n")}\n` })
    expect(run.code).toBe(0)
    expect(records(run.stdout)).toHaveLength(2)
    const post = server.requests.find((r) => r.method === "POST")!
    expect(post.body).toBe("hello")
    expect(post.headers["x-trace"]).toBe("t1")
    expect(post.headers["x-team"]).toBe("blue") // --header applies to every line
    const put = server.requests.find((r) => r.method === "PUT")! // --method applies to plain URL lines
    expect(put.headers["x-team"]).toBe("blue")
  })

  it("prints a table with a summary on stdout", async () => {
    const file = input("table.txt", [`${server.url}/ok`, `${server.url}/status/503`])
    const run = await fetchCli([file, "--output", "table", "--retries", "0"])
    expect(run.code).toBe(1)
    const lines = run.stdout.split("\n")
    expect(lines[0]).toMatch(/^\s+LINE\s+RESULT\s+TIME\s+BYTES\s+URL$/)
    expect(run.stdout).toMatch(/\n\s+1\s+200\s+/)
    expect(run.stdout).toMatch(/\n\s+2\s+503\s+.*# GET .*HTTP 503/)
    expect(run.stdout).toContain("volley fetch: 2 requests")
  })
})

describe("volley fetch: on a terminal", () => {
  it.skipIf(missingOutsideCi(!hasScript))("draws a live progress line (done/total, rate, failures, ETA) in place, then erases it for the summary", async () => {
    const file = input("tty.txt", Array.from({ length: 12 }, (_, i) => `${server.url}/slow?ms=150&i=${i}`))
    const run = await runInTerminal(["bin/volley.js", "fetch", file, "--concurrency", "2", "--output", "table"])
    expect(run.code).toBe(0)
    // Redrawn in place: carriage return, the line, erase-to-end-of-line.
    const frames = [...run.stdout.matchAll(/\r(fetch [^\r\x1b]*)\x1b\[K/g)].map((m) => m[1]!)
    expect(frames.length).toBeGreaterThanOrEqual(3)
    expect(frames.some((f) => /^fetch \d+\/12 {2}[\d.]+\/s {2}0 failed {2}ETA \d+s$/.test(f))).toBe(true)
    // The line is erased before the summary, which lands on a clean line.
    expect(run.stdout).toMatch(/\r\x1b\[K[^]*volley fetch: 12 requests in [^\r]*: 12 ok, 0 failed/)
  })
})

describe("volley fetch: bad input", () => {
  it("reports each invalid line as FILE:LINE, runs the valid ones, and exits 2", async () => {
    const file = input("bad.txt", [
      `${server.url}/ok`,
      "not a url",
      "ftp://example.com/x",
      "{\"url\": 3}",
      "{broken json",
      JSON.stringify({ url: `${server.url}/ok`, methd: "POST" }),
      `${server.url}/json`
    ])
    const run = await fetchCli([file])
    expect(run.code).toBe(2)
    expect(records(run.stdout).map((r) => r["line"]).sort()).toEqual([1, 7])
    const errors = run.stderr.split("\n").filter((l) => l.startsWith(`${file}:`))
    expect(errors).toEqual([
      `${file}:2: expected one URL per line, got "not a url"`,
      `${file}:3: unsupported scheme ftp in "ftp://example.com/x"`,
      `${file}:4: missing "url" (a string)`,
      expect.stringMatching(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:5: invalid JSON: `)),
      `${file}:6: unknown field "methd" (expected url, method, headers, body)`
    ])
    expect(run.stderr).toContain("2 ok, 0 failed, 5 invalid lines skipped")
  })

  it("rejects header injection (CR, LF, NUL) and connection-level headers as FILE:LINE, never sends them, exits 2", async () => {
    const line = (headers: Record<string, string>) => JSON.stringify({ url: `${server.url}/echo`, headers })
    const file = input("headers.txt", [
      line({ "x-a": "1\r\nInjected: yes" }),
      line({ "x-a": "1\u0000" }),
      line({ Host: "evil.test" }),
      line({ "content-length": "5" }),
      line({ "transfer-encoding": "chunked" }),
      line({ connection: "close" }),
      line({ expect: "100-continue" }),
      line({ "x-a": "fine" })
    ])
    const run = await fetchCli([file])
    expect(run.code).toBe(2)
    const errors = run.stderr.split("\n").filter((l) => l.startsWith(`${file}:`))
    expect(errors).toEqual([
      `${file}:1: header "x-a" has a control character (CR, LF, NUL...) in its value`,
      `${file}:2: header "x-a" has a control character (CR, LF, NUL...) in its value`,
      `${file}:3: header "host" is connection-level and set by volley; remove it`,
      `${file}:4: header "content-length" is connection-level and set by volley; remove it`,
      `${file}:5: header "transfer-encoding" is connection-level and set by volley; remove it`,
      `${file}:6: header "connection" is connection-level and set by volley; remove it`,
      `${file}:7: header "expect" is connection-level and set by volley; remove it`
    ])
    expect(run.stderr).not.toContain("Injected")
    expect(server.requests.map((r) => r.headers["x-a"])).toEqual(["fine"])
  })

  it("rejects a --header with a connection-level name or a control character, exit 2, nothing sent", async () => {
    for (const header of ["Host: evil.test", "X-A: 1\r\nInjected: yes"]) {
      const run = await fetchCli([input("one.txt", [`${server.url}/ok`]), "--header", header])
      expect(run.code).toBe(2)
      expect(run.stderr).toMatch(/^volley fetch: invalid --header: header "(host|x-a)" /)
      expect(run.stderr).not.toContain("Injected")
    }
    expect(server.requests).toHaveLength(0)
  })

  it("rejects a bad flag value with exit 2 and a clear message, before sending anything", async () => {
    const run = await fetchCli([input("one.txt", [`${server.url}/ok`]), "--concurrency", "0"])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe("volley fetch: --concurrency must be at least 1, got 0\n")
    expect(run.stdout).toBe("")
    expect(server.requests).toHaveLength(0)
  })

  it("a missing file is a usage error (exit 2), nothing is sent", async () => {
    const run = await fetchCli([path.join(dir, "nope.txt")])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain(`volley fetch: cannot read ${path.join(dir, "nope.txt")}: no such file`)
  })

  it("a flag value the parser rejects, or an unknown flag, is a usage error (exit 2) before anything runs", async () => {
    // @effect/cli validates typed flags itself; the CLI entry point turns that into exit 2.
    const file = input("x.txt", [`${server.url}/ok`])
    const badValue = await fetchCli([file, "--output", "xml"])
    expect(badValue.code).toBe(2)
    expect(badValue.stdout + badValue.stderr).toContain("Expected one of the following cases: ndjson, table")
    const unknown = await fetchCli([file, "--bogus"])
    expect(unknown.code).toBe(2)
    expect(unknown.stdout + unknown.stderr).toContain("'--bogus'")
    expect(server.requests).toHaveLength(0)
  })

  it("volley --help lists every command, and exits 0", async () => {
    const run = await runNode(["bin/volley.js", "--help"])
    expect(run.code).toBe(0)
    const text = run.stdout.replace(/\x1b\[[0-9;]*m/g, "")
    for (const command of ["fetch", "download", "serve", "jobs", "demo"]) expect(text).toMatch(new RegExp(`^  ${command} `, "m"))
  })
})

describe("volley fetch: stopping early", () => {
  it("--fail-fast stops at the first failure and aborts the requests in flight", async () => {
    const file = input("failfast.txt", [`${server.url}/hang?1`, `${server.url}/hang?2`, `${server.url}/hang?3`, `${server.url}/status/500`, `${server.url}/ok`])
    const run = await fetchCli([file, "--fail-fast", "--concurrency", "4", "--retries", "0"])
    expect(run.code).toBe(1)
    const out = records(run.stdout)
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({ line: 4, status: 500 })
    await server.waitForClientAbort("/hang")
    expect(server.requests.some((r) => r.path === "/ok")).toBe(false)
  })

  it("SIGINT aborts requests in flight, prints the partial summary and exits 130", async () => {
    const file = input("sigint.txt", [`${server.url}/ok`, ...Array.from({ length: 4 }, (_, i) => `${server.url}/hang?${i}`)])
    const child = spawn(process.execPath, ["bin/volley.js", "fetch", file, "--concurrency", "5"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000)
    await server.waitForRequest("/hang", 4)
    // The /ok answer is on stdout before the interrupt (the server seeing the hung requests
    // does not mean the client has written it yet).
    for (let i = 0; i < 250 && !stdout.includes("\n"); i++) await new Promise((r) => setTimeout(r, 20))
    child.kill("SIGINT")
    const code = await exited
    clearTimeout(killer)
    expect(code).toBe(130)
    expect(records(stdout)).toEqual([expect.objectContaining({ line: 1, ok: true })])
    expect(stderr).toMatch(/volley fetch: interrupted after 1 request in .*: 1 ok, 0 failed/)
    // The hung requests were aborted, not left to the server's timeouts.
    for (let i = 0; i < 100 && server.stats.abortedByClient < 4; i++) await new Promise((r) => setTimeout(r, 20))
    expect(server.stats.abortedByClient).toBe(4)
  })
})

describe("volley fetch: parsing (no process)", () => {
  const flags: FetchFlags = defaultFetchFlags

  it.each([
    [{ concurrency: 0 }, "--concurrency must be at least 1, got 0"],
    [{ perHost: Option.some(0) }, "--per-host must be at least 1, got 0"],
    [{ rate: Option.some(0) }, "--rate must be a positive number of requests per second, got 0"],
    [{ retries: -1 }, "--retries must be 0 or more, got -1"],
    [{ timeout: Option.some("5x") }, "invalid --timeout \"5x\" (e.g. 500ms, 10s, 2m)"],
    [{ header: ["no-colon"] }, "invalid --header \"no-colon\" (expected \"Name: value\")"],
    [{ method: Option.some("GE T") }, "invalid --method \"GE T\""],
    [{ inputs: [] }, "nothing to fetch: give URLs, -i FILE (one URL or JSON request per line), or - to read stdin"],
    [{ data: Option.some("a=1"), json: Option.some("{}") }, "give either --data or --json, not both"]
  ] as const)("rejects %j", (override, message) => {
    expect(resolveFlags({ ...flags, ...override })).toBe(message)
  })

  it("resolves good flags into batch options", () => {
    const settings = resolveFlags({ ...flags, perHost: Option.some(4), rate: Option.some(50), timeout: Option.some("1.5s"), retries: 0, header: ["X-A: 1"], method: Option.some("post") })
    if (typeof settings === "string") throw new Error(settings)
    expect(settings.connections).toBe(4)
    expect(settings.defaults).toEqual({ method: "POST", headers: { "x-a": "1" }, body: undefined, show: undefined })
    expect(settings.batch).toMatchObject({ concurrency: 16, perHost: 4, rate: 50, requestOptions: { retry: { maxAttempts: 1 } } })
  })

  it("parses durations", () => {
    expect([parseDuration("500ms"), parseDuration("10s"), parseDuration("2m"), parseDuration("1.5"), parseDuration("0"), parseDuration("x")]).toEqual([
      500,
      10_000,
      120_000,
      1500,
      undefined,
      undefined
    ])
  })

  it("parses lines: skips blanks and comments, redacts URLs, builds requests", () => {
    const defaults = { method: "GET", headers: {} }
    expect(parseLine("   ", 1, defaults)).toEqual({ _tag: "Skip" })
    expect(parseLine("  # note", 1, defaults)).toEqual({ _tag: "Skip" })
    const plain = parseLine(" https://user:pw@a.test/x?token=s3cret ", 3, defaults)
    expect(plain._tag === "Item" && plain.item.line).toBe(3)
    expect(plain._tag === "Item" && plain.item.url).not.toContain("s3cret")
    expect(plain._tag === "Item" && typeof plain.item.request).toBe("string") // GET, no headers: no request object
    const json = parseLine(JSON.stringify({ url: "http://a.test/", method: "patch", body: { a: 1 } }), 4, defaults)
    expect(json._tag === "Item" && (json.item.request as { readonly method: string }).method).toBe("PATCH")
    expect(parseLine("[1]", 5, defaults)).toEqual({ _tag: "Invalid", message: "not an absolute http(s) URL: \"[1]\"" })
    expect(parseLine(JSON.stringify({ url: "http://a.test/", headers: { "x-n": 1 } }), 6, defaults)).toEqual({ _tag: "Invalid", message: "header \"x-n\" must be a string" })
  })

  it("formats progress and summaries", () => {
    expect(progressText({ done: 1500, failed: 3, invalid: 0, total: 3000, elapsedMs: 1000 })).toBe("fetch 1,500/3,000  1500/s  3 failed  ETA 1s")
    expect(progressText({ done: 10, failed: 0, invalid: 2, total: undefined, elapsedMs: 2000 })).toBe("fetch 10  5.0/s  0 failed  2 invalid")
    const summary = Batch.summarize([
      { result: Either.right(1), bytes: 2048, startMs: 0, durationMs: 10, attempts: 1 },
      { result: Either.left({ _tag: "StatusError", status: 503 }), bytes: 0, startMs: 0, durationMs: 20, attempts: 3 }
    ])
    const stats = makeStats()
    stats.add({ index: 0, item: { line: 1, url: "u", request: "u" }, result: Either.right(1), status: 200, bytes: 2048, startMs: 0, durationMs: 10, attempts: 1 })
    stats.add({ index: 1, item: { line: 2, url: "u", request: "u" }, result: Either.left(1), status: 503, bytes: 0, startMs: 0, durationMs: 20, attempts: 3 })
    expect(summaryText(summary, stats, 1, true)).toBe(
      "volley fetch: interrupted after 2 requests in 20 ms (100/s): 1 ok, 1 failed, 1 invalid line skipped\n" +
        "  outcomes: ok 1, HTTP 503 1\n" +
        "  statuses: 200 1, 503 1\n" +
        "  latency: p50 10 ms, p90 20 ms, p99 20 ms, p99.9 20 ms, max 20 ms\n" +
        "  histogram: <=10 ms 1  <=20 ms 1\n" +
        "  received: 2.0 KiB\n"
    )
  })
})
