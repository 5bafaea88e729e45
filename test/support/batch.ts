/**
 * Helpers shared by the Batch suites (test/batch*.test.ts, test/hedging.test.ts).
 */
import { Clock, Effect, Layer } from "effect"
import * as Client from "../../src/Client.js"
import { within } from "../../src/internal/transport/timer.js"
import type { Timeout, Transport, TransportRequest, TransportResponse } from "../../src/Transport.js"
import { realDelay } from "./effect.js"

// ---------------------------------------------------------------------------------------------
// A virtual transport: answers on the Effect clock, records when each request went out and
// whether it was interrupted. For timing rules only; network claims use real sockets.

interface Sent {
  readonly url: string
  readonly method: string
  readonly at: number
  interrupted: boolean
}

const bound = <A, E>(timeout: Timeout | undefined, effect: Effect.Effect<A, E>) =>
  timeout === undefined ? effect : within(effect, timeout.ms, timeout.error, timeout.timer)

const emptyBody: TransportResponse["body"] = { contentLength: 0, poll: () => null, wait: () => Effect.void, release: () => {} }

export const virtual = (answer: (request: TransportRequest, nth: number) => Effect.Effect<number>, options: Client.ClientOptions = {}) => {
  const sent: Array<Sent> = []
  const perUrl = new Map<string, number>()
  const transport: Transport = {
    // Bounded as the contract asks: the client's timeout, armed on its timer (the one `within`).
    send: (request, timeout) =>
      bound(timeout, Effect.gen(function*() {
        const entry: Sent = { url: request.url.href, method: request.method, at: yield* Clock.currentTimeMillis, interrupted: false }
        sent.push(entry)
        const nth = (perUrl.get(entry.url) ?? 0) + 1
        perUrl.set(entry.url, nth)
        const status = yield* Effect.onInterrupt(answer(request, nth), () => Effect.sync(() => (entry.interrupted = true)))
        return { status, headers: {}, body: emptyBody }
      }))
  }
  const layer = Layer.succeed(Client.Client, Client.makeWithTransport(transport, { retry: { maxAttempts: 1 }, ...options }))
  return { sent, layer }
}

/** Answers 200 after `ms` of Clock time. */
export const after = (ms: number, status = 200) => Effect.as(Effect.sleep(ms), status)

/** Waits (real time, bounded) until `check` holds: for server-side counters that lag the client. */
export const eventually = (check: () => boolean, timeoutMs = 5_000) =>
  Effect.gen(function*() {
    const started = Date.now()
    while (!check()) {
      if (Date.now() - started > timeoutMs) return yield* Effect.dieMessage("condition not met in time")
      yield* realDelay(5)
    }
  })
