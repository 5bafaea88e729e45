/**
 * Batch: fan-out over real loopback sockets for the network claims (order, typed errors,
 * fail-fast aborts, per-host limits, interruption), and over a tiny virtual transport on the
 * TestClock for the time rules (rate limits, batch deadline, hedging).
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Chunk, Clock, Data, Effect, Either, Fiber, Layer, Stream, TestClock } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Batch from "../src/Batch.js"
import * as Client from "../src/Client.js"
import { within } from "../src/internal/transport/timer.js"
import type { Timeout, Transport, TransportRequest, TransportResponse } from "../src/Client.js"
import { awaitSleepers, clientLayer, faultServer, realDelay } from "./support/effect.js"
import { runNode } from "./support/spawn.js"

// ---------------------------------------------------------------------------------------------
// A virtual transport: answers on the Effect clock, records when each request went out and
// whether it was interrupted. For timing rules only; network claims use real sockets.

interface Sent {
  readonly url: string
  readonly method: string
  readonly at: number
  interrupted: boolean
}

const bound = <A, E>(timeout: Timeout | undefined, effect: Effect.Effect<A, E>) =>
  timeout === undefined ? effect : within(effect, timeout.ms, timeout.error, timeout.timer)

const emptyBody: TransportResponse["body"] = { contentLength: 0, poll: () => null, wait: () => Effect.void, release: () => {} }

const virtual = (answer: (request: TransportRequest, nth: number) => Effect.Effect<number>, options: Client.ClientOptions = {}) => {
  const sent: Array<Sent> = []
  const perUrl = new Map<string, number>()
  const transport: Transport = {
    // Bounded as the contract asks: the client's timeout, armed on its timer (the one `within`).
    send: (request, timeout) =>
      bound(timeout, Effect.gen(function*() {
        const entry: Sent = { url: request.url.href, method: request.method, at: yield* Clock.currentTimeMillis, interrupted: false }
        sent.push(entry)
        const nth = (perUrl.get(entry.url) ?? 0) + 1
        perUrl.set(entry.url, nth)
        const status = yield* Effect.onInterrupt(answer(request, nth), () => Effect.sync(() => (entry.interrupted = true)))
        return { status, headers: {}, body: emptyBody }
      }))
  }
  const layer = Layer.succeed(Client.Client, Client.makeWithTransport(transport, { retry: { maxAttempts: 1 }, ...options }))
  return { sent, layer }
}

/** Answers 200 after `ms` of Clock time. */
const after = (ms: number, status = 200) => Effect.as(Effect.sleep(ms), status)

class Rejected extends Data.TaggedError("Rejected")<{ readonly reason: string }> {}

/** Waits (real time, bounded) until `check` holds: for server-side counters that lag the client. */
const eventually = (check: () => boolean, timeoutMs = 5_000) =>
  Effect.gen(function*() {
    const started = Date.now()
    while (!check()) {
      if (Date.now() - started > timeoutMs) return yield* Effect.dieMessage("condition not met in time")
      yield* realDelay(5)
    }
  })

// ---------------------------------------------------------------------------------------------

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

describe("Batch.stream", () => {
  it.scopedLive("emits outcomes as they complete, with their input positions", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const inputs = [`${server.url}/slow?ms=150`, `${server.url}/ok`, `${server.url}/status/500`]
      const outcomes = yield* Batch.stream(inputs, { concurrency: 3 }).pipe(Stream.runCollect, Effect.provide(clientLayer()))
      const order = Chunk.toReadonlyArray(outcomes).map((o) => o.index)
      expect(order[2]).toBe(0) // the slow one finishes last
      expect([...order].sort()).toEqual([0, 1, 2])
    }))

  it.scopedLive("ending the stream early aborts the requests still in flight", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const inputs = [`${server.url}/ok`, `${server.url}/hang?1`, `${server.url}/hang?2`]
      const first = yield* Batch.stream(inputs, { concurrency: 3 }).pipe(
        Stream.tap(() => Effect.promise(() => server.waitForRequest("/hang", 2))),
        Stream.take(1),
        Stream.runCollect,
        Effect.provide(clientLayer())
      )
      expect(Chunk.size(first)).toBe(1)
      yield* eventually(() => server.stats.abortedByClient === 2 && server.stats.inFlight === 0)
    }))

  // What is measured is how far input is pulled ahead of the outcomes (the bound that keeps
  // memory flat), not memory itself: a heap figure without a forced GC would be noise.
  it.effect("reads a large input lazily: never more than an input chunk plus in-flight work pulled ahead", () =>
    Effect.gen(function*() {
      // No deadline: this is about the pool, not the client's timers.
      const { layer } = virtual(() => Effect.succeed(200), { deadline: "none", idleTimeout: "none" })
      let pulled = 0
      let maxAhead = 0
      let emitted = 0
      function* inputs() {
        for (let i = 0; i < 10_000; i++) {
          pulled++
          maxAhead = Math.max(maxAhead, pulled - emitted)
          yield `http://a.test/${i}`
        }
      }
      const tally = Batch.tally()
      yield* Batch.stream(inputs(), { concurrency: 32 }).pipe(
        Stream.runForEach((outcome) => Effect.sync(() => {
          emitted++
          tally.add(outcome)
        })),
        Effect.provide(layer)
      )
      expect(tally.summary().total).toBe(10_000)
      expect(tally.summary().outcomes).toEqual({ ok: 10_000 })
      // Never more than an input chunk plus the in-flight and buffered outcomes ahead.
      expect(maxAhead).toBeLessThan(4096 + 64 + 32 + 1)
    }))

  it.effect("fails with BatchDeadlineError after emitting what finished in time", () =>
    Effect.gen(function*() {
      const { layer, sent } = virtual((request) => (request.url.pathname === "/hang" ? Effect.never : after(10)))
      const fiber = yield* Effect.fork(
        Batch.stream(["http://a.test/ok", "http://a.test/hang"], { batchDeadline: "1 second" }).pipe(
          Stream.either,
          Stream.runCollect,
          Effect.provide(layer)
        )
      )
      yield* awaitSleepers(2)
      yield* TestClock.adjust("10 millis")
      yield* awaitSleepers(1)
      yield* TestClock.adjust("990 millis")
      const results = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      expect(results.length).toBe(2)
      const [first, second] = results
      expect(first?._tag === "Right" && first.right.index).toBe(0)
      expect(second?._tag === "Left" && second.left._tag).toBe("BatchDeadlineError")
      expect(sent.find((s) => s.url.endsWith("/hang"))!.interrupted).toBe(true)
    }))
})

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
