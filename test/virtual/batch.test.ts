/**
 * Batch in virtual time, over the simulated transport: concurrency and per-host limits,
 * hedging, rate limits, deadlines and fail-fast, each checked at exact virtual times from the
 * transport's own records (when each request arrived, ended, and whether it was interrupted).
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Chunk, Clock, Effect, Either, Stream } from "effect"
import * as Batch from "../../src/Batch.js"
import type * as Client from "../../src/Client.js"
import * as Testing from "../../src/Testing.js"

type Env = Client.Client | Testing.TestTransport

const run = <A, E>(routes: Testing.Routes, program: Effect.Effect<A, E, Env>, options?: Client.ClientOptions) =>
  Testing.inVirtualTime(program).pipe(Effect.provide(Testing.layer(routes, { retry: { maxAttempts: 1 }, ...options })))

const urls = (host: string, n: number) => Array.from({ length: n }, (_, i) => `https://${host}/item/${i}`)
const arrivals = Effect.map(Testing.requests, (records) => records.map((r) => r.at))
const now = Clock.currentTimeMillis

describe("virtual time: Batch limits", () => {
  it.effect("concurrency: at most N in flight; the next starts the moment one finishes; outcomes in input order", () =>
    run(
      { "/item/:n": (req) => Testing.text(req.params["n"]!, { latency: `${100 * (1 + (Number(req.params["n"]) % 3))} millis` }) },
      Effect.gen(function*() {
        const outcomes = yield* Batch.settle(urls("a.test", 12), { concurrency: 4 })
        expect(outcomes.map((o) => o.index)).toEqual(Array.from({ length: 12 }, (_, i) => i))
        expect(outcomes.every((o) => Either.isRight(o.result) && o.status === 200)).toBe(true)
        expect(yield* Testing.maxInFlight).toBe(4)
        const records = yield* Testing.requests
        // Latencies 100/200/300 ms by n % 3: each start coincides with an end (or time 0).
        const ends = new Set(records.map((r) => r.endedAt))
        expect(records.every((r) => r.at === 0 || ends.has(r.at))).toBe(true)
        expect(records.map((r) => r.concurrent).every((c) => c <= 4)).toBe(true)
        const sentAt = new Map(records.map((r) => [r.url, r.at]))
        expect(outcomes.map((o) => o.startMs)).toEqual(outcomes.map((o) => sentAt.get(o.item)))
        expect(yield* Testing.inFlight).toBe(0)
      })
    ))

  it.effect("perHost: each host gets at most its share, the global limit still holds", () =>
    run(
      { "/item/:n": Testing.text("x", { latency: "1 second" }) },
      Effect.gen(function*() {
        yield* Batch.settle([...urls("a.test", 6), ...urls("b.test", 6)], { concurrency: 10, perHost: 2 })
        expect(yield* Testing.maxInFlightTo("https://a.test/*")).toBe(2)
        expect(yield* Testing.maxInFlightTo("https://b.test/*")).toBe(2)
        expect(yield* Testing.maxInFlight).toBe(4)
        // Three waves of two per host.
        expect(yield* now).toBe(3000)
      })
    ))

  it.effect("rate: request starts are spread on the clock (2 per second: one every 500 ms)", () =>
    run(
      { "/item/:n": Testing.text("x") },
      Effect.gen(function*() {
        yield* Batch.settle(urls("a.test", 6), { concurrency: 6, rate: 2 })
        expect(yield* arrivals).toEqual([0, 500, 1000, 1500, 2000, 2500])
      })
    ))

  it.effect("rate: 20 per second goes out as 2 every 100 ms", () =>
    run(
      { "/item/:n": Testing.text("x") },
      Effect.gen(function*() {
        yield* Batch.settle(urls("a.test", 8), { concurrency: 8, rate: 20 })
        expect(yield* arrivals).toEqual([0, 0, 100, 100, 200, 200, 300, 300])
      })
    ))

  it.effect("perHostRate limits each host on its own", () =>
    run(
      { "/item/:n": Testing.text("x") },
      Effect.gen(function*() {
        yield* Batch.settle([...urls("a.test", 3), ...urls("b.test", 3)], { concurrency: 6, perHostRate: 1 })
        const at = (host: string) => Effect.map(Testing.requestsTo(`https://${host}/*`), (rs) => rs.map((r) => r.at))
        expect(yield* at("a.test")).toEqual([0, 1000, 2000])
        expect(yield* at("b.test")).toEqual([0, 1000, 2000])
      })
    ))
})

describe("virtual time: Batch hedging", () => {
  it.effect("a slow first attempt is hedged after the delay; the hedge wins and the first is interrupted", () =>
    run(
      { "/item/:n": [Testing.text("slow", { latency: "5 seconds" }), Testing.text("fast", { latency: "50 millis" })] },
      Effect.gen(function*() {
        const [outcome] = yield* Batch.settle(urls("a.test", 1), { hedge: "200 millis", handle: (r) => r.text })
        expect(outcome!.result).toEqual(Either.right("fast"))
        expect(outcome!.attempts).toBe(2)
        const records = yield* Testing.requests
        expect(records.map((r) => [r.at, r.endedAt, r.interrupted, r.responseBody])).toEqual([
          [0, 250, true, "none"],
          [200, 250, false, "consumed"]
        ])
        expect(yield* now).toBe(250)
      })
    ))

  it.effect("an attempt that answers before the delay is not hedged", () =>
    run(
      { "/item/:n": Testing.text("quick", { latency: "150 millis" }) },
      Effect.gen(function*() {
        const [outcome] = yield* Batch.settle(urls("a.test", 1), { hedge: "200 millis" })
        expect(outcome!.attempts).toBe(1)
        expect(yield* Testing.requests).toHaveLength(1)
      })
    ))

  it.effect("when the first attempt wins, the hedge is the one interrupted", () =>
    run(
      { "/item/:n": [Testing.text("first", { latency: "300 millis" }), Testing.text("hedge", { latency: "1 second" })] },
      Effect.gen(function*() {
        const [outcome] = yield* Batch.settle(urls("a.test", 1), { hedge: "200 millis", handle: (r) => r.text })
        expect(outcome!.result).toEqual(Either.right("first"))
        const records = yield* Testing.requests
        expect(records.map((r) => [r.at, r.endedAt, r.interrupted])).toEqual([[0, 300, false], [200, 300, true]])
      })
    ))

  it.effect("a POST is never hedged", () =>
    run(
      { "POST /item/:n": Testing.text("slow", { latency: "5 seconds" }) },
      Effect.gen(function*() {
        yield* Batch.settle([HttpClientRequest.post("https://a.test/item/0")], { hedge: "200 millis" })
        expect(yield* Testing.requests).toHaveLength(1)
      })
    ))
})

describe("virtual time: Batch deadlines and fail-fast", () => {
  it.effect("itemDeadline times out a hung item on its own", () =>
    run(
      { "/item/2": Testing.text("never", { latency: "1 hour" }), "/item/:n": Testing.text("x", { latency: "100 millis" }) },
      Effect.gen(function*() {
        const outcomes = yield* Batch.settle(urls("a.test", 4), { itemDeadline: "2 seconds" })
        const hung = outcomes[2]!.result
        expect(Either.isLeft(hung) && hung.left._tag === "NetworkError" && [hung.left.reason, hung.left.phase]).toEqual(["Timeout", "deadline"])
        expect(outcomes.filter((o) => Either.isRight(o.result))).toHaveLength(3)
        expect(yield* now).toBe(2000)
      })
    ))

  it.effect("batchDeadline interrupts what is in flight and cuts off what was never sent", () =>
    run(
      { "/item/:n": Testing.text("x", { latency: "10 seconds" }) },
      Effect.gen(function*() {
        const outcomes = yield* Batch.settle(urls("a.test", 12), { concurrency: 5, batchDeadline: "15 seconds", itemDeadline: "none" })
        const kinds = outcomes.map((o) =>
          Either.isRight(o.result) ? "ok" : o.result.left._tag === "BatchDeadlineError" ? (o.result.left.started ? "cut" : "unsent") : o.result.left._tag
        )
        expect(kinds).toEqual(["ok", "ok", "ok", "ok", "ok", "cut", "cut", "cut", "cut", "cut", "unsent", "unsent"])
        const records = yield* Testing.requests
        expect(records.filter((r) => r.interrupted).map((r) => [r.at, r.endedAt])).toEqual(Array(5).fill([10_000, 15_000]))
        expect(yield* now).toBe(15_000)
        expect(yield* Testing.inFlight).toBe(0)
      })
    ))

  // Batch runs its own workers for this (src/internal/batch.ts `runAll`): with a plain
  // Effect.forEach a sibling inside the client's Effect.timeoutFail is not interrupted and its
  // response leaks (see the fan-out tests in client.test.ts).
  it.effect("failFast: the first error interrupts every other request at once", () =>
    run(
      { "/item/3": Testing.status(404, { latency: "300 millis" }), "/item/:n": Testing.text("x", { latency: "5 seconds" }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Batch.failFast(urls("a.test", 6), { concurrency: 6 }))
        expect(error._tag === "StatusError" && error.status).toBe(404)
        expect(yield* now).toBe(300)
        const records = yield* Testing.requests
        expect(records.filter((r) => r.interrupted).map((r) => r.endedAt)).toEqual(Array(5).fill(300))
        expect(yield* Testing.inFlight).toBe(0)
      })
    ))

  it.effect("Batch.stream: taking the first results interrupts the rest", () =>
    run(
      { "/item/:n": (req) => Testing.text("x", { latency: `${(Number(req.params["n"]) + 1) * 100} millis` }) },
      Effect.gen(function*() {
        const first = yield* Stream.runCollect(Stream.take(Batch.stream(urls("a.test", 8), { concurrency: 8 }), 2))
        expect(Chunk.toReadonlyArray(first).map((o) => o.index)).toEqual([0, 1])
        expect(yield* now).toBe(200)
        const records = yield* Testing.requests
        expect(records.filter((r) => r.interrupted)).toHaveLength(6)
        expect(yield* Testing.inFlight).toBe(0)
      })
    ))

  it.effect("retries inside a batch wait on the clock and count as attempts", () =>
    run(
      { "/item/:n": [Testing.status(503), Testing.text("ok")] },
      Effect.gen(function*() {
        const [outcome] = yield* Batch.settle(urls("a.test", 1), { requestOptions: { retry: { maxAttempts: 3, jitter: false, baseDelay: "1 second" } } })
        expect(outcome!.attempts).toBe(2)
        expect(outcome!.durationMs).toBe(1000)
        expect(yield* arrivals).toEqual([0, 1000])
      })
    ))
})
