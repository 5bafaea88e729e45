/**
 * The client's deadlines against real loopback sockets: each one aborts the socket, on the
 * TestClock (the client's timers) and under the live clock alike.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, TestClock } from "effect"
import * as net from "node:net"
import * as Client from "../src/Client.js"
import type { HttpError } from "../src/Errors.js"
import { awaitSleepers, clientLayer, faultServer } from "./support/effect.js"
import { failure } from "./support/client.js"

describe("Client: deadlines are interruption (TestClock)", () => {
  it.scoped("the overall deadline fires while waiting for headers and aborts the socket", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const fiber = yield* Effect.fork(failure(Client.text(`${server.url}/hang`), { deadline: "5 seconds" }))
      yield* Effect.promise(() => server.waitForRequest("/hang"))
      yield* awaitSleepers()
      yield* TestClock.adjust("4999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "deadline"])
      yield* Effect.promise(() => server.waitForClientAbort("/hang"))
    }))

  it.scoped("a headers timeout shorter than the deadline reports the headers phase", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const fiber = yield* Effect.fork(failure(Client.text(`${server.url}/hang`), { headersTimeout: "2 seconds" }))
      yield* Effect.promise(() => server.waitForRequest("/hang"))
      yield* awaitSleepers()
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "headers"])
      yield* Effect.promise(() => server.waitForClientAbort("/hang"))
    }))

  it.scoped("the idle-body timeout fires when the body stalls, and aborts the socket", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const fiber = yield* Effect.fork(failure(Client.bytes(`${server.url}/hang-body?size=100000&sent=10`), { idleTimeout: "3 seconds" }))
      yield* Effect.promise(() => server.waitForRequest("/hang-body"))
      // One sleeper for the headers wait (deadline), then one for the stalled body.
      yield* awaitSleepers()
      yield* TestClock.adjust("1 millis")
      yield* awaitSleepers()
      yield* TestClock.adjust("3 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "body"])
      yield* Effect.promise(() => server.waitForClientAbort("/hang-body"))
    }))

  it.scoped("interrupting the caller aborts its in-flight request", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const fiber = yield* Effect.fork(Effect.provide(Client.text(`${server.url}/hang`), clientLayer()))
      yield* Effect.promise(() => server.waitForRequest("/hang"))
      yield* Fiber.interrupt(fiber)
      yield* Effect.promise(() => server.waitForClientAbort("/hang"))
      expect(server.stats.abortedByClient).toBe(1)
    }))
})

/**
 * The client's failure on a pool built in the test's scope: it outlives the call, so the
 * server seeing the socket closed proves the abort (closing the pool would close it anyway).
 */
const failureOnLivePool = <A>(effect: Effect.Effect<A, HttpError, Client.Client>, options: Client.ClientOptions) =>
  Effect.flatMap(Layer.build(clientLayer({ keepAliveTimeout: "30 seconds", ...options })), (pool) => Effect.flip(Effect.provide(effect, pool)))

/** Live timers fire late on a loaded machine, but not by 3x the timeout plus 500 ms (10x late fails). */
const liveBound = (timeoutMs: number) => 3 * timeoutMs + 500

describe("Client: deadlines under the live clock (transport-armed timers)", () => {
  it.live("a short deadline aborts a hung request in real time", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const started = performance.now()
      const error = yield* failureOnLivePool(Client.text(`${server.url}/hang`), { deadline: "150 millis" })
      const elapsed = performance.now() - started
      expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "deadline"])
      expect(elapsed).toBeGreaterThanOrEqual(145)
      expect(elapsed).toBeLessThanOrEqual(liveBound(150))
      yield* Effect.promise(() => server.waitForClientAbort("/hang", 2_000))
    }).pipe(Effect.scoped))

  it.live("a connection that never completes its handshake is a connect-phase timeout, and the socket is closed", () =>
    Effect.gen(function*() {
      // Accepts TCP and stays silent: for https the connect phase lasts until the TLS
      // handshake completes, so this is the loopback stand-in for a blackholed address.
      const sockets: Array<net.Socket> = []
      let closed = 0
      const silent = net.createServer((socket) => {
        sockets.push(socket)
        socket.resume() // read (and ignore) the ClientHello, so the client's close is seen
        socket.on("close", () => closed++)
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void silent.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => {
          for (const socket of sockets) socket.destroy()
          silent.close()
        })
      )
      const port = (silent.address() as net.AddressInfo).port
      const started = performance.now()
      const error = yield* failureOnLivePool(Client.text(`https://127.0.0.1:${port}/`), { connectTimeout: "200 millis" })
      const elapsed = performance.now() - started
      expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "connect"])
      expect(error.message).toContain("connect")
      // undici runs connect timers on a coarse clock (ticks of ~0.5 s): 200 ms fires after ~1.2 s.
      // Within 1.6 s more; 10x late (2 s, then up to a tick) fails.
      expect(elapsed).toBeGreaterThanOrEqual(195)
      expect(elapsed).toBeLessThanOrEqual(200 + 1_600)
      expect(sockets).toHaveLength(1)
      for (let i = 0; i < 100 && closed < 1; i++) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 20)))
      expect(closed).toBe(sockets.length)
    }).pipe(Effect.scoped))

  it.live("an idle body times out in real time and the socket is closed", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const started = performance.now()
      const error = yield* failureOnLivePool(Client.bytes(`${server.url}/hang-body?size=100000&sent=10`), { idleTimeout: "150 millis" })
      const elapsed = performance.now() - started
      expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "body"])
      // The first chunk comes at once; the body then stalls for the idle timeout.
      expect(elapsed).toBeGreaterThanOrEqual(145)
      expect(elapsed).toBeLessThanOrEqual(liveBound(150))
      yield* Effect.promise(() => server.waitForClientAbort("/hang-body", 2_000))
    }).pipe(Effect.scoped))

  it.live("a trickling body that keeps moving is not an idle timeout", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const body = yield* Effect.provide(
        Client.text(`${server.url}/trickle?chunks=6&interval=30&chunkSize=4`),
        clientLayer({ idleTimeout: "500 millis" })
      )
      expect(body).toBe("t".repeat(24))
    }).pipe(Effect.scoped))
})
