/**
 * One build's volley kept warm in its own process, running a batch of requests each time it is
 * asked: the side-by-side CPU figure that survives a noisy machine. Process-level rounds
 * (`httpCompare.ts`) compare processes started seconds apart; on a shared host the load moves
 * 10-25% in that time, more than the change being measured. Here `paired.ts` keeps one
 * of these per build and asks them in turn (which goes first swaps every pair), so each batch
 * of one build is paired with a batch of the other run a moment later. One build per process:
 * two builds of the same `effect` version in one process share its global store and slow each
 * other unevenly (measured: 1.55x apart in one process, 1.15x in two).
 *
 * Invoked as `pairedWorker.js CONFIG_JSON`; loads the build's public modules
 * (`dist/src/Client.js`, `dist/src/Batch.js`: API every build has) with its own `effect`,
 * warms up, sends `"ready"`, then answers each `"batch"` with `{ cpuUs }` (µs per request).
 * `variant` picks the client's options (see `variants`); a build older than an option ignores it.
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { type Variant, variants } from "./paired.js"

interface Config {
  readonly root: string
  readonly variant?: Variant
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

/**
 * The ES module a build's `effect` exports as `effect/<name>`, found as Node would from inside
 * the build (`require.resolve` would give the CommonJS copy: a second `effect` in the process,
 * whose fibers do not share the ES build's references, the default tracer among them).
 */
const effectModule = (root: string, name: string): Promise<unknown> => {
  const dir = path.dirname(createRequire(path.join(root, "package.json")).resolve("effect/package.json"))
  const exports = (JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as {
    exports: Record<string, { import: string | { default: string } }>
  }).exports
  const entry = exports[`./${name}`]!.import
  return import(pathToFileURL(path.join(dir, typeof entry === "string" ? entry : entry.default)).href)
}

const load = async (root: string): Promise<Modules> => {
  const dependency = (name: string) => effectModule(root, name.slice("effect/".length))
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
  const runtime = m.ManagedRuntime.make(m.Client.layer({ connectionsPerOrigin: config.concurrency, ...variants[config.variant ?? "defaults"] }))
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
  const run = runner(await load(config.root), config)
  // Warm-up: optimised and the pool open before anything counts.
  for (let i = 0; i < 3; i++) await run()
  process.on("message", async (message) => {
    if (message !== "batch") return process.exit(0)
    const before = process.cpuUsage()
    await run()
    const used = process.cpuUsage(before)
    process.send!({ cpuUs: (used.user + used.system) / config.batchSize })
  })
  process.send!("ready")
}

void main()
