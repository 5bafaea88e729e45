/**
 * Aborts close the socket while the pool lives. The client layer is built once for the file,
 * outside every effect under test, so closing it cannot hide a socket an abort left open
 * (issue 12: with the layer provided inside each test, removing the abort left them green).
 * The fault server counts responses the client cut off (`abortedByClient`).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Duration, Effect, Fiber, ManagedRuntime, Stream } from "effect"
import * as diagnostics from "node:diagnostics_channel"
import type * as net from "node:net"
import * as Batch from "../src/Batch.js"
import * as Client from "../src/Client.js"
import { type FaultServer, startFaultServer } from "./support/FaultServer.js"
import { realDelay } from "./support/effect.js"

let server: FaultServer
/** One pool for the whole file; 30 s keep-alive so nothing but an abort closes a socket in time. */
const runtime = ManagedRuntime.make(Client.layer({ retry: { maxAttempts: 1 }, keepAliveTimeout: Duration.seconds(30) }))
beforeAll(async () => {
  server = await startFaultServer()
  await runtime.runPromise(Effect.void)
})
afterAll(async () => {
  await runtime.dispose()
  await server.close()
})

/** Runs on the file's pool (which stays open afterwards). */
const onPool = <A, E>(effect: Effect.Effect<A, E, Client.Client>) => Effect.promise(() => runtime.runPromiseExit(effect))

/** Waits (real time, bounded) until the server saw `n` responses cut off by the client. */
const cutOff = (n: number, timeoutMs = 2_000): Effect.Effect<number> =>
  Effect.gen(function*() {
    const started = Date.now()
    while (server.stats.abortedByClient < n && Date.now() - started < timeoutMs) yield* realDelay(5)
    return server.stats.abortedByClient
  })

describe("aborts close the socket while the pool lives", () => {
  it.live("a deadline (two at once) closes both hung connections", () =>
    Effect.gen(function*() {
      server.reset()
      const hung = Client.text(`${server.url}/hang`, { deadline: "200 millis" })
      const exit = yield* onPool(Effect.all([hung, hung], { concurrency: 2, mode: "either" }))
      expect(exit._tag === "Success" && exit.value.map((r) => r._tag === "Left" && r.left._tag === "NetworkError" && r.left.reason)).toEqual(["Timeout", "Timeout"])
      expect(yield* cutOff(2)).toBe(2)
    }))

  it.live("an interruption closes the connection", () =>
    Effect.gen(function*() {
      server.reset()
      const fiber = runtime.runFork(Client.text(`${server.url}/hang`))
      while (server.stats.inFlight < 1) yield* realDelay(5)
      yield* Fiber.interrupt(fiber)
      expect(yield* cutOff(1)).toBe(1)
    }))

  it.live("a fail-fast batch: a failing sibling closes the others' connections", () =>
    Effect.gen(function*() {
      server.reset()
      const exit = yield* onPool(Batch.failFast([`${server.url}/hang`, `${server.url}/hang`, `${server.url}/slow?ms=100&size=0`], {
        concurrency: 3,
        handle: (response: Client.Response) => Effect.fail(`status ${response.status}`)
      }))
      expect(exit._tag).toBe("Failure")
      expect(yield* cutOff(2)).toBe(2)
    }))

  it.live("a stream ended early (Stream.take) closes the connection of its large body", () =>
    Effect.gen(function*() {
      server.reset()
      const exit = yield* onPool(Stream.runCollect(Stream.take(Client.stream(`${server.url}/huge`), 1)))
      expect(exit._tag).toBe("Success")
      expect(yield* cutOff(1)).toBe(1)
    }))
})

describe("a hedge loser's connection is closed while the pool lives", () => {
  /**
   * Runs `path` hedged after 50 ms, then a POST (never hedged) on the same worker: whether the
   * losing request's socket was destroyed when that POST was sent and when the batch returned.
   * A loser left running is only interrupted when its worker fiber ends, so it would still be
   * open at the worker's next item.
   */
  const hedgedThenNext = (path: string) =>
    Effect.gen(function*() {
      server.reset()
      // The client socket each hedged request went out on, in order of sending.
      const sockets: Array<net.Socket> = []
      const hedgedPath = path.split("?")[0]!
      let destroyedAtNextItem: ReadonlyArray<boolean> = []
      const onHeaders = (message: unknown) => {
        const { request, socket } = message as { request: { path: string }; socket: net.Socket }
        if (request.path.startsWith(hedgedPath)) sockets.push(socket)
        else if (request.path.startsWith("/ok")) destroyedAtNextItem = sockets.map((s) => s.destroyed)
      }
      diagnostics.subscribe("undici:client:sendHeaders", onHeaders)
      const exit = yield* onPool(
        Effect.map(
          Batch.settle([`${server.url}${path}`, HttpClientRequest.post(`${server.url}/ok`)], { hedge: "50 millis", concurrency: 1 }),
          // Read in the batch's own fiber, the moment it returns: not a tick later.
          (outcomes) => ({ attempts: outcomes.map((o) => o.attempts), destroyedAtReturn: sockets.map((s) => s.destroyed) })
        )
      ).pipe(Effect.ensuring(Effect.sync(() => diagnostics.unsubscribe("undici:client:sendHeaders", onHeaders))))
      return { exit, destroyedAtNextItem, cutOff: yield* cutOff(1) }
    })

  it.live("the hedge wins: the stuck first request's socket is destroyed before the worker's next item and the batch's return", () =>
    Effect.gen(function*() {
      const { cutOff, destroyedAtNextItem, exit } = yield* hedgedThenNext("/hang-first?key=hedge")
      expect(exit._tag === "Success" && exit.value).toEqual({ attempts: [2, 1], destroyedAtReturn: [true, false] })
      expect(destroyedAtNextItem).toEqual([true, false])
      expect(cutOff).toBe(1)
    }))

  it.live("the first request wins: the hedge's socket is destroyed before the worker's next item and the batch's return", () =>
    Effect.gen(function*() {
      const { cutOff, destroyedAtNextItem, exit } = yield* hedgedThenNext("/hang-later?key=hedge&ms=400")
      expect(exit._tag === "Success" && exit.value).toEqual({ attempts: [2, 1], destroyedAtReturn: [false, true] })
      expect(destroyedAtNextItem).toEqual([false, true])
      expect(cutOff).toBe(1)
    }))
})

describe("a timed-out request's replacement connection (undici behaviour) stays bounded", () => {
  // undici (nodejs/undici#5845, fix proposed in #5846): after an in-flight HTTP/1 abort the
  // Client moves the aborted request back to pending, opens a new connection for it, then drops
  // the request; the Agent keeps that pool, so one idle socket per aborted request lingers. Not
  // volley's dispatch (one request per attempt reached the server). The bound: those sockets
  // are reused by the next requests, so repeated timeouts never grow the open count.
  it.live("rounds of two concurrent timeouts leave at most two idle sockets, reused by later requests", () =>
    Effect.gen(function*() {
      server.reset()
      const before = server.stats.open // idle sockets the tests above left in the pool
      const hung = Client.text(`${server.url}/hang`, { deadline: "100 millis" })
      const peak: Array<number> = []
      for (let round = 0; round < 3; round++) {
        yield* onPool(Effect.all([hung, hung], { concurrency: 2, mode: "either" }))
        yield* cutOff(2 * (round + 1))
        yield* realDelay(50)
        peak.push(server.stats.open)
      }
      expect(server.requests.length).toBe(6) // one request per attempt: volley sent nothing else
      expect(Math.max(...peak)).toBeLessThanOrEqual(Math.max(before, 2))
      const exit = yield* onPool(Effect.all([Client.text(`${server.url}/ok`), Client.text(`${server.url}/ok`)], { concurrency: 2 }))
      expect(exit._tag).toBe("Success")
      expect(server.stats.open).toBeLessThanOrEqual(Math.max(before, 2))
    }))
})
