/**
 * The step budget: Effect runtime steps per request of `Batch.settle` and `Client.text` (+
 * `Effect.forEach`), over the instant in-memory transport, counted exactly as the
 * `clientSteps` bench counts them (`bench/internal/stepCount.ts`). A count, not a timing, so
 * it is deterministic and safe in CI: a change that lengthens the per-request path by more
 * than one step fails here. When a change shortens it, lower the budget to the new count.
 */
import { afterAll, describe, expect, it } from "vitest"
import { budgeted, instantRuntime, stepsPerRequest } from "../bench/internal/stepCount.js"

/**
 * Recorded steps per request at 2,000 requests. The bench's 20,000 spread the same fixed
 * per-run steps thinner: about 0.3 (settle) and 0.7 (text) fewer per request there.
 */
const budget = { settle: 19.303, text: 26.8375 } as const

const n = 2_000
const runtime = instantRuntime()
const paths = budgeted(runtime, Array.from({ length: n }, () => "http://127.0.0.1:1/small"))

afterAll(() => runtime.dispose())

describe("steps per request stay within budget", () => {
  for (const [name, label] of [["settle", "Batch.settle"], ["text", "Client.text + Effect.forEach"]] as const) {
    it(`${label}, concurrency 64: ${budget[name]} steps per request, at most one more`, async () => {
      const steps = await stepsPerRequest(paths[name], n)
      const message = `${label}: ${steps.toFixed(3)} steps per request, budget ${budget[name]}`
      expect(steps, `${message}: a change added steps to the per-request path`).toBeLessThanOrEqual(budget[name] + 1)
      // A ratchet: a budget far above the count would let the next change add steps unseen.
      expect(steps, `${message}: the path got shorter; lower the budget in this file to ${steps.toFixed(3)}`).toBeGreaterThanOrEqual(budget[name] - 1)
    })
  }
})
