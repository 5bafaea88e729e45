/**
 * One table of timeout cases, run against the real transport (undici over loopback sockets,
 * live clock) and the virtual one (volley/testing, TestClock): both must report the same
 * outcome (reason and phase, or an interruption), end when the timer says, and give the
 * connection up.
 * The deadline code is the same for both (client/deadline.ts decides each bound, the
 * transport arms it on the clock's timer source); this table is what holds them to it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Layer, TestContext } from "effect"
import * as net from "node:net"
import * as Client from "../src/Client.js"
import type { HttpError } from "../src/Errors.js"
import * as Testing from "../src/Testing.js"
import { faultServer } from "./support/effect.js"

/** What a case ended in, in a form both transports can be compared on. */
type Outcome = string

const outcomeOf = (exit: Exit.Exit<unknown, HttpError>): Outcome => {
  if (Exit.isSuccess(exit)) return "success"
  if (Exit.isInterrupted(exit)) return "interrupted"
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  return failure?._tag === "NetworkError" ? `${failure.reason}/${failure.phase ?? "-"}` : `other: ${String(failure?._tag)}`
}

interface Case {
  readonly name: string
  readonly options: Client.ClientOptions
  /** What both transports must report. */
  readonly expected: Outcome
  /** Path on the fault server (its behaviour matches `virtual`). */
  readonly real: string
  readonly virtual: Testing.Handler
  /** Interrupt the caller once the request is under way, instead of waiting for a timer. */
  readonly interrupt?: boolean
}

const ms = 200
const cases: ReadonlyArray<Case> = [
  {
    name: "connect",
    options: { connectTimeout: `${ms} millis` },
    expected: "Timeout/connect",
    real: "silent-tls",
    virtual: Testing.networkError("Timeout", { phase: "connect", latency: `${ms} millis` })
  },
  {
    name: "headers",
    options: { headersTimeout: `${ms} millis` },
    expected: "Timeout/headers",
    real: "/hang",
    virtual: Testing.text("late", { latency: "1 hour" })
  },
  {
    name: "idle body",
    options: { idleTimeout: `${ms} millis` },
    expected: "Timeout/body",
    real: "/hang-body?size=100000&sent=10",
    virtual: Testing.text(["x".repeat(10), Testing.stall], { headers: { "content-length": "100000" } })
  },
  {
    name: "overall deadline, waiting for headers",
    options: { deadline: `${ms} millis` },
    expected: "Timeout/deadline",
    real: "/hang",
    virtual: Testing.text("late", { latency: "1 hour" })
  },
  {
    name: "overall deadline, mid-body",
    options: { deadline: `${ms} millis` },
    expected: "Timeout/deadline",
    real: "/hang-body?size=100000&sent=10",
    virtual: Testing.text(["x".repeat(10), Testing.stall], { headers: { "content-length": "100000" } })
  },
  {
    name: "interruption mid-wait",
    options: {},
    expected: "interrupted",
    real: "/hang",
    virtual: Testing.text("late", { latency: "1 hour" }),
    interrupt: true
  }
]

const once = { retry: { maxAttempts: 1 } } as const

/** A TLS port that accepts TCP and never answers the handshake: the loopback stand-in for a blackholed address. */
const silentTls = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly closed: () => boolean; readonly close: () => void }>((resume) => {
    const sockets: Array<net.Socket> = []
    let closed = 0
    const server = net.createServer((socket) => {
      sockets.push(socket)
      socket.resume()
      socket.on("close", () => closed++)
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({
        port: (server.address() as net.AddressInfo).port,
        closed: () => sockets.length > 0 && closed === sockets.length,
        close: () => {
          for (const socket of sockets) socket.destroy()
          server.close()
        }
      })))
  }),
  (silent) => Effect.sync(() => silent.close())
)

const poll = (check: () => boolean) =>
  Effect.promise(async () => {
    for (let i = 0; i < 250 && !check(); i++) await new Promise((r) => setTimeout(r, 20))
    return check()
  })

/**
 * Whether a case ended when its claim says: a timer case between its timeout and 3x it plus
 * 500 ms (room for a loaded machine; a timer 10x late fails), undici's connect timer on its
 * coarse clock (ticks of ~0.5 s; 200 ms fires after ~1.2 s) within 1.6 s more. Interruption
 * is not a timer claim.
 */
const onTime = (c: Case, elapsedMs: number): boolean =>
  c.interrupt === true || (elapsedMs >= ms - 5 && elapsedMs <= (c.real === "silent-tls" ? ms + 1_600 : 3 * ms + 500))

/**
 * Runs a case over undici and loopback sockets: its outcome, whether it came on time, and
 * whether the connection was given up. The pool is built in the case's scope and outlives
 * the check, so a socket the client failed to abort stays open (closing the pool would
 * close it and hide that).
 */
const runReal = (c: Case) =>
  Effect.gen(function*() {
    const pool = yield* Layer.build(Client.layer({ ...once, keepAliveTimeout: "30 seconds", ...c.options }))
    if (c.real === "silent-tls") {
      const silent = yield* silentTls
      const started = performance.now()
      const exit = yield* Effect.exit(Effect.provide(Client.text(`https://127.0.0.1:${silent.port}/`), pool))
      const elapsed = performance.now() - started
      return { outcome: outcomeOf(exit), onTime: onTime(c, elapsed), gaveUp: yield* poll(silent.closed), elapsed }
    }
    const server = yield* faultServer()
    const path = c.real.split("?")[0]!
    const started = performance.now()
    const fiber = yield* Effect.fork(Effect.provide(Client.text(`${server.url}${c.real}`), pool))
    if (c.interrupt === true) {
      yield* Effect.promise(() => server.waitForRequest(path))
      yield* Fiber.interrupt(fiber)
    }
    const exit = yield* Fiber.await(fiber)
    const elapsed = performance.now() - started
    const gaveUp = yield* Effect.promise(() => server.waitForClientAbort(path, 2_000).then(() => true, () => false))
    return { outcome: outcomeOf(exit), onTime: onTime(c, elapsed), gaveUp, elapsed }
  }).pipe(Effect.scoped)

/** Runs a case over the virtual transport in virtual time: the same answers. */
const runVirtual = (c: Case) =>
  Effect.gen(function*() {
    const url = "https://api.test/case"
    const started = yield* Clock.currentTimeMillis
    const fiber = yield* Effect.fork(Client.text(url))
    if (c.interrupt === true) {
      yield* Testing.awaitRequests(1)
      yield* Fiber.interrupt(fiber)
    }
    const exit = yield* Testing.inVirtualTime(Fiber.await(fiber))
    const elapsed = (yield* Clock.currentTimeMillis) - started
    const [record] = yield* Testing.requests
    const gaveUp = record !== undefined && record.endedAt !== undefined &&
      (record.interrupted || record.responseBody === "aborted" || record.error !== undefined) &&
      (yield* Testing.inFlight) === 0
    return { outcome: outcomeOf(exit), onTime: onTime(c, elapsed), gaveUp, elapsed }
  }).pipe(Effect.provide(Testing.layer({ "/case": c.virtual }, { ...once, ...c.options })))

/** What both transports must agree on (the elapsed time itself differs: live vs virtual clock). */
const verdict = ({ elapsed: _, ...rest }: { outcome: Outcome; onTime: boolean; gaveUp: boolean; elapsed: number }) => rest

describe("timeouts: the real and the virtual transport agree", () => {
  for (const c of cases) {
    it.live(`${c.name}: real transport`, () =>
      Effect.map(runReal(c), (real) => expect(real, `${Math.round(real.elapsed)} ms`).toMatchObject({ outcome: c.expected, onTime: true, gaveUp: true })))

    it.effect(`${c.name}: virtual transport`, () =>
      Effect.map(runVirtual(c), (virtual) => expect(virtual).toMatchObject({ outcome: c.expected, onTime: true, gaveUp: true })))
  }

  it.live("both transports, side by side, give the same answer for every case", () =>
    Effect.gen(function*() {
      const real = yield* Effect.forEach(cases, runReal, { concurrency: cases.length })
      const virtual = yield* Effect.forEach(cases, (c) => runVirtual(c).pipe(Effect.provide(TestContext.TestContext)))
      expect(virtual.map(verdict)).toEqual(real.map(verdict))
    }))
})
