/**
 * What a program that only downloads loads: `volley/Client` and `volley/Download` without
 * `effect/Schema` (and the fast-check it pulls in) or `@effect/platform`, about 7 MiB of RSS
 * after imports (bench row `Download.file peak RSS`, `VOLLEY_BENCH=download npm run bench`).
 * The built modules are imported in a child process whose module hook lists every module
 * loaded.
 */
import { describe, expect, it } from "vitest"
import { runNode } from "./support/spawn.js"

const hooks = `export async function load(url, context, next) { console.error("LOADED " + url); return next(url, context) }`

const loaded = async (imports: ReadonlyArray<string>): Promise<ReadonlyArray<string>> => {
  const run = await runNode([
    "--input-type=module",
    "-e",
    `
    import { register } from "node:module"
    register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hooks)}))
    ${imports.map((m) => `await import(${JSON.stringify(m)})`).join("\n")}
    `
  ])
  expect(run.code, run.stderr).toBe(0)
  return run.stderr.split("\n").filter((line) => line.startsWith("LOADED ")).map((line) => line.slice("LOADED ".length))
}

const heavy = /effect\/dist\/esm\/Schema\.js|@effect\/platform\/|\/fast-check\//

describe("a download loads neither effect/Schema nor @effect/platform", () => {
  it("volley/Client and volley/Download", async () => {
    const urls = await loaded(["effect/Effect", "./dist/src/Client.js", "./dist/src/Download.js"])
    // The hook saw the imports (so an empty list cannot pass).
    expect(urls.some((url) => url.endsWith("/dist/src/internal/download/meta.js"))).toBe(true)
    expect(urls.some((url) => url.endsWith("/dist/src/internal/observe.js"))).toBe(true)
    expect(urls.filter((url) => heavy.test(url))).toEqual([])
  })

  it("the check sees them when they are loaded", async () => {
    const urls = await loaded(["./dist/src/Download.js", "@effect/platform/HttpClient"])
    expect(urls.some((url) => heavy.test(url))).toBe(true)
  })
})
