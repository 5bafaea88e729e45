/**
 * Paired batches of built volleys against one loopback server, outside `npm run bench`: for
 * builds the side-by-side mode cannot check out (two old refs, or a build patched by hand to
 * isolate one cost), e.g.
 *
 *   node dist/bench/paired.js volley 40 2000 /tmp/build-a /tmp/build-b
 *
 * (CONTENDER BATCHES BATCH_SIZE ROOT...; a root holds a built volley, `dist/src`). Prints each
 * root's median CPU µs per request and the median of its per-pair ratios to the first root.
 * Identical builds on both sides read 0.95-1.03 on this 2-core shared machine: that is the noise.
 */
import { fileURLToPath } from "node:url"
import { startServer } from "./http.js"
import * as Paired from "./internal/paired.js"

const [contender, batches, batchSize, ...roots] = process.argv.slice(2)
const contenders = ["volley", "volley-stream", "volley-client"] as const
const chosen = contenders.find((c) => c === contender)
if (chosen === undefined || roots.length < 2 || !(Number(batches) > 0) || !(Number(batchSize) > 0)) {
  console.error(`usage: paired.js ${contenders.join("|")} BATCHES BATCH_SIZE ROOT_A ROOT_B [ROOT...]`)
  process.exit(2)
}
const { child: server, port } = await startServer()
try {
  const result = await Paired.run({
    script: fileURLToPath(new URL("./internal/pairedWorker.js", import.meta.url)),
    roots,
    contender: chosen,
    url: `http://127.0.0.1:${port}/small`,
    batches: Number(batches),
    batchSize: Number(batchSize),
    concurrency: 64
  })
  for (const [i, root] of roots.entries()) {
    console.log(`${root}: ${chosen} CPU ${result.medianUs[i]!.toFixed(1)} µs/request (median), ratio to first ${result.ratio[i]!.toFixed(3)} (median of pairs)`)
  }
} finally {
  server.disconnect()
}
