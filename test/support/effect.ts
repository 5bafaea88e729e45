/**
 * Small Effect helpers shared by the transport tests.
 */
import { Effect, Layer, TestClock } from "effect"
import * as Client from "../../src/Client.js"
import { type FaultServer, startFaultServer } from "./FaultServer.js"

/** A fault server as a scoped resource: closed (sockets destroyed) when the test's scope ends. */
export const faultServer = (options?: { readonly tls?: boolean }): Effect.Effect<FaultServer, never, import("effect/Scope").Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startFaultServer(options)),
    (server) => Effect.promise(() => server.close())
  )

/** Waits on the real event loop (for I/O to happen), independent of the test's clock. */
export const realDelay = (ms: number): Effect.Effect<void> =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/**
 * Waits (in real time, bounded) until at least `count` fibers sleep on the TestClock, so a
 * following `TestClock.adjust` is sure to hit the timer under test rather than race it.
 */
export const awaitSleepers = (count = 1, timeoutMs = 5_000): Effect.Effect<void> =>
  Effect.gen(function*() {
    const started = Date.now()
    while ((yield* TestClock.sleeps()).length < count) {
      if (Date.now() - started > timeoutMs) return yield* Effect.dieMessage(`no ${count} sleeper(s) on the TestClock after ${timeoutMs} ms`)
      yield* realDelay(2)
    }
  })

/** The client layer with retries off unless a test asks for them, so failures surface at once. */
export const clientLayer = (options: Client.ClientOptions = {}): Layer.Layer<Client.Client> =>
  Client.layer({ retry: { maxAttempts: 1 }, ...options })

/** The number of TCP handles (client and server sockets, listeners) this process holds. */
export const tcpHandles = (): number => process.getActiveResourcesInfo().filter((name) => name === "TCPSocketWrap" || name === "TCPServerWrap").length
