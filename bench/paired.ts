/**
 * Paired batches of built volleys against one loopback server, outside `npm run bench`: for
 * builds the side-by-side mode cannot check out (two old refs, or a build patched by hand to
 * isolate one cost), or one build under two client option sets, e.g.
 *
 *   node dist/bench/paired.js volley 40 2000 /tmp/build-a /tmp/build-b
 *   node dist/bench/paired.js volley-client 30 2000 .:off .:defaults
 *
 * (CONTENDER BATCHES BATCH_SIZE ROOT[:VARIANT]...; a root holds a built volley, `dist/src`; a
 * variant is `defaults`, `off` or `all-on`, see `internal/paired.ts`). Prints each root's median
 * CPU µs per request and its per-pair ratios to the first root: the median, the quartiles and
 * the extremes. Identical builds on both sides read 0.95-1.03 on this 2-core shared machine
 * when it is quiet, and 0.87-1.16 when neighbours are busy: that is the noise. Pair a build
 * with itself in the same hour to see which band a run is in, and quote every run.
 */
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { startServer } from "./http.js"
import * as Paired from "./internal/paired.js"

const [contender, batches, batchSize, ...args] = process.argv.slice(2)
const contenders = ["volley", "volley-stream", "volley-client"] as const
const chosen = contenders.find((c) => c === contender)
const isVariant = (v: string): v is Paired.Variant => Object.hasOwn(Paired.variants, v)
const sides = args.map((arg) => {
  const colon = arg.lastIndexOf(":")
  const variant = colon < 0 ? "defaults" : arg.slice(colon + 1)
  return { root: path.resolve(colon < 0 ? arg : arg.slice(0, colon)), variant, label: arg }
})
const unknown = sides.find((side) => !isVariant(side.variant))
if (chosen === undefined || sides.length < 2 || !(Number(batches) > 0) || !(Number(batchSize) > 0) || unknown !== undefined) {
  if (unknown !== undefined) console.error(`paired.js: unknown variant "${unknown.variant}" in ${unknown.label}`)
  console.error(`usage: paired.js ${contenders.join("|")} BATCHES BATCH_SIZE ROOT_A[:VARIANT] ROOT_B[:VARIANT] [ROOT...]`)
  console.error(`  VARIANT: ${Object.keys(Paired.variants).join("|")} (default: defaults)`)
  process.exit(2)
}
const quantile = (xs: ReadonlyArray<number>, q: number) => xs.slice().sort((a, b) => a - b)[Math.round(q * (xs.length - 1))]!
const { child: server, port } = await startServer()
try {
  const result = await Paired.run({
    script: fileURLToPath(new URL("./internal/pairedWorker.js", import.meta.url)),
    roots: sides.map((side) => side.root),
    variants: sides.map((side) => side.variant as Paired.Variant),
    contender: chosen,
    url: `http://127.0.0.1:${port}/small`,
    batches: Number(batches),
    batchSize: Number(batchSize),
    concurrency: 64
  })
  for (const [i, side] of sides.entries()) {
    const ratios = result.ratios[i]!
    const spread = i === 0
      ? ""
      : ` [quartiles ${quantile(ratios, 0.25).toFixed(3)}-${quantile(ratios, 0.75).toFixed(3)}, min ${quantile(ratios, 0).toFixed(3)}, max ${quantile(ratios, 1).toFixed(3)}]`
    console.log(
      `${side.label}: ${chosen} CPU ${result.medianUs[i]!.toFixed(1)} µs/request (median), ratio to first ${result.ratio[i]!.toFixed(3)} (median of ${ratios.length} pairs)${spread}`
    )
  }
} finally {
  server.disconnect()
}
