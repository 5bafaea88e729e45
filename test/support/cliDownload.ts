/**
 * Shared by the test/cli-download*.test.ts files that spawn `volley download` against the
 * trickling server or the FaultServer: the command, deterministic content, a per-file work
 * folder, and a way to kill the command mid-body.
 */
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { type FaultServer, startFaultServer } from "./FaultServer.js"
import { root, runNode } from "./spawn.js"

export const cli = path.join(root, "bin", "volley.js")
/** Runs the built CLI; the kill timer is generous because startup is slow on a loaded machine. */
export const runCli = (args: ReadonlyArray<string>) => runNode([cli, ...args], { timeoutMs: 90_000 })
export const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
/** `volley download ARGS` (a kill timer of 60 s). */
export const runDownload = (args: ReadonlyArray<string>) => runNode([cli, "download", ...args], { timeoutMs: 60_000 })

/** Writes an input list, one entry per line, as `dir/name`; returns its path. */
export const writeList = (dir: string, name: string, lines: ReadonlyArray<string>): string => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, `${lines.join("\n")}\n`)
  return file
}

/** Deterministic content per file name. */
export const content = (name: string, size: number): Buffer => {
  const seed = [...name].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 7)
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) out[i] = (seed + i * 131 + (i >>> 9)) & 0xff
  return out
}

/**
 * Serves `/NAME?size=N` with a strong ETag and Range/If-Range; while `slow` is set it
 * trickles 16 KiB every 20 ms, so a test can kill the CLI mid-body.
 */
export interface TrickleServer {
  readonly url: string
  readonly requests: Array<{ readonly path: string; readonly range: string | undefined; readonly ifRange: string | undefined }>
  slow: boolean
  close(): Promise<void>
}

export const startTrickleServer = (): Promise<TrickleServer> =>
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

/** A fresh work folder for this test file (removed after it) and `caseDir(name)` inside it. */
export const useCaseDirs = (): ((name: string) => string) => {
  let work: string
  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "volley-cli-dl-"))
  })
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }))
  return (name) => {
    const dir = path.join(work, name)
    fs.mkdirSync(dir, { recursive: true })
    return dir
  }
}

/** Runs `use` with a fresh server, closed afterwards (the tests run concurrently). */
const withServer = async <S extends { close(): Promise<void> }>(start: () => Promise<S>, use: (server: S) => Promise<void>) => {
  const server = await start()
  try {
    await use(server)
  } finally {
    await server.close()
  }
}
export const trickle = (use: (server: TrickleServer) => Promise<void>) => withServer(startTrickleServer, use)
export const fault = (use: (server: FaultServer) => Promise<void>, options?: { tls?: boolean }) => withServer(() => startFaultServer(options), use)

/** CLI startup takes a second or more, and far longer on a loaded machine: be generous. */
export const waitFor = async (check: () => boolean, what: string, timeoutMs = 40_000) => {
  const started = Date.now()
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

export const fileSize = (p: string) => (fs.existsSync(p) ? fs.statSync(p).size : 0)

/** Starts the CLI, waits until its .part files hold some bytes, then sends `signal`. */
export const interruptMidway = async (args: ReadonlyArray<string>, parts: ReadonlyArray<string>, signal: NodeJS.Signals) => {
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

export const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i % 251))
