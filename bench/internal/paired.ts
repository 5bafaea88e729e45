/**
 * Paired batches: one warm `pairedWorker.js` process per build, asked for a batch each in
 * turn (the first swaps every pair), so each batch of one build is paired with a batch of the
 * other run a moment later. Used by the http side-by-side table and by `bench/paired.ts`.
 */
import { fork } from "node:child_process"

/**
 * The client option sets a build can run with, to pair one build with itself: `defaults`; `off`,
 * the per-host policies that are on by default switched off (the adaptive limit and the breaker
 * are off by default); `all-on`, the defaults plus the adaptive limit and the breaker. A build
 * older than an option ignores it.
 */
export const variants = {
  defaults: {},
  off: { retryBudget: false, serverSignals: false },
  "all-on": { perHost: "adaptive", circuitBreaker: true }
} as const

export type Variant = keyof typeof variants

export interface PairedOptions {
  /** The `pairedWorker.js` to run (this build's: it loads any build by its root). */
  readonly script: string
  /** Folders holding a built volley (`dist/src`); the first is the one the ratios are to. */
  readonly roots: ReadonlyArray<string>
  /** The client options of each root's worker, by position (default `defaults`). */
  readonly variants?: ReadonlyArray<Variant>
  readonly contender: "volley" | "volley-stream" | "volley-client"
  readonly url: string
  readonly batches: number
  readonly batchSize: number
  readonly concurrency: number
}

export interface PairedResult {
  /** CPU µs per request of every batch, by root. */
  readonly cpuUs: ReadonlyArray<ReadonlyArray<number>>
  /** Median CPU µs per request, by root. */
  readonly medianUs: ReadonlyArray<number>
  /** Median of the per-pair ratios to the first root, by root (1 for the first). */
  readonly ratio: ReadonlyArray<number>
  /** Every per-pair ratio to the first root, by root, in batch order. */
  readonly ratios: ReadonlyArray<ReadonlyArray<number>>
}

export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = xs.slice().sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** A build's worker process: warm, running one batch each time it is asked. */
const start = async (script: string, config: object) => {
  const child = fork(script, [JSON.stringify(config)], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  const next = () =>
    new Promise<unknown>((resolve, reject) => {
      const exited = (code: number | null) => reject(new Error(`pairedWorker exited ${code}`))
      child.once("exit", exited)
      child.once("message", (m) => {
        child.off("exit", exited)
        resolve(m)
      })
    })
  await next() // "ready", after its warm-up
  return {
    batch: async () => ((await (child.send("batch"), next())) as { cpuUs: number }).cpuUs,
    stop: () => void child.send("stop")
  }
}

export const run = async (options: PairedOptions): Promise<PairedResult> => {
  const { contender, url, batchSize, concurrency } = options
  const workers = await Promise.all(
    options.roots.map((root, i) => start(options.script, { root, variant: options.variants?.[i] ?? "defaults", contender, url, batchSize, concurrency }))
  )
  const cpuUs = workers.map((): Array<number> => [])
  try {
    for (let batch = 0; batch < options.batches; batch++) {
      const order = workers.map((_, i) => (batch % 2 === 0 ? i : workers.length - 1 - i))
      for (const i of order) cpuUs[i]!.push(await workers[i]!.batch())
    }
  } finally {
    for (const worker of workers) worker.stop()
  }
  const ratios = cpuUs.map((xs) => xs.map((x, i) => x / cpuUs[0]![i]!))
  return { cpuUs, medianUs: cpuUs.map(median), ratio: ratios.map(median), ratios }
}
