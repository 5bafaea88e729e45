/**
 * The test kit's request log: what each record says about an exchange, the filters and
 * in-flight counts over it, and waiting for arrivals, at exact virtual times.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Chunk, Clock, Effect, Fiber, Stream, TestClock } from "effect"
import * as Client from "../src/Client.js"
import * as Testing from "../src/Testing.js"

describe("Testing: the request log", () => {
  it.effect("records method, URL, headers, body text (streamed bodies too), route and times", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        yield* Client.text(
          HttpClientRequest.post("https://api.test/upload").pipe(HttpClientRequest.bodyText("hello", "text/plain"))
        )
        yield* Client.text(
          HttpClientRequest.post("https://api.test/upload").pipe(
            HttpClientRequest.bodyStream(Stream.make(new TextEncoder().encode("str"), new TextEncoder().encode("eam")))
          )
        )
        const records = yield* Testing.requests
        expect(records.map((r) => ({ id: r.id, method: r.method, url: r.url, body: r.body, streamed: r.streamedBody, route: r.route })))
          .toEqual([
            { id: 1, method: "POST", url: "https://api.test/upload", body: "hello", streamed: false, route: "POST /upload" },
            { id: 2, method: "POST", url: "https://api.test/upload", body: "stream", streamed: true, route: "POST /upload" }
          ])
        expect(records[0]!.headers["content-type"]).toBe("text/plain")
        expect(records[0]!.headers["user-agent"]).toMatch(/^volley\//)
        expect(records.every((r) => r.responseBody === "consumed" && r.at === 0 && r.endedAt === 0)).toBe(true)
        // Records are snapshots: they do not change under the test's feet.
        expect(Object.isFrozen(records[0])).toBe(true)
      })
      yield* Effect.provide(program, Testing.layer({ "POST /upload": (req) => Testing.text(req.body ?? "") }))
    }))

  it.effect("requestsTo filters by any pattern; maxInFlight and maxInFlightTo count overlapping exchanges", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const urls = [
          ...Array.from({ length: 6 }, (_, i) => `https://a.test/item/${i}`),
          ...Array.from({ length: 3 }, (_, i) => `https://b.test/item/${i}`)
        ]
        yield* Effect.forEach(urls, (url) => Client.text(url), { concurrency: 4 })
        expect(yield* Testing.maxInFlight).toBe(4)
        expect(yield* Testing.inFlight).toBe(0)
        expect(yield* Testing.requestsTo("https://a.test/item/:n")).toHaveLength(6)
        expect(yield* Testing.requestsTo(/b\.test/)).toHaveLength(3)
        expect(yield* Testing.requestsTo("POST /item/:n")).toHaveLength(0)
        expect(yield* Testing.maxInFlightTo("https://a.test/*")).toBe(4)
        // b/0 and b/1 start at 1 s with a/4 and a/5; b/2 only at 2 s, when they have finished.
        expect(yield* Testing.maxInFlightTo("https://b.test/*")).toBe(2)
        const records = yield* Testing.requests
        // Exchanges due at the same instant end together, before the pool starts the next ones.
        expect(records.map((r) => r.concurrent)).toEqual([1, 2, 3, 4, 1, 2, 3, 4, 1])
        // Four at a time, one second each.
        expect(records.map((r) => r.at)).toEqual([0, 0, 0, 0, 1000, 1000, 1000, 1000, 2000])
      })
      yield* Testing.inVirtualTime(program).pipe(Effect.provide(Testing.layer({ "/item/:n": Testing.text("x", { latency: "1 second" }) })))
    }))

  it.effect("awaitRequests suspends until that many requests have arrived", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const fiber = yield* Effect.fork(Effect.forEach([1, 2, 3], (i) => Client.text(`https://api.test/${i}`), { concurrency: "unbounded" }))
        yield* Testing.awaitRequests(3)
        expect((yield* Testing.requests).map((r) => r.path)).toEqual(["/1", "/2", "/3"])
        expect(yield* Testing.inFlight).toBe(3)
        yield* TestClock.adjust("5 seconds")
        expect(yield* Fiber.join(fiber)).toEqual(["ok", "ok", "ok"])
        expect(yield* Testing.inFlight).toBe(0)
      })
      yield* Effect.provide(program, Testing.layer({ "/:n": Testing.text("ok", { latency: "5 seconds" }) }))
    }))

  it.effect("awaitRequests: several waiters for different counts each wake when their count is reached", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const woke: Array<[number, number, number]> = []
        const waitFor = (count: number) =>
          Effect.fork(Effect.gen(function*() {
            yield* Testing.awaitRequests(count)
            woke.push([count, (yield* Testing.requests).length, yield* Clock.currentTimeMillis])
          }))
        const five = yield* waitFor(5)
        const two = yield* waitFor(2)
        const never = yield* waitFor(100)
        const three = yield* waitFor(3)
        // One request a second, one after the other: request n arrives at (n - 1) s.
        yield* Testing.inVirtualTime(Effect.forEach([1, 2, 3, 4, 5], (i) => Client.text(`https://api.test/${i}`)))
        yield* Fiber.joinAll([five, two, three])
        expect(woke).toEqual([[2, 2, 1000], [3, 3, 2000], [5, 5, 4000]])
        // A waiter interrupted before its count came is forgotten; the others still wake.
        yield* Fiber.interrupt(never)
        const six = yield* waitFor(6)
        yield* Testing.inVirtualTime(Client.text("https://api.test/6"))
        yield* Fiber.join(six)
        expect(woke.at(-1)).toEqual([6, 6, 5000])
      })
      yield* Effect.provide(program, Testing.layer({ "/:n": Testing.text("ok", { latency: "1 second" }) }))
    }))

  it.effect("exchanges due at the same instant share one clock sleep; interrupting the one that sleeps leaves the others on time", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const calls = yield* Effect.forEach(
          [1, 2, 3, 4, 5],
          (i) => Effect.fork(Client.text(`https://api.test/${i}`)),
          { concurrency: "unbounded" }
        )
        yield* Testing.awaitRequests(5)
        // Five requests answering at 1 s: one timer on the TestClock, not five.
        expect(Chunk.toReadonlyArray(yield* TestClock.sleeps())).toEqual([1000])
        yield* TestClock.adjust("400 millis")
        // The first one is the one sleeping on the clock; interrupting it hands the sleep over.
        yield* Fiber.interrupt(calls[0]!)
        expect(Chunk.toReadonlyArray(yield* TestClock.sleeps())).toContain(1000)
        yield* TestClock.adjust("599 millis")
        expect(yield* Testing.inFlight).toBe(4)
        yield* TestClock.adjust("1 millis")
        expect(yield* Fiber.join(Fiber.zip(calls[1]!, calls[2]!))).toEqual(["ok 2", "ok 3"])
        expect(yield* Fiber.join(Fiber.zip(calls[3]!, calls[4]!))).toEqual(["ok 4", "ok 5"])
        const records = yield* Testing.requests
        expect(records.map((r) => [r.interrupted, r.endedAt, r.respondedAt])).toEqual([
          [true, 400, undefined],
          [false, 1000, 1000],
          [false, 1000, 1000],
          [false, 1000, 1000],
          [false, 1000, 1000]
        ])
        expect(yield* Testing.inFlight).toBe(0)
      })
      yield* Effect.provide(
        program,
        Testing.layer(
          { "/:n": (req) => Testing.text(`ok ${req.params["n"]}`, { latency: "1 second" }) },
          { retry: { maxAttempts: 1 }, deadline: "none", idleTimeout: "none" }
        )
      )
    }))

  it.effect("interrupting a call before the headers marks its record interrupted, at the virtual time it happened", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const fiber = yield* Effect.fork(Client.text("https://api.test/slow"))
        yield* TestClock.adjust("1500 millis")
        yield* Fiber.interrupt(fiber)
        const [record] = yield* Testing.requests
        expect(record).toMatchObject({ at: 0, endedAt: 1500, interrupted: true, status: undefined, responseBody: "none" })
        expect(yield* Testing.inFlight).toBe(0)
      })
      yield* Effect.provide(program, Testing.layer({ "/slow": Testing.text("late", { latency: "1 minute" }) }))
    }))
})
