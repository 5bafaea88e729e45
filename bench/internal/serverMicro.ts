/**
 * The in-process cost of each of volley's request guards on `GET /health`, without sockets:
 * each app is turned into a web handler (`HttpApp.toWebHandlerRuntime`, which runs the same
 * request path as the platform's server: tracer span, error handling, pre-response
 * handlers) and called `REQUESTS` times, 32 at a time. Variants alternate over `ROUNDS`
 * rounds (first one discarded as warm-up); the figure is the median CPU time per request.
 * CPU time of this process, not wall time: other work on the machine barely moves it.
 *
 * `node serverMicro.js` prints one JSON line: `Array<{ label, cpuUs, wallUs }>` (µs/request).
 */
import * as HttpApp from "@effect/platform/HttpApp"
import { Effect, Layer, ManagedRuntime } from "effect"
import * as Api from "../../examples/api.js"
import * as Client from "../../src/Client.js"
import * as JobPool from "../../src/server/JobPool.js"
import * as BareApp from "./serverApp.js"

const REQUESTS = 800
const CONCURRENCY = 32
const ROUNDS = 15

/** One measured variant. */
export interface MicroResult {
  readonly label: string
  /** Median CPU µs per request. */
  readonly cpuUs: number
  /** Median wall µs per request (32 in flight). */
  readonly wallUs: number
}

const services = Layer.mergeAll(
  JobPool.layer({ name: "email", workers: 1, capacity: 1_000 }),
  BareApp.UsersInPlace,
  Layer.succeed(Api.Mailer, { sendWelcome: () => Effect.void }),
  // Never called on /health; present because the example's router needs it in context.
  Layer.succeed(Api.UpstreamUrls, { profile: "http://127.0.0.1:9/", orders: "http://127.0.0.1:9/", recommendations: "http://127.0.0.1:9/" }),
  Client.layer()
)

const variants: ReadonlyArray<readonly [string, ReadonlyArray<BareApp.Guard> | "example"]> = [
  ["bare router", []],
  ["+ withDeadline", ["deadline"]],
  ["+ withConcurrencyLimit", ["limit"]],
  ["+ instrument (example's)", ["instrument"]],
  ["+ GracefulServer bookkeeping", ["tracking"]],
  ["+ all four", ["deadline", "limit", "instrument", "tracking"]],
  ["examples/api.ts app", "example"]
]

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? NaN
}

const main = async (): Promise<ReadonlyArray<MicroResult>> => {
  const runtime = ManagedRuntime.make(services)
  try {
    const rt = await runtime.runtime()
    const toHandler = HttpApp.toWebHandlerRuntime(rt)
    const handlers = variants.map(([, guards]) => toHandler(guards === "example" ? Api.app : BareApp.app(new Set(guards))))
    const once = async (handler: (request: Request) => Promise<Response>) => {
      const response = await handler(new Request("http://127.0.0.1/health"))
      if (response.status !== 200) throw new Error(`GET /health answered ${response.status}`)
    }
    const round = async (handler: (request: Request) => Promise<Response>) => {
      const cpu = process.cpuUsage()
      const started = performance.now()
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        for (let i = 0; i < REQUESTS / CONCURRENCY; i++) await once(handler)
      }))
      const wall = performance.now() - started
      const used = process.cpuUsage(cpu)
      return { cpuUs: (used.user + used.system) / REQUESTS, wallUs: (wall * 1000) / REQUESTS }
    }
    const samples = variants.map(() => ({ cpu: [] as Array<number>, wall: [] as Array<number> }))
    for (let r = 0; r < ROUNDS; r++) {
      // Rotate the order so no variant always runs right after the same one.
      for (let k = 0; k < handlers.length; k++) {
        const i = (k + r) % handlers.length
        const m = await round(handlers[i]!)
        if (r > 0) {
          samples[i]!.cpu.push(m.cpuUs)
          samples[i]!.wall.push(m.wallUs)
        }
      }
    }
    return variants.map(([label], i) => ({ label, cpuUs: median(samples[i]!.cpu), wallUs: median(samples[i]!.wall) }))
  } finally {
    await runtime.dispose()
  }
}

main().then(
  (results) => {
    console.log(JSON.stringify(results))
    process.exit(0)
  },
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
