/**
 * What a program that only downloads loads: `volley/Client` and `volley/Download` without
 * `effect/Schema` (and the fast-check it pulls in) or `@effect/platform`, about 7 MiB of RSS
 * after imports, nor undici's index (fetch, WebSocket, caches, mocks), about 9 MiB more (bench
 * row `Download.file peak RSS`, `VOLLEY_BENCH=download npm run bench`). The built modules are
 * imported in a child process whose module hook lists every module loaded.
 */
import { createRequire } from "node:module"
import * as undici from "undici"
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

const heavy = /effect\/dist\/esm\/Schema\.js|@effect\/platform\/|\/fast-check\/|\/undici\/index\.js$/

describe("a download loads neither effect/Schema, @effect/platform nor undici's index", () => {
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
    expect((await loaded(["undici"])).some((url) => heavy.test(url))).toBe(true)
  })

  // The transport imports these files of undici's directly (src/internal/transport/agent.ts):
  // an undici release that moves or changes one fails here, not in a user's import.
  it("undici's files the transport imports are the exports of its index", () => {
    const require = createRequire(import.meta.url)
    expect(require("undici/lib/dispatcher/agent.js")).toBe(undici.Agent)
    expect(require("undici/lib/dispatcher/env-http-proxy-agent.js")).toBe(undici.EnvHttpProxyAgent)
    expect(require("undici/lib/core/connect.js")).toBe(undici.buildConnector)
    expect(require("undici/lib/dispatcher/dispatcher.js")).toBe(undici.Dispatcher)
  })

  it("without undici's index, its dispatchers are set up as the index sets them up", async () => {
    // Every own property of the dispatcher classes' prototypes, after volley's client alone and
    // again once undici's index has loaded: the index must add or change nothing.
    const run = await runNode([
      "--input-type=module",
      "-e",
      `
      import { createRequire } from "node:module"
      await import("./dist/src/Client.js")
      await import("./dist/src/Download.js")
      const require = createRequire(process.cwd() + "/")
      // Seen by require, which the ESM hook above does not see (a CommonJS file requiring it).
      const indexLoaded = Object.keys(require.cache).some((file) => /[\\/]undici[\\/]index\\.js$/.test(file))
      const classes = ["dispatcher", "dispatcher-base", "agent", "pool-base", "pool", "client", "env-http-proxy-agent", "proxy-agent"]
        .map((file) => require("undici/lib/dispatcher/" + file + ".js"))
        .map((exported) => exported.PoolBase ?? exported)
      const shape = () => classes.map((c) => Object.getOwnPropertyNames(c.prototype).map((name) => [name, Object.getOwnPropertyDescriptor(c.prototype, name)]))
      const before = shape()
      require("undici")
      const after = shape()
      const same = before.every((props, i) => props.length === after[i].length &&
        props.every(([name, d], j) => after[i][j][0] === name && ["value", "get", "set"].every((k) => after[i][j][1][k] === d[k])))
      console.log(JSON.stringify({ indexLoaded, same, methods: before[0].map(([name]) => name) }))
      `
    ])
    expect(run.code, run.stderr).toBe(0)
    const { indexLoaded, methods, same } = JSON.parse(run.stdout) as { indexLoaded: boolean; methods: Array<string>; same: boolean }
    expect(indexLoaded).toBe(false)
    expect(methods).toEqual(expect.arrayContaining(["request", "stream", "pipeline", "upgrade", "connect"]))
    expect(same).toBe(true)
  })
})
