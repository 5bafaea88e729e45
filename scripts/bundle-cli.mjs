/**
 * Bundles the `volley` command into one CommonJS file, dist/cli/volley.cjs, and records a V8
 * code cache for it (dist/cli/volley.cjs.cache) by running it once.
 *
 * Why: loading the CLI from dist/src means resolving and compiling some 400 ES modules
 * (effect's index alone took 0.86 s); one minified, tree-shaken file compiles once, and with
 * the code cache bin/volley.js skips most of that compile (Node 20 has no built-in module
 * compile cache). CommonJS because `vm.Script` takes a code cache and ES modules cannot
 * without a flag; subcommands' heavy parts stay lazy (their modules run only when used).
 *
 * undici: its index loads every feature (fetch, WebSocket, cache, mocks) at require time.
 * volley's transport imports the Agent's own files (src/internal/transport/agent.ts); for the
 * modules that import `undici` itself (@effect/platform-node's `Undici`), it resolves to a small
 * entry that loads the Agent eagerly and the rest of undici's exports on first access.
 */
import * as esbuild from "esbuild"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const outfile = path.join(root, "dist", "cli", "volley.cjs")
const require = createRequire(import.meta.url)

/**
 * `import ... from "undici"` (exactly) resolves to a generated entry with every name undici
 * exports: `Agent` and `buildConnector` (which the Agent loads anyway) bundled and loaded at
 * once, `interceptors.decompress` bundled and loaded on first use (below), the others as
 * getters that require the installed undici (a dependency of the package) on first use, a
 * little slower. (volley's own transport imports undici's files directly, its proxy agent
 * included: src/internal/transport/agent.ts.)
 */
const lazyUndici = {
  name: "lazy-undici",
  setup(build) {
    build.onResolve({ filter: /^undici$/ }, (args) =>
      args.namespace === "lazy-undici" ? { path: "undici", external: true } : { path: "undici", namespace: "lazy-undici" })
    build.onLoad({ filter: /.*/, namespace: "lazy-undici" }, async () => {
      const names = Object.keys(require("undici")).filter((name) => !["Agent", "buildConnector", "interceptors"].includes(name))
      const getters = names.map((name) => `  get ${JSON.stringify(name)}() { return load()[${JSON.stringify(name)}] },`).join("\n")
      return {
        resolveDir: root,
        loader: "js",
        contents: `"use strict"
let full
const load = () => (full ??= require("undici"))
let interceptors
module.exports = {
  Agent: require("undici/lib/dispatcher/agent.js"),
  buildConnector: require("undici/lib/core/connect.js"),
  get interceptors() { return (interceptors ??= ${await lazyInterceptors()}) },
${getters}
}
`
      }
    })
  }
}

/**
 * `interceptors`, as an object whose `decompress` is bundled and loaded on first access,
 * without the rest of undici: its full index (fetch, WebSocket, caches, mocks) loads from
 * node_modules, outside the code cache, in about 3x the time of the Agent itself (measured:
 * 300-580 ms against 100-190 ms on the loaded machine). The other interceptors come from the
 * full undici. If undici's index no longer names the file, all of them do.
 */
const lazyInterceptors = async () => {
  const index = await fs.promises.readFile(require.resolve("undici"), "utf8")
  const file = /\bdecompress: require\('\.\/lib\/interceptor\/([\w-]+)'\)/.exec(index)?.[1]
  if (file === undefined) {
    process.stderr.write("bundle-cli: undici's index changed; its decompress interceptor loads all of undici\n")
    return "load().interceptors"
  }
  const others = Object.keys(require("undici").interceptors).filter((name) => name !== "decompress")
  return `{\n    get decompress() { return require("undici/lib/interceptor/${file}.js") },\n` +
    others.map((name) => `    get ${JSON.stringify(name)}() { return load().interceptors[${JSON.stringify(name)}] },\n`).join("") +
    "  }"
}

/**
 * effect/Schema (which @effect/cli loads) re-exports fast-check for `Arbitrary`, property-test
 * data generation the CLI never does; its ~200 modules would run at every start.
 */
const noFastCheck = {
  name: "no-fast-check",
  setup(build) {
    build.onResolve({ filter: /^fast-check$/ }, () => ({ path: "fast-check", namespace: "no-fast-check" }))
    build.onLoad({ filter: /.*/, namespace: "no-fast-check" }, () => ({ contents: "export {}", loader: "js" }))
  }
}

/**
 * undici's client loads its HTTP/2 half (node:http2, and with it node:tls: ~70 ms) at require
 * time, though it is only used once a TLS connection negotiates h2. Loaded on first use here;
 * if a new undici no longer has this line the bundle is left as is (only slower to start).
 */
const lazyHttp2 = {
  name: "lazy-http2",
  setup(build) {
    build.onLoad({ filter: /undici[\\/]lib[\\/]dispatcher[\\/]client\.js$/ }, async (args) => {
      const source = await fs.promises.readFile(args.path, "utf8")
      const eager = "const connectH2 = require('./client-h2.js')"
      if (!source.includes(eager)) {
        process.stderr.write("bundle-cli: undici's client.js changed; HTTP/2 stays eagerly loaded\n")
        return undefined
      }
      const lazy = "let loadedH2\nconst connectH2 = (...args) => (loadedH2 ??= require('./client-h2.js'))(...args)"
      return { contents: source.replace(eager, lazy), loader: "js" }
    })
  }
}

fs.rmSync(path.dirname(outfile), { recursive: true, force: true })
const result = await esbuild.build({
  entryPoints: [path.join(root, "src", "cli", "main.ts")],
  outfile,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  // Fully minified: start-up reads and deserializes the file and its code cache, so size is
  // time (1.2 MB against 1.8 MB with names kept). Not keepNames: it adds a `__name` call per
  // function created, and the hot path creates closures per request (~2% of a 10k-URL fetch).
  // Errors reach users as messages and tags, which minifying leaves alone.
  minify: process.env["VOLLEY_BUNDLE_DEBUG"] === undefined,
  metafile: process.env["VOLLEY_BUNDLE_META"] !== undefined,
  logLevel: "warning",
  // `import.meta.url` only appears in examples' "run me directly" checks, which are false here.
  logOverride: { "empty-import-meta": "silent" },
  plugins: [lazyUndici, noFastCheck, lazyHttp2]
})

if (result.metafile !== undefined) fs.writeFileSync(process.env["VOLLEY_BUNDLE_META"], JSON.stringify(result.metafile))

// The code cache: recorded by running the command, first `volley --help`, then a fetch of one
// URL from a server in this process (loopback, port 0); each run starts from the cache the one
// before wrote, so the cache holds what both ran: start-up, help, and a fetch up to its
// answer's record and the summary.
const server = http.createServer((_request, response) => {
  response.writeHead(200, { "content-type": "text/plain", "content-length": "3" })
  response.end("ok\n")
})
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve))
const list = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "volley-build-")), "warm.txt")
fs.writeFileSync(list, `http://127.0.0.1:${server.address().port}/\n`)
const record = (args) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, "bin", "volley.js"), ...args], {
      env: { ...process.env, VOLLEY_CODE_CACHE: "write" },
      stdio: ["ignore", "ignore", "pipe"]
    })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (data) => (stderr += data))
    child.once("error", (error) => resolve({ status: null, stderr: String(error) }))
    child.once("close", (status) => resolve({ status, stderr }))
  })
await record(["--help"])
const warm = await record(["fetch", list, "--retries", "0"])
server.closeAllConnections()
server.close()
fs.rmSync(path.dirname(list), { recursive: true, force: true })
if (!fs.existsSync(`${outfile}.cache`)) {
  // Not fatal: the command works without it, only starts slower.
  process.stderr.write(`bundle-cli: no code cache written (exit ${warm.status}): ${warm.stderr}\n`)
}
