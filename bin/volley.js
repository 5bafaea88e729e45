#!/usr/bin/env node
// The `volley` command: runs the one-file bundle dist/cli/volley.cjs (built by `npm run build`,
// which `npm ci` runs as the package's `prepare` script) with the V8 code cache recorded at
// build time, so start-up skips most of the compile. Node 20 has no module compile cache of
// its own; a cache from another Node version is rejected by V8 and the file compiles as usual.
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as v8 from "node:v8"
import * as vm from "node:vm"

const file = new URL("../dist/cli/volley.cjs", import.meta.url)
const cacheFile = new URL("../dist/cli/volley.cjs.cache", import.meta.url)

let source
try {
  source = fs.readFileSync(file, "utf8")
} catch (error) {
  if (error && error.code === "ENOENT") {
    process.stderr.write("volley: not built yet; run `npm run build` (npm ci does it for you)\n")
    process.exit(2)
  }
  throw error
}
const writeCache = process.env.VOLLEY_CODE_CACHE === "write"
let cachedData
try {
  // Read when recording too: the build records in steps (`--help`, then a fetch), and what
  // an earlier step compiled is kept in the cache the next one writes.
  cachedData = fs.readFileSync(cacheFile)
} catch {
  // No cache: compile from source.
}
const filename = fileURLToPath(file)
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
  filename,
  cachedData,
  importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER
})
if (writeCache) {
  // The build runs the command with this set; by exit, the functions it ran are compiled.
  process.once("exit", () => fs.writeFileSync(cacheFile, script.createCachedData()))
} else {
  // undici's HTTP/1 parser is WebAssembly (llhttp). V8 compiles it with its baseline compiler
  // (Liftoff) and then again with TurboFan on a background thread: that second compile was
  // most of a one-URL fetch's CPU, and the process cannot exit before it finishes (a one-URL
  // fetch took 860 ms instead of 550 ms on a loaded 2-core machine). The baseline code parses
  // 20,000 responses as fast (within noise): keep it. Set only now, after the code cache was
  // read (the cache is checked against the flags), and never when recording one.
  v8.setFlagsFromString("--liftoff-only")
  // Help and version output are done in a few hundred milliseconds, but run enough of the
  // effect runtime to make V8 optimize it on background threads, which the exit then waits
  // for (--help: 540 -> 400 ms on the loaded machine without them). Only for these, so every
  // command that does work keeps its optimizing compiler.
  const [first, second] = process.argv.slice(2)
  const helpOnly = (arg) => arg === "--help" || arg === "-h" || arg === "--version"
  if (first === undefined || helpOnly(first) || (second !== undefined && helpOnly(second) && process.argv.length === 4)) {
    v8.setFlagsFromString("--no-turbofan")
  }
}
const module = { exports: {} }
script.runInThisContext()(module.exports, createRequire(filename), module, filename, path.dirname(filename))
