/**
 * `volley fetch` flags, each proven by spawning the real command: --timeout against --max-time
 * with Retry-After, flags after `-`, --body for JSON / text / binary bodies, -O with hostile
 * names, --summary json, and plain help on a pipe.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { Effect } from "effect"
import { normalizeArgv } from "../src/cli/args.js"
import { readBody } from "../src/cli/internal/fetchBody.js"
import * as Client from "../src/Client.js"
import { type FaultServer, startFaultServer } from "./support/FaultServer.js"
import { type Finished, runNode } from "./support/spawn.js"

let server: FaultServer
let dir: string
/** Answers 200 to any path: /bin with bytes 0..255, /text with text, anything else echoes its path. */
let any: http.Server
let anyUrl: string

beforeAll(async () => {
  server = await startFaultServer()
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-fetch-flags-"))
  any = http.createServer((req, res) => {
    const url = req.url ?? "/"
    if (url === "/bin") {
      res.writeHead(200, { "content-type": "application/octet-stream" })
      return res.end(Buffer.from(Array.from({ length: 256 }, (_, i) => i)))
    }
    if (url === "/text") {
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" })
      return res.end("héllo\nwörld")
    }
    if (url === "/big") {
      res.writeHead(200, { "content-type": "text/plain" })
      return res.end("x".repeat(5000))
    }
    res.writeHead(200, { "content-type": "text/plain" })
    res.end(`path ${url}`)
  })
  await new Promise<void>((resolve) => any.listen(0, "127.0.0.1", resolve))
  anyUrl = `http://127.0.0.1:${(any.address() as { port: number }).port}`
})
afterAll(async () => {
  await server.close()
  await new Promise((resolve) => any.close(resolve))
  fs.rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => server.reset())

const input = (name: string, lines: ReadonlyArray<string>): string => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, `${lines.join("\n")}\n`)
  return file
}

const fetchCli = (args: ReadonlyArray<string>, options?: { readonly input?: string; readonly env?: NodeJS.ProcessEnv }): Promise<Finished> =>
  runNode(["bin/volley.js", "fetch", ...args], options)

const records = (stdout: string): Array<Record<string, unknown>> =>
  stdout.trim() === "" ? [] : stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)

// eslint-disable-next-line no-control-regex
const escapes = /\x1b/

describe("volley fetch: --timeout bounds each attempt, --max-time the whole request", () => {
  // 503 with Retry-After: 1, twice, then 200: about 2 s of waiting in all, each attempt quick.
  const flaky = (key: string) => `${server.url}/flaky?key=${key}&failures=2&retryAfter=1`

  it("--timeout 2s --retries 2 succeeds after two Retry-After waits", async () => {
    const run = await fetchCli([input("t.txt", [flaky("t")]), "--timeout", "2s", "--retries", "2"])
    expect(run.stderr).toContain("1 ok, 0 failed")
    expect(run.code).toBe(0)
    expect(records(run.stdout)[0]).toMatchObject({ ok: true, status: 200, attempts: 3 })
    const times = server.requests.map((r) => r.at)
    expect(times).toHaveLength(3)
    expect(times[2]! - times[0]!).toBeGreaterThanOrEqual(1900) // Retry-After was honoured
  })

  it("--max-time 2s fails the same request: the waits count", async () => {
    const run = await fetchCli([input("m.txt", [flaky("m")]), "--max-time", "2s", "--retries", "2"])
    expect(run.code).toBe(1)
    expect(records(run.stdout)[0]).toMatchObject({ ok: false, error: "NetworkError", reason: "Timeout", phase: "deadline" })
    expect(server.requests.length).toBeLessThan(3)
  })

  it("a bad --max-time is a usage error (exit 2)", async () => {
    const run = await fetchCli([input("bad.txt", [`${server.url}/ok`]), "--max-time", "soon"])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe("volley fetch: invalid --max-time \"soon\" (e.g. 500ms, 10s, 2m)\n")
  })
})

describe("volley fetch: flags anywhere", () => {
  it("reads flags after - (stdin), including a value flag and a switch", async () => {
    const run = await fetchCli(["-", "-c", "8", "--header", "X-Team: red", "--summary", "json"], { input: `${server.url}/echo\n${server.url}/ok\n` })
    expect(run.code).toBe(0)
    expect(records(run.stdout)).toHaveLength(2)
    expect(server.requests.find((r) => r.path === "/echo")!.headers["x-team"]).toBe("red")
    expect(JSON.parse(run.stderr)).toMatchObject({ total: 2, succeeded: 2 })
  })

  it("reads flags before and after a file", async () => {
    const file = input("both.txt", [`${server.url}/ok`])
    const run = await fetchCli(["--retries", "0", file, "-o", "table"])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^\s+LINE\s+RESULT/)
  })

  it("normalizeArgv moves a lone - to the end, but not a flag's value or anything after --", () => {
    const flags = { fetch: new Set(["-H", "-c"]) }
    expect(normalizeArgv(["node", "v", "fetch", "-", "-c", "8"], flags)).toEqual(["node", "v", "fetch", "-c", "8", "-"])
    expect(normalizeArgv(["node", "v", "fetch", "-H", "-", "f.txt"], flags)).toEqual(["node", "v", "fetch", "-H", "-", "f.txt"])
    expect(normalizeArgv(["node", "v", "fetch", "-", "--", "-x"], flags)).toEqual(["node", "v", "fetch", "-", "--", "-x"])
    expect(normalizeArgv(["node", "v", "--help"], flags)).toEqual(["node", "v", "--help"])
  })
})

describe("volley fetch: bodies", () => {
  it("--body puts JSON as a value, text as a string, binary as base64; --body-limit cuts long ones", async () => {
    const file = input("bodies.txt", [`${server.url}/json`, `${anyUrl}/text`, `${anyUrl}/bin`, `${anyUrl}/big`])
    const run = await fetchCli([file, "--body", "--body-limit", "1K"])
    expect(run.code).toBe(0)
    const byLine = new Map(records(run.stdout).map((r) => [r["line"], r]))
    expect(byLine.get(1)).toMatchObject({ body: { hello: "world", n: 1 }, bodyEncoding: "json", bytes: 23 })
    expect(byLine.get(2)).toMatchObject({ body: "héllo\nwörld", bodyEncoding: "text" })
    expect(byLine.get(3)).toMatchObject({ bodyEncoding: "base64", bytes: 256 })
    expect(Buffer.from(String(byLine.get(3)!["body"]), "base64")).toEqual(Buffer.from(Array.from({ length: 256 }, (_, i) => i)))
    expect(byLine.get(4)).toMatchObject({ body: "x".repeat(1024), bodyEncoding: "text", bodyTruncated: true, bytes: 5000 })
    expect(byLine.get(1)!["bodyTruncated"]).toBeUndefined()
  })

  it("-O saves each body under a safe name inside DIR, never replacing a file, whatever the URL says", async () => {
    const out = path.join(dir, "saved")
    fs.mkdirSync(out)
    fs.writeFileSync(path.join(out, "report.txt"), "mine")
    const file = input("hostile.txt", [
      `${anyUrl}/..%2F..%2Fescape.txt`,
      `${anyUrl}/%2e%2e`,
      `${anyUrl}/dir/.hidden`,
      `${anyUrl}/a%0Ab%1B%5B31m.txt`,
      `${anyUrl}/report.txt`,
      `${anyUrl}/report.txt?again`
    ])
    const run = await fetchCli([file, "-O", out])
    expect(run.code).toBe(0)
    const names = fs.readdirSync(out).sort()
    expect(fs.existsSync(path.join(dir, "escape.txt"))).toBe(false)
    expect(fs.existsSync(path.join(dir, "..", "escape.txt"))).toBe(false)
    for (const name of names) {
      expect(name).not.toMatch(/^\.|[/\\\x00-\x1f]/) // no hidden files, separators or control characters
    }
    expect(fs.readFileSync(path.join(out, "report.txt"), "utf8")).toBe("mine") // not replaced
    expect(names).toContain("report (1).txt")
    expect(names).toContain("report (2).txt")
    expect(names).toHaveLength(7)
    const records_ = records(run.stdout)
    for (const record of records_) {
      const saved = String(record["file"])
      expect(path.dirname(saved)).toBe(out)
      expect(fs.existsSync(saved)).toBe(true)
    }
    expect(records_.find((r) => r["line"] === 1)!["file"]).toBe(path.join(out, "escape.txt"))
  })
})

describe("volley fetch -O: never through a link, files follow the umask", () => {
  it("a planted .part symlink (dangling, pointing outside DIR) is never written through; the saved file is a regular 0644 file under umask 022", async () => {
    const root = fs.mkdtempSync(path.join(dir, "planted-"))
    const out = path.join(root, "out")
    fs.mkdirSync(out)
    const outside = path.join(root, "OUTSIDE.txt")
    // Dangling: existsSync says "absent", and open(part, "w") would create the target.
    fs.symlinkSync("../OUTSIDE.txt", path.join(out, "victim.bin.part"))
    const file = input("planted.txt", [`${anyUrl}/victim.bin`])
    const run = await runNode(["bin/volley.js", "fetch", file, "-O", out], { umask: "022" })
    expect(run.code).toBe(0)
    expect(fs.existsSync(outside)).toBe(false)
    const saved = String(records(run.stdout)[0]!["file"])
    expect(path.dirname(saved)).toBe(out)
    const stats = fs.lstatSync(saved)
    expect(stats.isFile()).toBe(true)
    expect(stats.mode & 0o777).toBe(0o644)
    expect(fs.readFileSync(saved, "utf8")).toBe("path /victim.bin")
    // The planted link is left alone (not followed, not renamed into place).
    expect(fs.readlinkSync(path.join(out, "victim.bin.part"))).toBe("../OUTSIDE.txt")
    expect(fs.readdirSync(out).filter((name) => name.endsWith(".part"))).toEqual(["victim.bin.part"])
  })

  it("a .part link swapped in after the name was chosen is replaced, never written through (the save step in process, on a real response)", async () => {
    const root = fs.mkdtempSync(path.join(dir, "swapped-"))
    const victim = path.join(root, "victim.txt")
    fs.writeFileSync(victim, "keep me\n")
    const target = path.join(root, "out.bin")
    fs.symlinkSync(victim, `${target}.part`)
    const saved = await Effect.runPromise(Effect.provide(
      Effect.scoped(Effect.flatMap(Client.open(`${anyUrl}/bin`), (response) => readBody(response, undefined, target))),
      Client.layer()
    ))
    expect(saved.file).toBe(target)
    expect(fs.readFileSync(victim, "utf8")).toBe("keep me\n")
    expect(fs.lstatSync(target).isFile()).toBe(true)
    expect(fs.readFileSync(target).equals(Buffer.from(Array.from({ length: 256 }, (_, i) => i)))).toBe(true)
    expect(fs.existsSync(`${target}.part`)).toBe(false)
  })
})

describe("volley fetch: summary and timings", () => {
  it("each record carries ttfbMs, and connectMs on the request that opened a connection", async () => {
    const file = input("timed.txt", [`${server.url}/ok`, `${server.url}/slow?ms=150`, `${server.url}/ok?3`])
    const run = await fetchCli([file, "--concurrency", "1"])
    expect(run.code).toBe(0)
    const out = records(run.stdout)
    for (const record of out) {
      expect(typeof record["ttfbMs"]).toBe("number")
      expect(record["ttfbMs"] as number).toBeLessThanOrEqual(record["ms"] as number)
    }
    // One connection, kept alive: opened by the first request only.
    expect(out.filter((r) => r["connectMs"] !== undefined).map((r) => r["line"])).toEqual([1])
    expect(out[0]!["connectMs"] as number).toBeGreaterThan(0)
    expect(out[1]!["ttfbMs"] as number).toBeGreaterThanOrEqual(140) // the server waited 150 ms before answering
    expect(server.stats.opened).toBe(1)
  })

  it("--summary json writes one JSON object with p99.9, statuses and a histogram; --summary-file writes it to a file", async () => {
    const file = input("sum.txt", [`${server.url}/ok`, `${server.url}/status/404`, `${server.url}/ok?2`])
    const run = await fetchCli([file, "--summary", "json", "--retries", "0"])
    expect(run.code).toBe(1)
    const summary = JSON.parse(run.stderr) as Record<string, unknown>
    expect(summary).toMatchObject({ total: 3, succeeded: 2, failed: 1, statuses: { "200": 2, "404": 1 }, outcomes: { ok: 2, "HTTP 404": 1 } })
    expect(Object.keys(summary["latency"] as object)).toEqual(["p50", "p90", "p99", "p999", "max", "mean"])
    const histogram = summary["histogram"] as Array<{ le: number | null; count: number }>
    expect(histogram.reduce((n, b) => n + b.count, 0)).toBe(3)
    const target = path.join(dir, "summary.json")
    const toFile = await fetchCli([file, "--summary", "json", "--summary-file", target, "--retries", "0"])
    expect(toFile.stderr).toBe("")
    expect(JSON.parse(fs.readFileSync(target, "utf8"))).toMatchObject({ total: 3 })
  })
})

describe("volley: plain text on a pipe", () => {
  it("help to a pipe has no escape codes and names the whole command; NO_COLOR is honoured", async () => {
    for (const args of [["--help"], ["fetch", "--help"], ["download", "--help"], ["fetch", "--help", "all"]]) {
      const run = await runNode(["bin/volley.js", ...args])
      expect(run.code).toBe(0)
      expect(escapes.test(run.stdout)).toBe(false)
      if (args[0] !== "--help") expect(run.stdout).toMatch(new RegExp(`^(\\$ )?volley ${args[0]}[ :]`, "m"))
    }
    const noColor = await runNode(["bin/volley.js", "fetch", "--help", "all"], { env: { NO_COLOR: "1" } })
    expect(escapes.test(noColor.stdout)).toBe(false)
  })
})
