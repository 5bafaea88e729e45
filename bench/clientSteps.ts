/**
 * volley's own cost per request, without a network: `Batch.settle` and `Client.text` over a
 * transport that answers every request at once (next macrotask) with a 128-byte body. Prints
 * the Effect runtime steps per request (each instruction the fiber runtime dispatches,
 * counted by wrapping its dispatch methods: a count, unmoved by machine load) and the CPU µs
 * per request (best of 5 rounds). The HTTP bench measures the whole; this tells whether a
 * change to the client or Batch made the per-request path longer.
 *
 *   npm run build && node dist/bench/clientSteps.js
 */
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"
import { pathToFileURL } from "node:url"
import * as Batch from "../src/Batch.js"
import * as Client from "../src/Client.js"
import * as VolleyHttpClient from "../src/HttpClient.js"
import { budgeted, instantRuntime, stepsPerRequest } from "./internal/stepCount.js"

/** A tracer of its own (so volley makes spans) that makes Effect's native spans and keeps none. */
const native = Effect.runSync(Effect.tracer)
const traced = Tracer.make({ span: (...args) => native.span(...args), context: (f) => f() })

export const run = async (): Promise<void> => {
  const runtime = instantRuntime()
  const bridge = VolleyHttpClient.fromClient(await runtime.runPromise(Client.Client))
  const n = 20_000
  const urls = Array.from({ length: n }, () => "http://127.0.0.1:1/small")
  const { settle, text } = budgeted(runtime, urls)
  const cases: ReadonlyArray<readonly [string, () => Promise<unknown>]> = [
    ["Batch.settle, concurrency 64", settle],
    ["Client.text + Effect.forEach, concurrency 64", text],
    ["Client.open + scoped text", () => runtime.runPromise(Effect.forEach(urls, (u) => Effect.scoped(Effect.flatMap(Client.open(u), (r) => r.text)), { concurrency: 64, discard: true }))],
    [
      "HttpClient bridge get + text, concurrency 64",
      () => runtime.runPromise(Effect.forEach(urls, (u) => Effect.flatMap(bridge.get(u), (r) => r.text), { concurrency: 64, discard: true }))
    ],
    // With a tracer configured: one client span per request (Effect's native spans, as a
    // program with `@effect/opentelemetry` gets OpenTelemetry's), traceparent sent.
    ["Batch.settle, traced, concurrency 64", () => runtime.runPromise(Effect.withTracer(Batch.settle(urls, { concurrency: 64 }), traced))],
    [
      "Client.text + forEach, traced, concurrency 64",
      () => runtime.runPromise(Effect.withTracer(Effect.forEach(urls, (u) => Client.text(u), { concurrency: 64, discard: true }), traced))
    ]
  ]
  const cpu: Array<number> = []
  for (const [, go] of cases) {
    let best = Infinity
    for (let round = 0; round < 5; round++) {
      const before = process.cpuUsage()
      await go()
      const used = process.cpuUsage(before)
      best = Math.min(best, (used.user + used.system) / n)
    }
    cpu.push(best)
  }
  // Counted last: the wrapped handlers slow everything down.
  console.log("\nclient steps: volley's per-request path over an instant in-memory transport (no network)")
  console.log(`${"path".padEnd(46)}${"steps/req".padStart(10)}${"CPU µs/req".padStart(12)}`)
  for (const [i, [label, go]] of cases.entries()) {
    const steps = await stepsPerRequest(go, n)
    console.log(`${label.padEnd(46)}${steps.toFixed(1).padStart(10)}${cpu[i]!.toFixed(1).padStart(12)}`)
  }
  await runtime.dispose()
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
