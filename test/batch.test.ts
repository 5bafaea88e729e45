/**
 * Batch: fan-out over real loopback sockets for the network claims (order, typed errors,
 * fail-fast aborts, per-host limits, interruption), and over a tiny virtual transport on the
 * TestClock for the time rules (rate limits, batch deadline). Batch.stream and hedging have
 * their own files (test/batchStream.test.ts, test/hedging.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Data, Effect, Either, Fiber, TestClock } from "effect"
import * as Batch from "../src/Batch.js"
import { awaitSleepers, clientLayer, faultServer } from "./support/effect.js"
import { runNode } from "./support/spawn.js"
import { after, eventually, virtual } from "./support/batch.js"

class Rejected extends Data.TaggedError("Rejected")<{ readonly reason: string }> {}

describe("Batch.settle", () => {
  it.scopedLive("keeps input order, and each failure keeps its own typed error", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const inputs = [
        `${server.url}/slow?ms=60`,
        `${server.url}/status/503`,
        `${server.url}/ok?size=1000`,
        "not a url",
        "http://127.0.0.1:1/refused",
        `${server.url}/status/404`,
        HttpClientRequest.post(`${server.url}/echo`).pipe(HttpClientRequest.bodyText("hi"))
      ]
      const outcomes = yield* Effect.provide(Batch.settle(inputs, { concurrency: 4 }), clientLayer())
      expect(outcomes.map((o) => o.index)).toEqual([0, 1, 2, 3, 4, 5, 6])
      expect(outcomes.map((o) => o.item)).toEqual(inputs)
      expect(outcomes[0]!.result).toEqual(Either.right({ status: 200, bytes: 2 }))
      expect(outcomes[2]!.result).toEqual(Either.right({ status: 200, bytes: 1000 }))
      expect(outcomes[2]!.bytes).toBe(1000)
      const error = (i: number) => Either.getLeft(outcomes[i]!.result).pipe((o) => (o._tag === "Some" ? o.value : undefined))
      expect(error(1)).toMatchObject({ _tag: "StatusError", status: 503 })
      expect(outcomes[1]!.status).toBe(503)
      expect(error(3)).toMatchObject({ _tag: "InvalidUrlError" })
      expect(error(4)).toMatchObject({ _tag: "NetworkError", reason: "ConnectionRefused" })
      expect(error(5)).toMatchObject({ _tag: "StatusError", status: 404 })
      expect(outcomes[6]!.status).toBe(200)
      // Timing: the slow one took its time, every sent item counts one attempt.
      expect(outcomes[0]!.durationMs).toBeGreaterThanOrEqual(50)
      expect(outcomes.map((o) => o.attempts)).toEqual([1, 1, 1, 1, 1, 1, 1])
      const summary = Batch.summarize(outcomes)
      expect(summary).toMatchObject({ total: 7, succeeded: 3, failed: 4, bytes: 2 + 1000 + outcomes[6]!.bytes })
      expect(summary.outcomes).toEqual({ ok: 3, "HTTP 503": 1, "HTTP 404": 1, InvalidUrlError: 1, ConnectionRefused: 1 })
      expect(summary.latency.max).toBeGreaterThanOrEqual(50)
    }))

  it.scopedLive("counts retries as attempts and runs the caller's handler, typed errors included", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const outcomes = yield* Batch.settle([`${server.url}/flaky?key=a&failures=2`, `${server.url}/json`], {
        requestOptions: { retry: { maxAttempts: 3, baseDelay: "1 millis", jitter: false } },
        handle: (response) =>
          Effect.flatMap(response.text, (text) => (text.startsWith("{") ? Effect.fail(new Rejected({ reason: "json" })) : Effect.succeed(text.length)))
      }).pipe(Effect.provide(clientLayer()))
      expect(outcomes[0]!.result).toEqual(Either.right("ok after 2".length))
      expect(outcomes[0]!.attempts).toBe(3)
      expect(outcomes[1]!.result).toEqual(Either.left(new Rejected({ reason: "json" })))
      expect(Batch.summarize(outcomes).outcomes).toEqual({ ok: 1, Rejected: 1 })
    }))

  it.scopedLive("interrupting the batch aborts every request in flight", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const fiber = yield* Effect.fork(Effect.provide(Batch.settle([1, 2, 3].map((i) => `${server.url}/hang?i=${i}`)), clientLayer()))
      yield* Effect.promise(() => server.waitForRequest("/hang", 3))
      yield* Fiber.interrupt(fiber)
      yield* eventually(() => server.stats.abortedByClient === 3 && server.stats.inFlight === 0)
    }))

  it.scopedLive("holds the per-host limit on each of two hosts", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const hosts = [`127.0.0.1:${server.port}`, `localhost:${server.port}`]
      const inputs = Array.from({ length: 16 }, (_, i) => `http://${hosts[i % 2]}/slow?ms=30&i=${i}`)
      const outcomes = yield* Effect.provide(Batch.settle(inputs, { concurrency: 10, perHost: 2 }), clientLayer())
      expect(outcomes.every(Batch.isSuccess)).toBe(true)
      expect(server.maxInFlightByHost.get(hosts[0]!)).toBe(2)
      expect(server.maxInFlightByHost.get(hosts[1]!)).toBe(2)
      expect(server.stats.maxInFlight).toBeLessThanOrEqual(4)
    }))

  it.effect("the rate limit spaces request starts on the Clock", () =>
    Effect.gen(function*() {
      const { layer, sent } = virtual(() => Effect.succeed(200))
      const inputs = Array.from({ length: 10 }, (_, i) => `http://a.test/${i}`)
      const fiber = yield* Effect.fork(Effect.provide(Batch.settle(inputs, { concurrency: 10, rate: 5 }), layer))
      for (let step = 0; step < 20 && sent.length < 10; step++) {
        yield* awaitSleepers(1)
        yield* TestClock.adjust("100 millis")
      }
      const outcomes = yield* Fiber.join(fiber)
      expect(outcomes.every(Batch.isSuccess)).toBe(true)
      // 5 per second: one start every 200 ms, never two in the same window.
      expect(sent.map((s) => s.at)).toEqual([0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800])
      expect(outcomes.map((o) => o.startMs)).toEqual([0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800])
    }))

  it.effect("a per-host rate limits each host on its own", () =>
    Effect.gen(function*() {
      const { layer, sent } = virtual(() => Effect.succeed(200))
      const inputs = Array.from({ length: 40 }, (_, i) => `http://${i % 2 === 0 ? "a" : "b"}.test/${i}`)
      const fiber = yield* Effect.fork(Effect.provide(Batch.settle(inputs, { concurrency: 40, perHostRate: 100 }), layer))
      for (let step = 0; step < 10 && sent.length < 40; step++) {
        yield* awaitSleepers(1)
        yield* TestClock.adjust("100 millis")
      }
      yield* Fiber.join(fiber)
      // 100/s per host: 10 starts per 100 ms window for each host, so 20 per window in all.
      const perWindow = (host: string) => [0, 100].map((t) => sent.filter((s) => s.url.includes(host) && s.at === t).length)
      expect(perWindow("a.test")).toEqual([10, 10])
      expect(perWindow("b.test")).toEqual([10, 10])
    }))

  it.effect("the batch deadline interrupts what is in flight and settles the rest as BatchDeadlineError", () =>
    Effect.gen(function*() {
      const { layer, sent } = virtual((request) => (request.url.pathname === "/hang" ? Effect.never : after(100)))
      const inputs = ["http://a.test/fast", "http://a.test/hang", "http://a.test/hang?2", "http://a.test/fast?3", "http://a.test/fast?4"]
      const fiber = yield* Effect.fork(Effect.provide(Batch.settle(inputs, { concurrency: 2, batchDeadline: "1 second" }), layer))
      yield* awaitSleepers(2)
      yield* TestClock.adjust("1 second")
      const outcomes = yield* Fiber.join(fiber)
      expect(outcomes.map((o) => Either.isRight(o.result) ? "ok" : o.result.left._tag)).toEqual([
        "ok",
        "BatchDeadlineError",
        "BatchDeadlineError",
        "BatchDeadlineError",
        "BatchDeadlineError"
      ])
      const started = outcomes.map((o) => Either.isLeft(o.result) && o.result.left._tag === "BatchDeadlineError" ? o.result.left.started : null)
      expect(started).toEqual([null, true, true, false, false])
      expect(outcomes[1]!.durationMs).toBe(1000)
      expect(outcomes[3]!.attempts).toBe(0)
      expect(sent.filter((s) => s.url.includes("hang")).every((s) => s.interrupted)).toBe(true)
      expect(Batch.summarize(outcomes).outcomes).toEqual({ ok: 1, BatchDeadlineError: 4 })
    }))
})

describe("Batch.failFast", () => {
  it.scopedLive("the first error interrupts every other request in flight", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const hangs = [1, 2, 3].map((i) => `${server.url}/hang?i=${i}`)
      const trigger = `${server.url}/ok`
      const error = yield* Batch.failFast([...hangs, trigger], {
        concurrency: 4,
        handle: (_response, item) =>
          item === trigger
            // Fail only once every hang is in flight, so their aborts are what the server sees.
            ? Effect.flatMap(Effect.promise(() => server.waitForRequest("/hang", 3)), () => Effect.fail(new Rejected({ reason: "boom" })))
            : Effect.succeed("never")
      }).pipe(Effect.flip, Effect.provide(clientLayer()))
      expect(error).toEqual(new Rejected({ reason: "boom" }))
      yield* Effect.promise(() => server.waitForClientAbort("/hang"))
      yield* eventually(() => server.stats.abortedByClient === 3 && server.stats.inFlight === 0)
    }))

  it.effect("stops at the first error on the TestClock too, with siblings parked in the client's deadline", () =>
    Effect.gen(function*() {
      // Under a TestClock each wait is bounded by a clock timer (within); Effect.forEach's
      // own fail-fast would not interrupt those siblings until their 30 s deadline.
      const { layer, sent } = virtual((request) => (request.url.pathname === "/fail" ? after(10, 500) : Effect.never))
      const fiber = yield* Effect.fork(Effect.provide(Effect.flip(Batch.failFast(["http://a.test/1", "http://a.test/2", "http://a.test/fail"])), layer))
      yield* awaitSleepers(3)
      yield* TestClock.adjust("10 millis")
      const error = yield* Fiber.join(fiber)
      expect(error).toMatchObject({ _tag: "StatusError", status: 500 })
      expect(sent.filter((s) => !s.url.endsWith("/fail")).every((s) => s.interrupted)).toBe(true)
    }))

  it.scopedLive("returns every value in input order when all succeed", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const values = yield* Batch.failFast([`${server.url}/slow?ms=40&size=3`, `${server.url}/ok?size=5`], { concurrency: 2 }).pipe(
        Effect.provide(clientLayer())
      )
      expect(values).toEqual([{ status: 200, bytes: 3 }, { status: 200, bytes: 5 }])
    }))

  it.effect("fails with BatchDeadlineError when the batch deadline passes", () =>
    Effect.gen(function*() {
      const { layer, sent } = virtual(() => Effect.never)
      const fiber = yield* Effect.fork(Effect.provide(Effect.flip(Batch.failFast(["http://a.test/1", "http://a.test/2"], { batchDeadline: "5 seconds" })), layer))
      yield* awaitSleepers(1)
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error._tag).toBe("BatchDeadlineError")
      expect(sent.every((s) => s.interrupted)).toBe(true)
    }))
})

describe("summaries", () => {
  it("counts outcomes and computes percentiles within 1%", () => {
    const outcomes = Array.from({ length: 100 }, (_, i) => ({
      result: i < 90 ? Either.right("x") : Either.left({ _tag: "NetworkError", reason: "Timeout" }),
      bytes: 10,
      startMs: i,
      durationMs: i + 1,
      attempts: 1
    }))
    const summary = Batch.summarize(outcomes)
    expect(summary).toMatchObject({ total: 100, succeeded: 90, failed: 10, bytes: 1000, elapsedMs: 199 })
    expect(summary.outcomes).toEqual({ ok: 90, Timeout: 10 })
    expect(summary.latency.max).toBe(100)
    expect(summary.latency.p50).toBeCloseTo(50, -0.5)
    expect(Math.abs(summary.latency.p50 - 50) / 50).toBeLessThanOrEqual(0.01)
    expect(Math.abs(summary.latency.p90 - 90) / 90).toBeLessThanOrEqual(0.01)
    expect(Math.abs(summary.latency.p99 - 99) / 99).toBeLessThanOrEqual(0.01)
    expect(summary.latency.mean).toBeCloseTo(50.5)
    expect(summary.throughput).toBeCloseTo((100 * 1000) / 199)
  })
})

describe("examples", () => {
  it("fan-out.ts: fetches concurrently and aggregates statuses", async () => {
    const run = await runNode(["dist/examples/fan-out.js"])
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    const lines = run.stdout.trim().split("\n")
    expect(lines[0]).toBe("/fast: 200 (2 bytes)")
    expect(lines).toContain("/missing: HTTP 404")
    expect(lines).toContain("/busy: HTTP 503")
    expect(lines).toContain("/slow: timeout (deadline)")
    expect(lines.at(-1)).toMatch(/^5 requests: ok 2, HTTP 404 1, HTTP 503 1, Timeout 1$/)
  })
})
