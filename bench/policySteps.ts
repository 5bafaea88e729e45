/**
 * What the per-host policies cost on volley's per-request path, without a network: steps per
 * request (a count, unmoved by machine load) and CPU µs per request of `Batch.settle` and
 * `Client.text` + `Effect.forEach` (concurrency 64, over `internal/stepCount.ts`' instant
 * transport), with the client under two option sets of `internal/paired.ts`: `off` (retry
 * budget and server signals off; adaptive limit and breaker are off by default) and `defaults`.
 * Not `all-on`: over this transport every exchange reads 0 ms on the Clock, so the adaptive
 * limit's minimum RTT is 0 and its gradient cuts the limit to a few (a 20k run of `Client.text`
 * then takes minutes). CPU: the variants take turns, round by round; the median and the best
 * of `ROUNDS` rounds (default 5). The same figures over loopback, paired
 * in separate processes: `paired.js` with `:off` / `:defaults` roots.
 *
 *   node dist/bench/policySteps.js [ROUNDS]
 */
import * as Effect from "effect/Effect"
import * as Batch from "../src/Batch.js"
import * as Client from "../src/Client.js"
import { median, type Variant, variants } from "./internal/paired.js"
import { instantRuntime, stepsPerRequest } from "./internal/stepCount.js"

const rounds = Math.max(1, Number(process.argv[2] ?? 5))
const n = 20_000
const urls = Array.from({ length: n }, () => "http://127.0.0.1:1/small")
const names: ReadonlyArray<Variant> = ["off", "defaults"]
const paths = ["Batch.settle", "Client.text + forEach"] as const
const cases = names.flatMap((variant) => {
  const runtime = instantRuntime(variants[variant])
  return [
    { variant, path: paths[0], go: () => runtime.runPromise(Batch.settle(urls, { concurrency: 64 })) },
    { variant, path: paths[1], go: () => runtime.runPromise(Effect.forEach(urls, (u) => Client.text(u), { concurrency: 64, discard: true })) }
  ]
})
const cpu = cases.map((): Array<number> => [])
for (const c of cases) await c.go() // warm-up
for (let round = 0; round < rounds; round++) {
  for (const [i, c] of cases.entries()) {
    const before = process.cpuUsage()
    await c.go()
    const used = process.cpuUsage(before)
    cpu[i]!.push((used.user + used.system) / n)
  }
}
// Counted last: the wrapped handlers slow everything down.
console.log(`\npolicy steps: per-request path over an instant in-memory transport, ${n} requests, c=64; CPU over ${rounds} rounds`)
console.log(`${"path".padEnd(24)}${"variant".padEnd(10)}${"steps/req".padStart(10)}${"CPU µs med".padStart(12)}${"CPU µs best".padStart(13)}`)
for (const [i, c] of cases.entries()) {
  const steps = await stepsPerRequest(c.go, n)
  console.log(
    `${c.path.padEnd(24)}${c.variant.padEnd(10)}${steps.toFixed(1).padStart(10)}${median(cpu[i]!).toFixed(1).padStart(12)}${Math.min(...cpu[i]!).toFixed(1).padStart(13)}`
  )
}
