/**
 * Terminal escape injection: a server's answer (a 500 whose body retitles the window and
 * clears the screen) reaches the user's terminal through the real `volley` command only as
 * visible text, never as control characters: `fetch -o table`, `fetch` NDJSON, `download`.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { terminalSafe } from "../src/cli/internal/terminalText.js"
import { runNode } from "./support/spawn.js"

const hostile = "oops \x1b]0;pwned\x07\x1b[2J\x9b31m\r\nFAKE: all good\u202e"
let server: http.Server
let url: string
let dir: string

beforeAll(async () => {
  server = http.createServer((req, res) => {
    // 200 bodies for `fetch --body`; every other path is the hostile 500.
    if (req.url === "/ok.txt") {
      res.writeHead(200, { "content-type": "text/plain" })
      return res.end(hostile)
    }
    if (req.url === "/ok.json") {
      res.writeHead(200, { "content-type": "application/json" })
      return res.end(JSON.stringify({ note: hostile }))
    }
    res.writeHead(500, { "content-type": "text/plain" })
    res.end(hostile)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-term-"))
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
  fs.rmSync(dir, { recursive: true, force: true })
})

// What must never reach the terminal: C0 controls other than the newline ending each line, DEL, C1, bidi overrides.
// eslint-disable-next-line no-control-regex
const controls = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/

describe("server text printed by the CLI is terminal-safe", () => {
  it("fetch -o table: the 500 body's snippet shows escaped, no control character on stdout or stderr", async () => {
    const file = path.join(dir, "urls.txt")
    fs.writeFileSync(file, `${url}/boom\n`)
    const run = await runNode(["bin/volley.js", "fetch", file, "-o", "table", "--retries", "0"])
    expect(run.code).toBe(1)
    expect(run.stdout).toContain("500")
    expect(controls.test(run.stdout)).toBe(false)
    expect(controls.test(run.stderr)).toBe(false)
    // Visible, so nothing is lost.
    expect(run.stdout).toContain("\\x1b]0;pwned\\x07\\x1b[2J")
    expect(run.stdout).not.toMatch(/^FAKE/m)
  })

  it("fetch (NDJSON): the message stays valid JSON and carries no raw control character", async () => {
    const file = path.join(dir, "urls2.txt")
    fs.writeFileSync(file, `${url}/boom\n`)
    const run = await runNode(["bin/volley.js", "fetch", file, "--retries", "0"])
    expect(controls.test(run.stdout)).toBe(false)
    expect(controls.test(run.stderr)).toBe(false)
    const record = JSON.parse(run.stdout.trim()) as { message: string }
    expect(record.message).toContain("oops")
  })

  it("fetch --body: text and JSON bodies stay the same values to a JSON reader, with no raw control character", async () => {
    const file = path.join(dir, "bodies.txt")
    fs.writeFileSync(file, `${url}/ok.txt\n${url}/ok.json\n`)
    const run = await runNode(["bin/volley.js", "fetch", file, "--body", "-c", "1"])
    expect(run.code).toBe(0)
    expect(controls.test(run.stdout)).toBe(false)
    expect(controls.test(run.stderr)).toBe(false)
    const records = run.stdout.trim().split("\n").map((line) => JSON.parse(line) as { url: string; body: unknown; bodyEncoding: string })
    const text = records.find((r) => r.url.endsWith("/ok.txt"))!
    const json = records.find((r) => r.url.endsWith("/ok.json"))!
    expect(text).toMatchObject({ body: hostile, bodyEncoding: "text" })
    expect(json).toMatchObject({ body: { note: hostile }, bodyEncoding: "json" })
  })

  it("download: the failure line shows the snippet escaped", async () => {
    const file = path.join(dir, "dl.txt")
    fs.writeFileSync(file, `${url}/file.bin\n`)
    const run = await runNode(["bin/volley.js", "download", file, "--dir", path.join(dir, "out"), "--retries", "0"])
    expect(run.code).not.toBe(0)
    expect(run.stderr + run.stdout).toContain("500")
    expect(controls.test(run.stdout)).toBe(false)
    expect(controls.test(run.stderr)).toBe(false)
  })
})

describe("terminalSafe", () => {
  it("escapes C0, DEL, C1 and bidi controls visibly; keeps printable text (any script) as is", () => {
    expect(terminalSafe("plain text, ünïcödé, 日本語")).toBe("plain text, ünïcödé, 日本語")
    expect(terminalSafe("a\x1b[2Jb\x07c\td\ne\rf\x7fg\x9bh\u202ei")).toBe("a\\x1b[2Jb\\x07c\\td\\ne\\rf\\x7fg\\x9bh\\u202ei")
    expect(controls.test(terminalSafe(hostile))).toBe(false)
  })
})
