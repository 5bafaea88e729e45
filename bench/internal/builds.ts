/**
 * The two builds a side-by-side bench compares (`VOLLEY_BENCH_BASELINE=<git ref> npm run bench`).
 *
 * A build is a folder holding a compiled volley: `dist/src`, `dist/bench` and `bin/`. Each
 * build's contenders run from its own `dist/bench` (its own `clientSteps.js`, `httpWorker.js`,
 * `downloadRunner.js`, `serverRunner.js`), so each is measured with the bench code written
 * for its own API; the current build's harness drives both and prints the table. Those
 * scripts' command lines and output are therefore a contract between builds: change them
 * only compatibly.
 *
 * The baseline is checked out with `git worktree add --detach` into a temp folder, gets
 * `node_modules` (a symlink to this checkout's when `package-lock.json` is identical, else its
 * own `npm ci`), is built with `tsc -p tsconfig.build.json`, and is removed afterwards.
 * A path to a folder that already holds a built volley (`dist/src/index.js`) is used as is.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export interface Build {
  readonly label: "baseline" | "current"
  /** The folder holding `dist/` and `bin/`. */
  readonly root: string
  /** What it was built from, for the table's title. */
  readonly describe: string
}

/** This checkout (`dist/bench/internal/builds.js` is three levels below it). */
export const currentRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")

const git = (args: ReadonlyArray<string>, cwd = currentRoot): string =>
  execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim()

/** The path of a build's compiled bench script, e.g. `scriptOf(build, "internal/httpWorker.js")`. */
export const scriptOf = (build: Build, script: string): string => {
  const file = path.join(build.root, "dist", "bench", script)
  if (!fs.existsSync(file)) throw new Error(`${build.label} build has no ${path.relative(build.root, file)}: it predates this bench`)
  return file
}

const current = (): Build => {
  const head = spawnSync("git", ["describe", "--always", "--dirty"], { cwd: currentRoot, encoding: "utf8" })
  return { label: "current", root: currentRoot, describe: head.status === 0 ? head.stdout.trim() : currentRoot }
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string) => {
  const result = spawnSync(command, args, { cwd, stdio: ["ignore", "inherit", "inherit"] })
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} (in ${cwd}) failed with ${result.status ?? result.signal}`)
}

/**
 * Prepares the baseline build of `ref` (a git ref, or a folder with a built volley) and
 * returns both builds, baseline first, with a `dispose` that removes what was created.
 */
export const prepare = (ref: string): { readonly builds: readonly [Build, Build]; readonly dispose: () => void } => {
  if (fs.existsSync(path.join(ref, "dist", "src", "index.js"))) {
    const root = path.resolve(ref)
    return { builds: [{ label: "baseline", root, describe: root }, current()], dispose: () => {} }
  }
  let sha: string
  try {
    sha = git(["rev-parse", "--verify", `${ref}^{commit}`])
  } catch {
    throw new Error(`VOLLEY_BENCH_BASELINE=${ref}: neither a git ref nor a folder with a built volley (dist/src/index.js)`)
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "volley-baseline-"))
  const dispose = () => {
    spawnSync("git", ["worktree", "remove", "--force", root], { cwd: currentRoot, stdio: "ignore" })
    fs.rmSync(root, { recursive: true, force: true })
    spawnSync("git", ["worktree", "prune"], { cwd: currentRoot, stdio: "ignore" })
  }
  try {
    console.log(`baseline: ${ref} (${sha.slice(0, 10)}) in ${root}`)
    git(["worktree", "add", "--detach", root, sha])
    const lock = (dir: string) => fs.readFileSync(path.join(dir, "package-lock.json"), "utf8")
    if (lock(root) === lock(currentRoot)) {
      fs.symlinkSync(path.join(currentRoot, "node_modules"), path.join(root, "node_modules"), "dir")
      console.log("baseline: same package-lock.json, node_modules shared")
    } else {
      console.log("baseline: package-lock.json differs, npm ci")
      // No scripts: `prepare` would build, which is done below either way.
      run("npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], root)
    }
    run(path.join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json"], root)
    // The CLI bundle (`bin/volley.js` runs it), for the suites that run the command.
    if (fs.existsSync(path.join(root, "scripts", "bundle-cli.mjs"))) run(process.execPath, ["scripts/bundle-cli.mjs"], root)
    return { builds: [{ label: "baseline", root, describe: `${ref} (${sha.slice(0, 10)})` }, current()], dispose }
  } catch (error) {
    dispose()
    throw error
  }
}
