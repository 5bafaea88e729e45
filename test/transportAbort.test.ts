/**
 * Who aborts a request interrupted before its headers (`Transport.send`'s `takeAbort`): the
 * client offers to, so the real transport needs no canceler frame per request; a transport
 * that ignores the offer aborts on interruption itself. Real sockets: each test has a path of
 * its own, and the fault server reports when the client cut that path's response off.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Agent } from "undici"
import * as Client from "../src/Client.js"
import * as UndiciTransport from "../src/internal/transport/undici.js"
import { type FaultServer, startFaultServer } from "./support/FaultServer.js"

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

/** A GET of `path` on the fault server. */
const get = (path: string): Client.TransportRequest => {
  const url = new URL(`${server.url}${path}`)
  return { url, method: "GET", headers: {}, body: undefined, redactedUrl: url.href }
}

/** Starts `effect` in a fiber of its own and interrupts it once the server holds `path`'s request. */
const interruptWhileHung = <A, E>(effect: Effect.Effect<A, E>, path: string, beforeInterrupt: () => void = () => {}) =>
  Effect.gen(function*() {
    const fiber = Effect.runFork(effect)
    yield* Effect.promise(() => server.waitForRequest(path))
    beforeInterrupt()
    yield* Fiber.interrupt(fiber)
  })

const clientAbort = (path: string) => Effect.promise(() => server.waitForClientAbort(path))

describe("Transport.send: who aborts an interrupted request (takeAbort)", () => {
  it.live("offered nothing, the undici transport aborts the interrupted request itself", () =>
    Effect.gen(function*() {
      const path = "/hang?case=own"
      yield* interruptWhileHung(transport.send(get(path), undefined), path)
      yield* clientAbort(path)
    }))

  it.live("offered takeAbort, it hands its abort over before the wait ends and leaves the interrupted request to the caller", () =>
    Effect.gen(function*() {
      const path = "/hang?case=taken"
      let abort: (() => void) | undefined
      yield* interruptWhileHung(
        transport.send(get(path), undefined, undefined, (a) => {
          abort = a
        }),
        path,
        () => expect(abort).toBeTypeOf("function")
      )
      // No canceler of its own: the request is still open until the caller aborts it.
      const after100ms = yield* Effect.promise(() => server.waitForClientAbort(path, 100).then(() => "aborted", () => "open"))
      expect(after100ms).toBe("open")
      abort!()
      yield* clientAbort(path)
    }))

  it.live("the handed-over abort does nothing once the response is there: its body still reads in full", () =>
    Effect.gen(function*() {
      let abort: (() => void) | undefined
      const response = yield* transport.send(get("/ok?size=200000"), undefined, undefined, (a) => {
        abort = a
      })
      abort!()
      let size = 0
      for (;;) {
        const chunk = response.body.poll()
        if (chunk === null) break
        if (chunk === undefined) yield* response.body.wait(undefined)
        else size += chunk.length
      }
      response.body.release(false)
      expect(size).toBe(200_000)
    }))

  it.live("a client over the undici transport (which takes the offer) aborts an interrupted request, on a redirect's second hop too", () =>
    Effect.gen(function*() {
      const client = Client.makeWithTransport(transport, { retry: { maxAttempts: 1 } })
      const run = (path: string) => Effect.provideService(Client.text(`${server.url}${path}`), Client.Client, client)
      yield* interruptWhileHung(run("/hang?case=client"), "/hang?case=client")
      yield* clientAbort("/hang?case=client")
      yield* interruptWhileHung(run(`/redirect?to=${encodeURIComponent("/hang?case=hop")}`), "/hang?case=hop")
      yield* clientAbort("/hang?case=hop")
    }))

  it.live("a client over a transport that ignores the offer still gets the request aborted, by the transport", () =>
    Effect.gen(function*() {
      const path = "/hang?case=ignored"
      const ignoring: Client.Transport = { send: (request, timeout, received) => transport.send(request, timeout, received) }
      const client = Client.makeWithTransport(ignoring, { retry: { maxAttempts: 1 } })
      yield* interruptWhileHung(Effect.provideService(Client.text(`${server.url}${path}`), Client.Client, client), path)
      yield* clientAbort(path)
    }))
})
