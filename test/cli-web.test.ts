/**
 * The CLI on the real web, run as a user would (the built `volley` in a child process):
 * `--proxy` and the proxy variables through a real forward proxy on loopback, `-u user:pass`
 * as Basic auth a server checks, `--compressed` (fetch's default) and `--no-compressed`,
 * and `download` storing bytes as served.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { createProxy } from "proxy"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runNode } from "./support/spawn.js"

const expectedAuth = `Basic ${Buffer.from("alice:pw").toString("base64")}`
const gzipped = zlib.gzipSync(Buffer.from("hello, compressed world\n"))
const seen: Array<{ path: string; authorization?: string | undefined; acceptEncoding?: string | undefined }> = []
const carried: Array<string> = []
let target: http.Server
let proxy: http.Server
let targetUrl = ""
let proxyUrl = ""
let tmp = ""

const listen = (server: http.Server) =>
  new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)))

beforeAll(async () => {
  target = http.createServer((req, res) => {
    seen.push({ path: req.url ?? "", authorization: req.headers.authorization, acceptEncoding: req.headers["accept-encoding"] })
    if (req.headers.authorization !== expectedAuth) {
      res.writeHead(401).end("no")
      return
    }
    // Always gzip, whatever was asked: what a misconfigured server or a .gz served with
    // Content-Encoding does, and what tells decoding apart from storing as served.
    res.writeHead(200, { "content-type": "text/plain", "content-encoding": "gzip", "content-length": gzipped.length })
    res.end(gzipped)
  })
  targetUrl = `http://127.0.0.1:${await listen(target)}`
  proxy = createProxy(http.createServer())
  proxy.prependListener("request", (req: http.IncomingMessage) => carried.push(`${req.method} ${req.url}`))
  proxyUrl = `http://127.0.0.1:${await listen(proxy)}`
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "volley-cli-web-"))
})

afterAll(async () => {
  for (const server of [target, proxy]) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
  fs.rmSync(tmp, { recursive: true, force: true })
})

/** Env without any proxy variable of the machine's, plus `extra`. */
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  http_proxy: "",
  HTTP_PROXY: "",
  https_proxy: "",
  HTTPS_PROXY: "",
  no_proxy: "",
  NO_PROXY: "",
  ...extra
})

describe("volley CLI: proxy, -u, --compressed", () => {
  it("fetch --proxy -u: carried by the proxy, Basic auth accepted, body decoded by default", async () => {
    const before = carried.length
    const list = path.join(tmp, "one.txt")
    fs.writeFileSync(list, `${targetUrl}/one\n`)
    const run = await runNode(["bin/volley.js", "fetch", list, "--proxy", proxyUrl, "-u", "alice:pw"], { env: env() })
    expect(run.stderr).not.toContain("ExperimentalWarning")
    expect(run.code).toBe(0)
    const line = JSON.parse(run.stdout.trim().split("\n")[0]!) as { ok: boolean; status: number; bytes: number }
    expect(line.ok).toBe(true)
    expect(line.status).toBe(200)
    expect(line.bytes).toBe("hello, compressed world\n".length) // decoded
    expect(carried.slice(before)).toEqual([`GET ${targetUrl}/one`])
    const last = seen.at(-1)!
    expect(last.authorization).toBe(expectedAuth)
    expect(last.acceptEncoding).toMatch(/^gzip, deflate, br/)
    expect(run.stdout + run.stderr).not.toContain("alice:pw")
  })

  it("fetch honours HTTP_PROXY, and NO_PROXY bypasses it; --no-compressed sends no Accept-Encoding", async () => {
    const before = carried.length
    const list = path.join(tmp, "two.txt")
    fs.writeFileSync(list, `${targetUrl}/two\n`)
    const viaEnv = await runNode(["bin/volley.js", "fetch", list, "-u", "alice:pw"], { env: env({ HTTP_PROXY: proxyUrl }) })
    expect(viaEnv.code).toBe(0)
    expect(carried.slice(before)).toEqual([`GET ${targetUrl}/two`])
    const bypass = await runNode(["bin/volley.js", "fetch", list, "-u", "alice:pw", "--no-compressed"], {
      env: env({ http_proxy: proxyUrl, no_proxy: "127.0.0.1" })
    })
    expect(bypass.code).toBe(0)
    expect(carried.slice(before)).toHaveLength(1) // the second run went direct
    expect(seen.at(-1)!.acceptEncoding).toBeUndefined()
    const line = JSON.parse(bypass.stdout.trim().split("\n")[0]!) as { bytes: number }
    expect(line.bytes).toBe(gzipped.length) // as served
  })

  it("download -u --proxy stores the bytes as served (a gzip stays gzip)", async () => {
    const before = carried.length
    const list = path.join(tmp, "files.txt")
    fs.writeFileSync(list, `${targetUrl}/data.txt.gz\n`)
    const dir = path.join(tmp, "out")
    const run = await runNode(["bin/volley.js", "download", list, "--dir", dir, "-u", "alice:pw", "--proxy", proxyUrl], { env: env() })
    expect(run.code).toBe(0)
    expect(carried.slice(before)).toEqual([`GET ${targetUrl}/data.txt.gz`])
    const stored = fs.readFileSync(path.join(dir, "data.txt.gz"))
    expect(stored.equals(gzipped)).toBe(true)
    expect(seen.at(-1)!.acceptEncoding).toBeUndefined()
  })

  it("a bad --proxy is a usage error (exit 2) naming the flag", async () => {
    const list = path.join(tmp, "three.txt")
    fs.writeFileSync(list, `${targetUrl}/three\n`)
    const run = await runNode(["bin/volley.js", "fetch", list, "--proxy", "socks://nope"], { env: env() })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("--proxy must be an http:// or https:// URL")
  })
})
