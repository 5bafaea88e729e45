/**
 * Hedging: a second attempt after a delay, the loser interrupted. The timing on a tiny virtual
 * transport and the TestClock; the abort of the stuck request over real loopback sockets.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Effect, Either, Fiber, TestClock } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Batch from "../src/Batch.js"
import { awaitSleepers, clientLayer } from "./support/effect.js"
import { after, eventually, virtual } from "./support/batch.js"

describe("hedging", () => {
  it.effect("sends the second attempt only after the delay, and interrupts the loser", () =>
    Effect.gen(function*() {
      // The first attempt would take 1 s, the hedge 10 ms.
      const { layer, sent } = virtual((_request, nth) => after(nth === 1 ? 1000 : 10))
      const fiber = yield* Effect.fork(Effect.provide(Batch.settle(["http://a.test/x"], { hedge: "100 millis" }), layer))
      yield* awaitSleepers(2)
      yield* TestClock.adjust("99 millis")
      expect(sent.length).toBe(1)
      yield* TestClock.adjust("1 millis")
      yield* awaitSleepers(2)
      expect(sent.map((s) => s.at)).toEqual([0, 100])
      yield* TestClock.adjust("10 millis")
      const [outcome] = yield* Fiber.join(fiber)
      expect(outcome!.result).toEqual(Either.right({ status: 200, bytes: 0 }))
      expect(outcome!.attempts).toBe(2)
      expect(outcome!.durationMs).toBe(110)
      expect(sent[0]!.interrupted).toBe(true)
      expect(sent[1]!.interrupted).toBe(false)
    }))

  it.effect("does not hedge a POST, nor an attempt that failed before the delay", () =>
    Effect.gen(function*() {
      const { layer, sent } = virtual((request) => (request.url.pathname === "/fail" ? after(10, 500) : after(500)))
      const fiber = yield* Effect.fork(Effect.provide(
        Batch.settle([HttpClientRequest.post("http://a.test/post"), "http://a.test/fail"], { hedge: "100 millis", concurrency: 2 }),
        layer
      ))
      yield* awaitSleepers(2)
      yield* TestClock.adjust("500 millis")
      const outcomes = yield* Fiber.join(fiber)
      expect(sent.map((s) => s.url)).toEqual(["http://a.test/post", "http://a.test/fail"])
      expect(outcomes[0]!.result._tag).toBe("Right")
      expect(outcomes[1]!.status).toBe(500)
      expect(outcomes.map((o) => o.attempts)).toEqual([1, 1])
    }))

  it.scopedLive("over real sockets: the hedge answers and the stuck first request is aborted", () =>
    Effect.gen(function*() {
      let calls = 0
      let abortedFirst = false
      const server = yield* Effect.acquireRelease(
        Effect.async<http.Server>((resume) => {
          const s = http.createServer((_req, res) => {
            calls++
            if (calls === 1) {
              res.on("close", () => (abortedFirst = !res.writableFinished))
              return // the first request hangs
            }
            res.end("fast")
          })
          s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
        }),
        (s) => Effect.async<void>((resume) => {
          s.closeAllConnections()
          s.close(() => resume(Effect.void))
        })
      )
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`
      const [outcome] = yield* Effect.provide(Batch.settle([url], { hedge: "50 millis" }), clientLayer())
      expect(outcome!.result).toEqual(Either.right({ status: 200, bytes: 4 }))
      expect(outcome!.attempts).toBe(2)
      yield* eventually(() => abortedFirst)
    }))
})
