/**
 * `downloadRunner.js` built into one file by esbuild, as a user bundles a program: the bench
 * row that shows what loading volley and Effect from `node_modules` (some 300 ES modules) costs
 * in peak RSS against the same code bundled (README, "Bundle a memory-bound worker"). Each
 * mode's dynamic imports stay lazy in the bundle, so its `volley` mode loads no undici index
 * and no `effect/Schema`, as the unbundled one. `undefined`, with the reason printed, when
 * esbuild (a dev dependency) cannot build it.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))

/** Builds `downloadRunner.bundle.cjs` beside `downloadRunner.js` (in `dist`) and gives its path. */
export const bundledRunner = async (): Promise<string | undefined> => {
  const outfile = path.join(here, "downloadRunner.bundle.cjs")
  try {
    const esbuild = await import("esbuild")
    await esbuild.build({
      entryPoints: [path.join(here, "downloadRunner.js")],
      outfile,
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      logLevel: "error"
    })
    return fs.existsSync(outfile) ? outfile : undefined
  } catch (error) {
    console.log(`the bundled row is skipped: esbuild could not build the runner (${String(error).split("\n")[0]})`)
    return undefined
  }
}
