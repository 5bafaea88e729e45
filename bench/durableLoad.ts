/**
 * Durable batch load (issue 21): a list of N URLs (default 1,000,000) loaded into a fresh
 * SQLite file by `DurableBatch.load` (named by its content, so read twice), then loaded again
 * (read once more to compare, nothing inserted). Prints the time of each and the process's
 * peak RSS, which must stay under 300 MiB: the list is streamed and inserted in chunks.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/durableLoad.js [N]
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Lines from "../src/cli/internal/lines.js"
import * as DurableBatch from "../src/DurableBatch.js"

const n = Number(process.argv[2] ?? 1_000_000)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-durable-load-"))
const list = path.join(dir, "list.txt")
// Written in slices, synchronously: a write stream without backpressure would hold the list in memory.
const fd = fs.openSync(list, "w")
for (let start = 0; start < n; start += 10_000) {
  let text = ""
  for (let i = start; i < Math.min(n, start + 10_000); i++) text += `http://127.0.0.1:8080/item/${i}?q=${(i * 7919) % 100_003}\n`
  fs.writeSync(fd, text)
}
fs.closeSync(fd)

const lines = Stream.map(Lines.read(list), (line) => line.text)
const mib = (kib: number) => (kib / 1024).toFixed(0)
const program = Effect.gen(function*() {
  let t = performance.now()
  const first = yield* DurableBatch.load(lines)
  const firstMs = performance.now() - t
  t = performance.now()
  const again = yield* DurableBatch.load(lines)
  const againMs = performance.now() - t
  return { first, firstMs, again, againMs }
}).pipe(Effect.provide(DurableBatch.layer(`file:${path.join(dir, "load.db")}`)))

const { again, againMs, first, firstMs } = await Effect.runPromise(program)
const rss = process.resourceUsage().maxRSS
console.log(`load ${n} lines: ${(firstMs / 1000).toFixed(1)} s, ${first.added} added (${first.name})`)
console.log(`load again: ${(againMs / 1000).toFixed(1)} s, ${again.added} added, total ${again.total}`)
console.log(`peak RSS ${mib(rss)} MiB (limit 300 MiB): ${rss < 300 * 1024 ? "ok" : "OVER"}`)
fs.rmSync(dir, { recursive: true, force: true })
if (rss >= 300 * 1024 || again.added !== 0 || first.added !== n) process.exitCode = 1
