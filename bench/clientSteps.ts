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
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Tracer from "effect/Tracer"
import { pathToFileURL } from "node:url"
import * as Batch from "../src/Batch.js"
import * as Client from "../src/Client.js"
import * as VolleyHttpClient from "../src/HttpClient.js"
import type { BodySource, Transport, TransportResponse } from "../src/Client.js"

const body = new Uint8Array(128)

/** Answers every request with 200 and the body, one macrotask later (as a socket would). */
const send: Transport["send"] = (_request, _timeout, received) =>
    Effect.async<TransportResponse>((resume) => {
      let taken = false
      const source: BodySource = {
        contentLength: body.length,
        poll: () => (taken ? null : ((taken = true), body)),
        wait: () => Effect.void,
        release: () => {}
      }
      const response: TransportResponse = { status: 200, headers: { "content-length": String(body.length) }, body: source }
      setImmediate(() => {
        received?.(response)
        resume(Effect.succeed(response))
      })
    })

/** A tracer of its own (so volley makes spans) that makes Effect's native spans and keeps none. */
const native = Effect.runSync(Effect.tracer)
const traced = Tracer.make({ span: (...args) => native.span(...args), context: (f) => f() })

// The deadline's timer is armed by the real transport; nothing here is late, so none is armed.
const instant: Transport = { send }

/** The fiber runtime's instruction handlers, wrapped to count calls. */
const countSteps = (): { readonly total: () => number; readonly reset: () => void } => {
  let total = 0
  const proto = Object.getPrototypeOf(Effect.runFork(Effect.void)) as Record<string, unknown>
  const ops = ["Sync", "Success", "Failure", "OnSuccess", "OnFailure", "OnSuccessAndFailure", "Async", "WithRuntime", "UpdateRuntimeFlags", "Yield", "While", "Iterator", "Commit", "Tag", "Left", "Right", "Some", "None"]
  for (const op of ops) {
    const original = proto[op]
    if (typeof original !== "function") continue
    proto[op] = function(this: unknown, instruction: unknown) {
      total++
      return (original as (this: unknown, i: unknown) => unknown).call(this, instruction)
    }
  }
  return { total: () => total, reset: () => void (total = 0) }
}

export const run = async (): Promise<void> => {
  const runtime = ManagedRuntime.make(Layer.succeed(Client.Client, Client.makeWithTransport(instant, {})))
  const bridge = VolleyHttpClient.fromClient(await runtime.runPromise(Client.Client))
  const n = 20_000
  const urls = Array.from({ length: n }, () => "http://127.0.0.1:1/small")
  const cases: ReadonlyArray<readonly [string, () => Promise<unknown>]> = [
    ["Batch.settle, concurrency 64", () => runtime.runPromise(Batch.settle(urls, { concurrency: 64 }))],
    ["Client.text + Effect.forEach, concurrency 64", () => runtime.runPromise(Effect.forEach(urls, (u) => Client.text(u), { concurrency: 64, discard: true }))],
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
  const steps = countSteps()
  console.log("\nclient steps: volley's per-request path over an instant in-memory transport (no network)")
  console.log(`${"path".padEnd(46)}${"steps/req".padStart(10)}${"CPU µs/req".padStart(12)}`)
  for (const [i, [label, go]] of cases.entries()) {
    await go()
    steps.reset()
    await go()
    console.log(`${label.padEnd(46)}${(steps.total() / n).toFixed(1).padStart(10)}${cpu[i]!.toFixed(1).padStart(12)}`)
  }
  await runtime.dispose()
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
