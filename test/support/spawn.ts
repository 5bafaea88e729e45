/**
 * Runs the built CLI or an example as a child process, as a user would, and collects its
 * output and exit code.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process"
import * as path from "node:path"

export const root = path.resolve(import.meta.dirname, "../..")

export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs `node <args>` from the repository root; kills it after `timeoutMs` so a hang fails the
 * test. With `umask` (e.g. `"022"`), through `sh` that sets it first, as a user's shell does.
 */
export const runNode = (
  args: ReadonlyArray<string>,
  options: { readonly input?: string; readonly timeoutMs?: number; readonly env?: NodeJS.ProcessEnv; readonly umask?: string } = {}
): Promise<Finished> =>
  new Promise((resolve, reject) => {
    const [command, argv] = options.umask === undefined
      ? [process.execPath, args]
      : ["sh", ["-c", `umask ${options.umask} && exec "$@"`, "sh", process.execPath, ...args]]
    const child = spawn(command, argv, { cwd: root, env: { ...process.env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] })
    collect(child, options.timeoutMs ?? 20_000, resolve, reject)
    child.stdin.end(options.input ?? "")
  })

/** Gathers a child's output until it closes; SIGKILLs it after `timeoutMs`. */
const collect = (
  child: ChildProcessWithoutNullStreams,
  timeoutMs: number,
  resolve: (finished: Finished) => void,
  reject: (error: Error) => void
): void => {
  let stdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
  child.on("error", reject)
  child.on("close", (code, signal) => {
    clearTimeout(timer)
    resolve({ code, signal, stdout, stderr })
  })
}

/**
 * For `it.skipIf`: whether to skip a test whose capability (`script`, mounting a tmpfs) is
 * missing. Never in CI (`CI=true`): there the test runs and fails, naming what is missing,
 * instead of passing by being skipped.
 */
export const missingOutsideCi = (missing: boolean): boolean => missing && process.env["CI"] !== "true"

/** Whether util-linux `script` is on PATH, to run a command under a pseudo-terminal. */
export const hasScript: boolean = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0

/**
 * Runs `node <args>` under a pseudo-terminal (util-linux `script`), so its stdout and stderr
 * are TTYs as on a user's screen. Both arrive merged, raw (control characters kept).
 */
export const runInTerminal = (args: ReadonlyArray<string>, options: { readonly timeoutMs?: number } = {}): Promise<Finished> => {
  const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`
  const command = [process.execPath, ...args].map(quote).join(" ")
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qefc", command, "/dev/null"], {
      cwd: root,
      env: { ...process.env, COLUMNS: "100", LINES: "30" },
      stdio: ["pipe", "pipe", "pipe"]
    })
    collect(child, options.timeoutMs ?? 30_000, resolve, reject)
    child.stdin.end()
  })
}
