/**
 * Steps per request: the Effect runtime instructions volley's per-request path dispatches,
 * over a transport that answers at once. A count, unmoved by machine load, so both the
 * `clientSteps` bench and the CI budget test (`test/stepBudget.test.ts`) use it.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Batch from "../../src/Batch.js"
import type { BodySource, Transport, TransportResponse } from "../../src/Client.js"
import * as Client from "../../src/Client.js"

const body = new Uint8Array(128)

/** A 128-byte body, read in one poll. Classes, not literals, as in the real transport (see `src/internal/client/hotPath.ts`). */
class OneChunk implements BodySource {
  readonly contentLength = body.length
  private taken = false
  poll() {
    if (this.taken) return null
    this.taken = true
    return body
  }
  wait() {
    return Effect.void
  }
  release() {}
}

class Answer implements TransportResponse {
  readonly status = 200
  readonly headers: Readonly<Record<string, string>> = new ContentLength()
  readonly body = new OneChunk()
}

class ContentLength {
  [name: string]: string
  constructor() {
    this["content-length"] = String(body.length)
  }
}

/**
 * Answers every request with 200 and a 128-byte body, one macrotask later (as a socket would).
 * Takes the client's offer to abort on interruption, as the real transport does: no canceler
 * frame on either (this one never had one, so the count did not change when the real one lost it).
 */
const send: Transport["send"] = (_request, _timeout, received, takeAbort) =>
  Effect.async<TransportResponse>((resume) => {
    takeAbort?.(() => {})
    const response = new Answer()
    setImmediate(() => {
      received?.(response)
      resume(Effect.succeed(response))
    })
  })

// The deadline's timer is armed by the real transport; nothing here is late, so none is armed.
export const instant: Transport = { send }

/** A runtime whose client (with `options`, default none) sends over {@link instant}. */
export const instantRuntime = (options: Client.ClientOptions = {}) =>
  ManagedRuntime.make(Layer.succeed(Client.Client, Client.makeWithTransport(instant, options)))

/**
 * The two paths the CI budget holds (`test/stepBudget.test.ts`) and the bench's first two rows:
 * `Batch.settle` and `Client.text` + `Effect.forEach`, each at concurrency 64 over `urls`.
 */
export const budgeted = (runtime: ReturnType<typeof instantRuntime>, urls: ReadonlyArray<string>) => ({
  settle: () => runtime.runPromise(Batch.settle(urls, { concurrency: 64 })),
  text: () => runtime.runPromise(Effect.forEach(urls, (u) => Client.text(u), { concurrency: 64, discard: true }))
})

/** The fiber runtime's instruction handlers, wrapped to count calls; `restore` unwraps them. */
export const countSteps = (): { readonly total: () => number; readonly reset: () => void; readonly restore: () => void } => {
  let total = 0
  const proto = Object.getPrototypeOf(Effect.runFork(Effect.void)) as Record<string, unknown>
  const ops = ["Sync", "Success", "Failure", "OnSuccess", "OnFailure", "OnSuccessAndFailure", "Async", "WithRuntime", "UpdateRuntimeFlags", "Yield", "While", "Iterator", "Commit", "Tag", "Left", "Right", "Some", "None"]
  const originals = new Map<string, unknown>()
  for (const op of ops) {
    const original = proto[op]
    if (typeof original !== "function") continue
    originals.set(op, original)
    proto[op] = function(this: unknown, instruction: unknown) {
      total++
      return (original as (this: unknown, i: unknown) => unknown).call(this, instruction)
    }
  }
  return {
    total: () => total,
    reset: () => void (total = 0),
    restore: () => {
      for (const [op, original] of originals) proto[op] = original
    }
  }
}

/** Steps per request of `go` (which makes `n` requests): one warm-up run, then one counted. */
export const stepsPerRequest = async (go: () => Promise<unknown>, n: number): Promise<number> => {
  await go()
  const steps = countSteps()
  try {
    await go()
    steps.reset()
    await go()
    return steps.total() / n
  } finally {
    steps.restore()
  }
}
