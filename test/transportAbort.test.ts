/**
 * Who aborts a request interrupted before its headers (`Transport.send`'s `takeAbort`): the
 * client offers to, so the real transport needs no canceler frame per request; a transport
 * that ignores the offer aborts on interruption itself. Real sockets: the fault server counts
 * the responses the client cut off.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Agent } from "undici"
import * as Client from "../src/Client.js"
import * as UndiciTransport from "../src/internal/transport/undici.js"
import { type FaultServer, startFaultServer } from "./support/FaultServer.js"
import { realDelay } from "./support/effect.js"

let server: FaultServer
let agent: Agent
let transport: Client.Transport
beforeAll(async () => {
  server = await startFaultServer()
  agent = new Agent({ keepAliveTimeout: 30_000 })
  transport = UndiciTransport.make(agent, 30_000)
})
afterAll(async () => {
  await agent.destroy()
  await server.close()
})

/** A GET of the server's `/hang`, which never answers. */
const hanging = (): Client.TransportRequest => {
  const url = new URL(`${server.url}/hang`)
  return { url, method: "GET", headers: {}, body: undefined, redactedUrl: url.href }
}

/** Waits (real time, bounded) until `ready()` holds. */
const until = (ready: () => boolean, timeoutMs = 2_000): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const started = Date.now()
    while (!ready() && Date.now() - started < timeoutMs) yield* realDelay(5)
    return ready()
  })

/** Starts `effect` in a fiber of its own, then interrupts it once the server holds its request. */
const interruptWhileHung = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    // Counted from now: a request an earlier test left open must not pass for this one.
    const before = server.stats.inFlight
    const fiber = Effect.runFork(effect)
    expect(yield* until(() => server.stats.inFlight > before)).toBe(true)
    yield* Fiber.interrupt(fiber)
  })

describe("Transport.send: who aborts an interrupted request (takeAbort)", () => {
  it.live("offered nothing, the undici transport aborts the interrupted request itself", () =>
    Effect.gen(function*() {
      server.reset()
      yield* interruptWhileHung(transport.send(hanging(), undefined))
      expect(yield* until(() => server.stats.abortedByClient === 1)).toBe(true)
    }))

  it.live("offered takeAbort, it hands its abort over before the wait ends and leaves the interrupted request to the caller", () =>
    Effect.gen(function*() {
      server.reset()
      let abort: (() => void) | undefined
      yield* interruptWhileHung(transport.send(hanging(), undefined, undefined, (a) => {
        abort = a
      }))
      expect(abort).toBeTypeOf("function")
      // No canceler of its own: the request is still open until the caller aborts it.
      yield* realDelay(100)
      expect(server.stats.abortedByClient).toBe(0)
      abort!()
      expect(yield* until(() => server.stats.abortedByClient === 1)).toBe(true)
    }))

  it.live("a client over the undici transport (which takes the offer) aborts an interrupted request", () =>
    Effect.gen(function*() {
      server.reset()
      const client = Client.makeWithTransport(transport, { retry: { maxAttempts: 1 } })
      yield* interruptWhileHung(Effect.provideService(Client.text(`${server.url}/hang`), Client.Client, client))
      expect(yield* until(() => server.stats.abortedByClient === 1)).toBe(true)
    }))

  it.live("a client over a transport that ignores the offer still gets the request aborted, by the transport", () =>
    Effect.gen(function*() {
      server.reset()
      const ignoring: Client.Transport = { send: (request, timeout, received) => transport.send(request, timeout, received) }
      const client = Client.makeWithTransport(ignoring, { retry: { maxAttempts: 1 } })
      yield* interruptWhileHung(Effect.provideService(Client.text(`${server.url}/hang`), Client.Client, client))
      expect(yield* until(() => server.stats.abortedByClient === 1)).toBe(true)
    }))
})
