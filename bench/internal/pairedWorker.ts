/**
 * Both builds' volley in one process, measured in alternating batches: the side-by-side CPU
 * figure that survives a noisy machine. Process-level rounds (`httpCompare.ts`) compare two
 * processes started seconds apart; on a shared host the load moves 10-25% in that time, more
 * than the change being measured. Here each batch of one build is paired with the next batch
 * of the other (which goes first swaps every pair), so a neighbour's load hits both alike, and
 * the median of the per-pair ratios is the build's cost relative to the baseline.
 *
 * Invoked by `httpCompare.ts` as `pairedWorker.js CONFIG_JSON`; loads each build's public
 * modules (`dist/src/Client.js`, `dist/src/Batch.js`: API every build has) with its own
 * `effect`, and sends `{ cpuUs: [perBuild[perBatch µs per request]] }`.
 */
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

interface Config {
  readonly roots: ReadonlyArray<string>
  readonly contender: "volley" | "volley-stream" | "volley-client"
  readonly url: string
  readonly batchSize: number
  readonly batches: number
  readonly concurrency: number
}

/** The little of a build's modules used here, typed by hand: each build has its own types. */
interface Effect<A> {
  readonly _A?: A
}
interface Modules {
  readonly Effect: {
    map: <A, B>(self: Effect<A>, f: (a: A) => B) => Effect<B>
    forEach: (items: ReadonlyArray<string>, f: (u: string) => Effect<unknown>, options: { concurrency: number; discard: true }) => Effect<void>
  }
  readonly Stream: { runDrain: (stream: unknown) => Effect<void> }
  readonly ManagedRuntime: { make: (layer: unknown) => { runPromise: <A>(effect: Effect<A>) => Promise<A> } }
  readonly Client: { layer: (options: { connectionsPerOrigin: number }) => unknown; text: (url: string) => Effect<string> }
  readonly Batch: {
    settle: (urls: ReadonlyArray<string>, options: { concurrency: number }) => Effect<ReadonlyArray<unknown>>
    stream: (urls: ReadonlyArray<string>, options: { concurrency: number }) => unknown
  }
}

const load = async (root: string): Promise<Modules> => {
  const require = createRequire(path.join(root, "package.json"))
  const dependency = (name: string) => import(pathToFileURL(require.resolve(name)).href)
  const own = (name: string) => import(pathToFileURL(path.join(root, "dist", "src", name)).href)
  const [Effect, Stream, ManagedRuntime, Client, Batch] = await Promise.all([
    dependency("effect/Effect"),
    dependency("effect/Stream"),
    dependency("effect/ManagedRuntime"),
    own("Client.js"),
    own("Batch.js")
  ])
  return { Effect, Stream, ManagedRuntime, Client, Batch } as Modules
}

const runner = (m: Modules, config: Config): (() => Promise<unknown>) => {
  const runtime = m.ManagedRuntime.make(m.Client.layer({ connectionsPerOrigin: config.concurrency }))
  const urls = Array.from({ length: config.batchSize }, () => config.url)
  const options = { concurrency: config.concurrency }
  switch (config.contender) {
    case "volley":
      return () => runtime.runPromise(m.Batch.settle(urls, options))
    case "volley-stream":
      return () => runtime.runPromise(m.Stream.runDrain(m.Batch.stream(urls, options)))
    case "volley-client":
      return () => runtime.runPromise(m.Effect.forEach(urls, (u) => m.Client.text(u), { ...options, discard: true }))
  }
}

const main = async () => {
  const config = JSON.parse(process.argv[2]!) as Config
  const runs = await Promise.all(config.roots.map(async (root) => runner(await load(root), config)))
  // Warm-up: both builds optimised and their pools open before anything counts.
  for (let i = 0; i < 3; i++) for (const run of runs) await run()
  const cpuUs = runs.map((): Array<number> => [])
  for (let batch = 0; batch < config.batches; batch++) {
    const order = batch % 2 === 0 ? runs.map((_, i) => i) : runs.map((_, i) => runs.length - 1 - i)
    for (const i of order) {
      const before = process.cpuUsage()
      await runs[i]!()
      const used = process.cpuUsage(before)
      cpuUs[i]!.push((used.user + used.system) / config.batchSize)
    }
  }
  process.send!({ cpuUs })
  process.exit(0)
}

void main()
