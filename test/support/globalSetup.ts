/**
 * Builds dist/ once before the suite (tsc, then the CLI bundle), so tests that spawn the real
 * CLI and examples run what the sources say. Skipped when dist/ is newer than every source file.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "../..")

const newest = (dir: string): number => {
  let latest = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : fs.statSync(full).mtimeMs)
  }
  return latest
}

export default function setup(): void {
  const marker = path.join(root, "dist", "src", "index.js")
  const bundle = path.join(root, "dist", "cli", "volley.cjs")
  const sources = Math.max(...["src", "examples", "bench", "scripts"].map((d) => fs.existsSync(path.join(root, d)) ? newest(path.join(root, d)) : 0))
  const fresh = (file: string) => fs.existsSync(file) && fs.statSync(file).mtimeMs >= sources
  if (fresh(marker) && fresh(bundle)) return
  // Type errors are the typecheck's business (CI runs it first); tsc still emits, so go on.
  const built = spawnSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
    cwd: root,
    stdio: "inherit"
  })
  if (!fs.existsSync(marker)) throw new Error(`build failed (tsc exit ${built.status})`)
  // tsc leaves untouched outputs alone; mark the build as fresh.
  const now = new Date()
  fs.utimesSync(marker, now, now)
  const bundled = spawnSync(process.execPath, [path.join(root, "scripts", "bundle-cli.mjs")], { cwd: root, stdio: "inherit" })
  if (bundled.status !== 0 || !fs.existsSync(bundle)) throw new Error(`CLI bundle failed (exit ${bundled.status})`)
}
