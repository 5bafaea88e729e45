/**
 * `volley serve` as a child process, for the durable-queue tests: started on a free port with
 * the given flags, its output collected, killed (SIGKILL) by `killAll` after each test.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { root } from "./spawn.js"

export interface Served {
  readonly child: ChildProcess
  readonly url: string
  readonly output: () => string
  readonly exited: Promise<number | null>
}

const running: Array<ChildProcess> = []

/** SIGKILLs every server still running (call in afterEach). */
export const killAll = (): void => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill("SIGKILL")
}

/** Starts `volley serve --port 0 ...args` and waits (bounded) until it listens. */
export const serve = async (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): Promise<Served> => {
  const child = spawn(process.execPath, ["bin/volley.js", "serve", "--port", "0", ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  running.push(child)
  let output = ""
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (output += d))
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    // Generous: two servers starting at once on a loaded 2-core machine took 5-20 s here.
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 60_000)
    const check = () => {
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match[1]!)
      } else if (child.exitCode !== null) {
        clearTimeout(timer)
        reject(new Error(`server exited ${child.exitCode}: ${output}`))
      } else setTimeout(check, 20)
    }
    check()
  })
  return { child, url, output: () => output, exited }
}

export const postUser = (url: string, i: number) =>
  fetch(`${url}/users`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: `u${i}`, email: `u${i}@example.com` }) })

/** Polls `check` every 50 ms until it holds; throws naming `what` after `timeoutMs`. */
export const until = async (check: () => Promise<boolean> | boolean, what: string, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Runs `items` through `f`, `limit` at a time. */
export const inBatches = async <A, B>(items: ReadonlyArray<A>, limit: number, f: (a: A) => Promise<B>): Promise<Array<B>> => {
  const out: Array<B> = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await f(items[i]!)
    }
  }))
  return out
}

/**
 * Whether this process may mount a tmpfs (root on Linux): a full or read-only file system is
 * the honest way to make a real ENOSPC or EROFS happen under the server's database.
 */
export const canMountTmpfs: boolean = (() => {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), "volley-mount-"))
  try {
    if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=4k", "tmpfs", probe]).status !== 0) return false
    spawnSync("umount", [probe])
    return true
  } finally {
    fs.rmSync(probe, { recursive: true, force: true })
  }
})()

/** A fresh tmpfs (`size=…`); `remount` changes its options (`ro`), `dispose` unmounts and removes it. */
export const mountTmpfs = (options: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-fs-"))
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir], { encoding: "utf8" })
  if (mounted.status !== 0) throw new Error(`mount tmpfs ${options}: ${mounted.stderr}`)
  return {
    dir,
    remount: (more: string) => {
      const done = spawnSync("mount", ["-o", `remount,${more}`, dir], { encoding: "utf8" })
      if (done.status !== 0) throw new Error(`remount ${more}: ${done.stderr}`)
    },
    dispose: () => {
      spawnSync("umount", ["-l", dir])
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
