/**
 * `volley fetch` with curl's habits, run as a user runs it (the built CLI in a child process,
 * against the local fault server): URLs as arguments, `-i FILE`, `-d` / `--json` bodies,
 * `-v` tracing each attempt, `--output-file`, and bytes counted as read.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { type FaultServer, startFaultServer } from "./support/FaultServer.js"
import { type Finished, runNode } from "./support/spawn.js"

let server: FaultServer
let dir: string

beforeAll(async () => {
  server = await startFaultServer()
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-curl-"))
})
afterAll(async () => {
  await server.close()
  fs.rmSync(dir, { recursive: true, force: true })
})
beforeEach(() => server.reset())

const fetchCli = (args: ReadonlyArray<string>, options?: { readonly input?: string }): Promise<Finished> =>
  runNode(["bin/volley.js", "fetch", ...args], options)

const records = (stdout: string): Array<Record<string, unknown>> =>
  stdout.trim() === "" ? [] : stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)

const list = (name: string, lines: ReadonlyArray<string>): string => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, `${lines.join("\n")}\n`)
  return file
}

describe("volley fetch URL...", () => {
  it("takes URLs as arguments, beside -i FILE and a positional list", async () => {
    const file = list("urls.txt", [`${server.url}/ok?from=list`])
    const listed = list("more.txt", [`${server.url}/ok?from=i`])
    const run = await fetchCli([`${server.url}/ok?from=arg1`, file, `${server.url}/json`, "-i", listed])
    expect(run.code).toBe(0)
    expect(records(run.stdout).map((r) => r["url"]).sort()).toEqual(
      [`${server.url}/json`, `${server.url}/ok?from=***`, `${server.url}/ok?from=***`, `${server.url}/ok?from=***`].sort()
    )
    expect(server.requests.map((r) => r.path).sort()).toEqual(["/json", "/ok?from=arg1", "/ok?from=i", "/ok?from=list"])
  })

  it("reads - as stdin beside a URL", async () => {
    const run = await fetchCli([`${server.url}/ok?a`, "-"], { input: `${server.url}/json\n` })
    expect(run.code).toBe(0)
    expect(server.requests.map((r) => r.path).sort()).toEqual(["/json", "/ok?a"])
  })

  it("a host without its scheme is an input error with a hint; no arguments says what to give", async () => {
    const bare = await fetchCli(["example.com"])
    expect(bare.code).toBe(2)
    expect(bare.stderr).toContain("cannot read example.com: no such file (a URL needs its scheme: http:// or https://)")
    const none = await fetchCli([])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain("nothing to fetch: give URLs, -i FILE")
  })
})

describe("volley fetch -d / --json", () => {
  it("-d sends a form body with POST; the server sees body and content-type", async () => {
    const run = await fetchCli(["-d", "name=ada&x=1", `${server.url}/echo`])
    expect(run.code).toBe(0)
    const seen = server.requests[0]!
    expect(seen.method).toBe("POST")
    expect(seen.body).toBe("name=ada&x=1")
    expect(seen.headers["content-type"]).toBe("application/x-www-form-urlencoded")
  })

  it("--json sends JSON with its content-type and accept; -d @FILE reads a file; -X wins", async () => {
    const run = await fetchCli(["--json", "{\"name\":\"ada\"}", `${server.url}/echo`])
    expect(run.code).toBe(0)
    expect(server.requests[0]).toMatchObject({ method: "POST", body: "{\"name\":\"ada\"}" })
    expect(server.requests[0]!.headers).toMatchObject({ "content-type": "application/json", accept: "application/json" })
    server.reset()
    const body = list("body.json", ["{\"from\":\"file\"}"])
    const put = await fetchCli(["-X", "PUT", "--json", `@${body}`, `${server.url}/echo`])
    expect(put.code).toBe(0)
    expect(server.requests[0]).toMatchObject({ method: "PUT", body: "{\"from\":\"file\"}\n" })
  })
})

describe("volley fetch -v", () => {
  it("traces each attempt on stderr: the status that caused each retry", async () => {
    const run = await fetchCli(["-v", `${server.url}/flaky?key=v&failures=2&status=503`])
    expect(run.code).toBe(0)
    const trace = run.stderr.split("\n").filter((l) => l.startsWith("* "))
    expect(trace).toEqual([
      expect.stringMatching(/^\* GET http:\/\/127\.0\.0\.1:\d+\/flaky\?\S+ attempt 1: 503 \(\d+ ms\)$/),
      expect.stringMatching(/ attempt 2: 503 \(\d+ ms\)$/),
      expect.stringMatching(/ attempt 3: 200 \(\d+ ms\)$/)
    ])
    // Tracing is for the user's eyes: no traceparent goes out.
    expect(server.requests.every((r) => r.headers["traceparent"] === undefined)).toBe(true)
  })

  it("-v before a list file reads the file (not blamed as an unknown argument)", async () => {
    const file = list("v.txt", [`${server.url}/ok`])
    const run = await fetchCli(["-v", file])
    expect(run.code).toBe(0)
    expect(run.stderr).toMatch(/\* GET .*\/ok attempt 1: 200/)
  })
})

describe("volley fetch: URLs in local output", () => {
  it("masks query values by default; --show-query shows them, but not credentials or secret-looking names", async () => {
    const url = `http://user:hunter2@127.0.0.1:${server.port}/ok?id=7&page=2&api_key=s3cret&token=abc`
    const masked = await fetchCli([url])
    expect(records(masked.stdout)[0]!["url"]).toBe(`http://***@127.0.0.1:${server.port}/ok?id=***&page=2&api_key=***&token=***`)
    const shown = await fetchCli([url, "--show-query", "-o", "table"])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toContain(`http://***@127.0.0.1:${server.port}/ok?id=7&page=2&api_key=***&token=***`)
    expect(shown.stdout + shown.stderr).not.toMatch(/hunter2|s3cret|token=abc/)
  })
})

describe("volley fetch: bodies and bytes", () => {
  it("--output-file writes the bodies into one file", async () => {
    const out = path.join(dir, "bodies.txt")
    const run = await fetchCli([`${server.url}/ok`, "--output-file", out])
    expect(run.code).toBe(0)
    expect(fs.readFileSync(out, "utf8")).toBe("ok")
    expect(records(run.stdout)[0]).toMatchObject({ ok: true, bytes: 2, file: out })
  })

  it("the summary sums the bytes read, chunked bodies (no Content-Length) included", async () => {
    const urls = [1, 2, 3].map((i) => `${server.url}/huge?size=${i * 1000}`)
    const run = await fetchCli([...urls, `${server.url}/ok?size=500`, "--summary", "json"])
    expect(run.code).toBe(0)
    expect(records(run.stdout).map((r) => r["bytes"]).sort()).toEqual([1000, 2000, 3000, 500])
    const summary = JSON.parse(run.stderr) as { bytes: number }
    expect(summary.bytes).toBe(6500)
  })
})

describe("volley download URL...", () => {
  it("downloads URLs given as arguments, beside -i FILE; a missing list says 'no such file'", async () => {
    const out = path.join(dir, "dl")
    const listed = list("dl.txt", [`${server.url}/ok?size=7 seven.bin`])
    const run = await runNode(["bin/volley.js", "download", `${server.url}/json`, "-i", listed, "-d", out], { timeoutMs: 60_000 })
    expect(run.code).toBe(0)
    expect(fs.readFileSync(path.join(out, "json"), "utf8")).toBe("{\"hello\":\"world\",\"n\":1}")
    expect(fs.readFileSync(path.join(out, "seven.bin"), "utf8")).toBe("xxxxxxx")
    const missing = await runNode(["bin/volley.js", "download", "-i", path.join(dir, "nope.txt"), "-d", out])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("nope.txt: no such file")
    expect(missing.stderr).not.toContain("ENOENT")
  })
})
