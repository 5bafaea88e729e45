/**
 * The simulated body's poll/wait/release contract, the same one the undici transport honours,
 * driven directly below the client on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Effect, Exit, Fiber, Stream, TestClock } from "effect"
import * as Client from "../src/Client.js"
import * as Testing from "../src/Testing.js"
import { request, send } from "./support/transport.js"

describe("Testing: the body contract (poll / wait / release)", () => {
  it.effect("poll hands out what has arrived, undefined while waiting, null at the end; wait sleeps on the clock", () =>
    Effect.gen(function*() {
      const { test, response } = yield* send({ "/t": Testing.text(Testing.trickle(["a", "b"], "2 seconds")) }, request("https://api.test/t"))
      const body = response.body
      const decode = (chunk: Uint8Array | null | undefined) => (chunk instanceof Uint8Array ? new TextDecoder().decode(chunk) : chunk)
      expect(body.contentLength).toBeUndefined()
      expect(decode(body.poll())).toBe("a")
      expect(body.poll()).toBeUndefined()
      const waiting = yield* Effect.fork(body.wait(undefined))
      yield* TestClock.adjust("1999 millis")
      expect(waiting.unsafePoll()).toBeNull()
      expect(body.poll()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(waiting)
      expect(decode(body.poll())).toBe("b")
      expect(body.poll()).toBeNull()
      expect(body.poll()).toBeNull()
      // wait at the end resolves at once.
      yield* body.wait(undefined)
      body.release(false)
      body.release(true) // idempotent
      const [record] = yield* test.requests
      expect(record).toMatchObject({ responseBody: "consumed", bytesRead: 2, respondedAt: 0, endedAt: 2000 })
    }))

  it.effect("a failure mid-body: buffered chunks first, then poll is undefined and wait fails with the error", () =>
    Effect.gen(function*() {
      const { test, response } = yield* send(
        { "/t": { body: ["abc", Testing.pause("1 second"), Testing.failBody("ConnectionReset")] } },
        request("https://api.test/t")
      )
      const body = response.body
      expect(body.poll()?.length).toBe(3)
      expect(body.poll()).toBeUndefined()
      const waiting = yield* Effect.fork(body.wait(undefined))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(waiting) // the failure is now due
      expect(body.poll()).toBeUndefined()
      const error = yield* Effect.flip(body.wait(undefined))
      expect([error.reason, error.code, error.method, error.url]).toEqual(["ConnectionReset", "ECONNRESET", "GET", "https://api.test/t"])
      expect(yield* Effect.flip(body.wait(undefined))).toBe(error)
      body.release(true)
      const [record] = yield* test.requests
      expect(record).toMatchObject({ responseBody: "failed", endedAt: 1000, bytesRead: 3 })
      expect(record!.error).toBe(error)
    }))

  it.effect("a stall never resolves wait; interrupting the wait marks the record interrupted", () =>
    Effect.gen(function*() {
      const { test, response } = yield* send({ "/t": { body: ["x", Testing.stall] } }, request("https://api.test/t"))
      expect(response.body.poll()?.length).toBe(1)
      const exit = yield* Effect.exit(Effect.timeout(response.body.wait(undefined), "1 hour").pipe(TestClock.adjustWith("1 hour")))
      expect(Exit.isFailure(exit)).toBe(true)
      response.body.release(false)
      const [record] = yield* test.requests
      // A stalled remainder cannot be drained: the connection would be closed.
      expect(record).toMatchObject({ interrupted: true, responseBody: "aborted", endedAt: 3_600_000 })
    }))

  it.effect("release drains when at most 64 KiB are still to come, aborts otherwise or when asked", () =>
    Effect.gen(function*() {
      const big = "x".repeat(64 * 1024 + 1)
      const fate = (body: Testing.ResponseSpec["body"], abort: boolean) =>
        Effect.gen(function*() {
          const { test, response } = yield* send({ "/t": { body } }, request("https://api.test/t"))
          response.body.release(abort)
          response.body.release(!abort)
          return (yield* test.requests)[0]!.responseBody
        })
      expect(yield* fate("small", false)).toBe("drained")
      expect(yield* fate("small", true)).toBe("aborted")
      // A whole body has arrived with the headers: it is buffered, so nothing is left to read.
      expect(yield* fate(big, false)).toBe("drained")
      // Still to come over the wire: too much to drain.
      expect(yield* fate(["a", Testing.pause("1 second"), big], false)).toBe("aborted")
      expect(yield* fate(["a", Testing.pause("1 second"), "small"], false)).toBe("drained")
      expect(yield* fate(["a", Testing.failBody()], false)).toBe("aborted")
    }))

  it.effect("a released trickle stops: nothing more is handed out, the record's byte count stays put", () =>
    Effect.gen(function*() {
      const { test, response } = yield* send(
        { "/t": Testing.text(Testing.trickle(["1", "2", "3", "4"], "1 second")) },
        request("https://api.test/t")
      )
      expect(response.body.poll()?.length).toBe(1)
      response.body.release(true)
      yield* TestClock.adjust("10 seconds")
      expect(response.body.poll()).toBeUndefined()
      yield* response.body.wait(undefined) // resolves at once, like the real transport after release
      const [record] = yield* test.requests
      expect(record).toMatchObject({ responseBody: "aborted", bytesRead: 1, endedAt: 0 })
      expect(yield* test.inFlight).toBe(0)
    }))

  it.effect("a whole body arrives with the headers in chunks of up to 64 KiB; a trickle one chunk per step", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const whole = yield* Stream.runCollect(Client.stream("https://api.test/whole"))
        expect(Chunk.toReadonlyArray(whole).map((c) => c.length)).toEqual([65536, 65536, 68])
        expect(yield* Clock.currentTimeMillis).toBe(0)
        const trickled = yield* Stream.runCollect(Client.stream("https://api.test/trickle"))
        expect(Chunk.toReadonlyArray(trickled).map((c) => new TextDecoder().decode(c))).toEqual(["a", "b", "c"])
        expect(yield* Clock.currentTimeMillis).toBe(200)
      })
      yield* Testing.inVirtualTime(program).pipe(
        Effect.provide(Testing.layer({ "/whole": Testing.text("w".repeat(131_140)), "/trickle": Testing.text(Testing.trickle(["a", "b", "c"], 100)) }))
      )
    }))
})
