/**
 * A request deadline that fires while the request body is still arriving (a slow client:
 * `Content-Length: 100`, then a byte now and then), on a real socket: each client gets a 503
 * or a clean close, no request fiber is left behind, and a graceful shutdown afterwards finds
 * nothing in flight.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as http from "node:http"
import * as net from "node:net"
import * as GracefulServer from "../../src/server/GracefulServer.js"
import * as Middleware from "../../src/server/Middleware.js"
import { captureLogs, listenOptions, serve } from "./helpers.js"

interface SlowClient {
  /** Everything the server sent, once the socket closed. */
  readonly closed: Promise<string>
}

/** Sends the headers of a 100-byte POST, then one body byte every `everyMs`, until the server closes. */
const slowBody = (port: number, everyMs: number): SlowClient => {
  const socket = net.connect(port, "127.0.0.1")
  let data = ""
  let sent = 0
  socket.setEncoding("utf8").on("data", (d: string) => (data += d))
  socket.on("error", () => {})
  socket.write("POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n")
  const timer = setInterval(() => {
    if (sent++ < 99 && !socket.destroyed) socket.write("x")
  }, everyMs)
  const closed = new Promise<string>((resolve) => socket.on("close", () => {
    clearInterval(timer)
    resolve(data)
  }))
  // Bounded: a socket the server never closes is ended by the test.
  setTimeout(() => socket.destroy(), 8_000).unref()
  return { closed }
}

describe("withDeadline with a request body still arriving", () => {
  it.scopedLive("20 slow-body clients: each gets 503 or a clean close; shutdown then reports nothing in flight", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const upload = Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const text = yield* request.text
        return HttpServerResponse.text(`got ${text.length}`)
      })
      const app = HttpRouter.empty.pipe(HttpRouter.post("/upload", upload), Middleware.withDeadline("400 millis"))
      const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
      const { port } = yield* serve(
        app,
        GracefulServer.layer(() => http.createServer(), { ...listenOptions, drainTimeout: "1 second", interruptTimeout: "300 millis" })
      ).pipe(Scope.extend(scope))

      const started = Date.now()
      const clients = Array.from({ length: 20 }, () => slowBody(port, 150))
      const answers = yield* Effect.promise(() => Promise.all(clients.map((c) => c.closed)))
      // Closed by the server soon after the deadline, not by the test's 8 s guard.
      expect(Date.now() - started).toBeLessThan(4_000)
      for (const answer of answers) {
        // A 503, or nothing at all (a clean close): never a half-written answer.
        if (answer !== "") expect(answer).toMatch(/^HTTP\/1\.1 503 /)
      }

      const closing = Date.now()
      yield* Scope.close(scope, Exit.void)
      const messages = logs.entries.map((e) => e.message)
      expect(messages.filter((m) => /in flight|ignored interruption|interrupting/.test(m))).toEqual([])
      // The deadline fired for each (it is what closed them), and nothing was left to drain.
      expect(messages.filter((m) => m.startsWith("request deadline (400ms) exceeded"))).toHaveLength(20)
      expect(Date.now() - closing).toBeLessThan(900)
    }).pipe(Effect.provide(logs.layer))
  })
})

describe("GracefulServer: a response for a connection already gone", () => {
  it.scopedLive("a handler that answers after its client left (mid-body) does not stay in flight; shutdown finds nothing", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      // Answers 400 with a body when the body read fails, as many handlers do: here the failure
      // is the client hanging up, so the connection is destroyed by the time the answer goes.
      const upload = Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        return yield* request.text.pipe(
          Effect.map((text) => HttpServerResponse.text(`got ${text.length}`)),
          Effect.catchAll(() => Effect.succeed(HttpServerResponse.text("incomplete body", { status: 400 })))
        )
      })
      // A raw app, which the platform runs uninterruptibly: the client's disconnect cannot stop it.
      const app = upload
      const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
      const { port } = yield* serve(
        app,
        GracefulServer.layer(() => http.createServer(), { ...listenOptions, drainTimeout: "500 millis", interruptTimeout: "300 millis" })
      ).pipe(Scope.extend(scope))
      const sockets = Array.from({ length: 5 }, () => {
        const socket = net.connect(port, "127.0.0.1")
        socket.on("error", () => {})
        socket.write("POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nabc")
        return socket
      })
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 150)))
      for (const socket of sockets) socket.destroy()
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 150)))
      yield* Scope.close(scope, Exit.void)
      const messages = logs.entries.map((e) => e.message)
      expect(messages.filter((m) => /in flight|ignored interruption|interrupting/.test(m))).toEqual([])
    }).pipe(Effect.provide(logs.layer))
  })
})
