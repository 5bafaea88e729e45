/**
 * Batch in virtual time, over the simulated transport: concurrency and per-host limits,
 * hedging, rate limits, deadlines and fail-fast, each checked at exact virtual times from the
 * transport's own records (when each request arrived, ended, and whether it was interrupted).
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Chunk, Clock, Data, Effect, Either, Fiber, Stream } from "effect"
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

  it.effect("itemDeadline bounds the whole item: attempts and the backoff between them", () =>
    run(
      { "/item/:n": Testing.status(503, { latency: "1 second" }) },
      Effect.gen(function*() {
        const outcomes = yield* Batch.settle(urls("a.test", 1), {
          itemDeadline: "2500 millis",
          requestOptions: { retry: { maxAttempts: 5, baseDelay: "1 second", jitter: false } }
        })
        const result = outcomes[0]!.result
        expect(Either.isLeft(result) && result.left._tag === "NetworkError" && [result.left.reason, result.left.phase]).toEqual(["Timeout", "deadline"])
        // 503 at 1 s, 1 s of backoff, the retry sent at 2 s is cut at 2.5 s: not 5 attempts.
        const records = yield* Testing.requests
        expect(records.map((r) => [r.at, r.endedAt, r.interrupted])).toEqual([[0, 1000, false], [2000, 2500, true]])
        expect(outcomes[0]!.attempts).toBe(2)
        expect(yield* now).toBe(2500)
      })
    ))

  it.effect("itemDeadline cuts a Retry-After wait short; an item sent late still gets its full deadline", () =>
    run(
      { "/item/0": Testing.status(503, { headers: { "retry-after": "30" } }), "/item/:n": Testing.text("x", { latency: "1500 millis" }) },
      Effect.gen(function*() {
        // The 503's Retry-After pauses its whole host: the later items go to another one.
        const outcomes = yield* Batch.settle(["https://busy.test/item/0", ...urls("a.test", 3).slice(1)], {
          concurrency: 1,
          itemDeadline: "2 seconds",
          requestOptions: { retry: { maxAttempts: 3 } }
        })
        const first = outcomes[0]!.result
        expect(Either.isLeft(first) && first.left._tag === "NetworkError" && first.left.phase).toBe("deadline")
        expect(outcomes[0]!.durationMs).toBe(2000)
        // One at a time: each later item gets its own full 2 s (it needs 1.5 s), counted from its own start.
        expect(outcomes.slice(1).map((o) => Either.isRight(o.result))).toEqual([true, true])
        expect(outcomes.map((o) => o.startMs)).toEqual([0, 2000, 3500])
        expect(yield* Testing.requestsTo("/item/0")).toHaveLength(1)
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

  // Batch runs its own workers for this (src/internal/batch/runAll.ts): with a plain
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

class Rejected extends Data.TaggedError("Rejected")<{ readonly reason: string }> {}

// Virtual twins of the real-socket outcome tests in test/batch.test.ts: the same rules, at exact times.
describe("virtual time: Batch outcomes", () => {
  it.effect("settle keeps input order, and each failure keeps its own typed error", () =>
    run(
      {
        "/slow": Testing.text("ok", { latency: "60 millis" }),
        "/status/503": Testing.status(503),
        "/ok": Testing.text("x".repeat(1000)),
        "https://refused.test/*": Testing.networkError("ConnectionRefused"),
        "/status/404": Testing.status(404),
        "POST /echo": (req) => Testing.text(req.body ?? "")
      },
      Effect.gen(function*() {
        const inputs = [
          "https://a.test/slow",
          "https://a.test/status/503",
          "https://a.test/ok",
          "not a url",
          "https://refused.test/x",
          "https://a.test/status/404",
          HttpClientRequest.post("https://a.test/echo").pipe(HttpClientRequest.bodyText("hi"))
        ]
        const outcomes = yield* Batch.settle(inputs, { concurrency: 4 })
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
        expect(outcomes[6]!.result).toEqual(Either.right({ status: 200, bytes: 2 }))
        // Exact where the real-socket twin can only bound: the slow one took 60 ms, the rest none.
        expect(outcomes.map((o) => o.durationMs)).toEqual([60, 0, 0, 0, 0, 0, 0])
        expect(outcomes.map((o) => o.attempts)).toEqual([1, 1, 1, 1, 1, 1, 1])
        const summary = Batch.summarize(outcomes)
        expect(summary).toMatchObject({ total: 7, succeeded: 3, failed: 4, bytes: 2 + 1000 + 2 })
        expect(summary.outcomes).toEqual({ ok: 3, "HTTP 503": 1, "HTTP 404": 1, InvalidUrlError: 1, ConnectionRefused: 1 })
        expect(summary.latency.max).toBe(60)
        // The invalid URL was never sent.
        expect((yield* Testing.requests).map((r) => r.url)).not.toContain("not a url")
        expect(yield* Testing.requests).toHaveLength(6)
      })
    ))

  it.effect("settle counts retries as attempts and runs the caller's handler, typed errors included", () =>
    run(
      { "/flaky": [Testing.status(503), Testing.status(503), Testing.text("ok after 2")], "/json": Testing.json({ a: 1 }) },
      Effect.gen(function*() {
        const outcomes = yield* Batch.settle(["https://a.test/flaky", "https://a.test/json"], {
          requestOptions: { retry: { maxAttempts: 3, baseDelay: "1 millis", jitter: false } },
          handle: (response) =>
            Effect.flatMap(response.text, (text) => (text.startsWith("{") ? Effect.fail(new Rejected({ reason: "json" })) : Effect.succeed(text.length)))
        })
        expect(outcomes[0]!.result).toEqual(Either.right("ok after 2".length))
        expect(outcomes[0]!.attempts).toBe(3)
        expect(outcomes[1]!.result).toEqual(Either.left(new Rejected({ reason: "json" })))
        expect(Batch.summarize(outcomes).outcomes).toEqual({ ok: 1, Rejected: 1 })
        // Backoff 1 ms then 2 ms, on the clock.
        expect((yield* Testing.requestsTo("/flaky")).map((r) => r.at)).toEqual([0, 1, 3])
      })
    ))

  it.effect("interrupting the batch interrupts every request in flight, and leaks none", () =>
    run(
      { "/hang": Testing.text("late", { latency: "1 hour" }) },
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(Batch.settle([1, 2, 3].map((i) => `https://a.test/hang?i=${i}`)))
        yield* Testing.awaitRequests(3)
        yield* Fiber.interrupt(fiber)
        const records = yield* Testing.requests
        expect(records.map((r) => [r.interrupted, r.endedAt, r.status])).toEqual(Array(3).fill([true, 0, undefined]))
        expect(yield* Testing.inFlight).toBe(0)
      })
    ))

  it.effect("Batch.stream emits outcomes as they complete, with their input positions", () =>
    run(
      { "/slow": Testing.text("x", { latency: "150 millis" }), "/ok": Testing.text("x"), "/status/500": Testing.status(500, { latency: "10 millis" }) },
      Effect.gen(function*() {
        const outcomes = yield* Stream.runCollect(Batch.stream(["https://a.test/slow", "https://a.test/ok", "https://a.test/status/500"], { concurrency: 3 }))
        // Exact where the real-socket twin can only say "the slow one is last".
        expect(Chunk.toReadonlyArray(outcomes).map((o) => [o.index, o.durationMs])).toEqual([[1, 0], [2, 10], [0, 150]])
        expect(yield* now).toBe(150)
      })
    ))

  it.effect("failFast returns every value in input order when all succeed", () =>
    run(
      { "/slow": Testing.text("abc", { latency: "40 millis" }), "/ok": Testing.text("abcde") },
      Effect.gen(function*() {
        const values = yield* Batch.failFast(["https://a.test/slow", "https://a.test/ok"], { concurrency: 2 })
        expect(values).toEqual([{ status: 200, bytes: 3 }, { status: 200, bytes: 5 }])
        expect(yield* now).toBe(40)
      })
    ))
})

describe("virtual time: Batch at scale", () => {
  // Exchanges due at the same instant share one TestClock timer, so this costs 10 timer
  // firings, not 1,000 (each firing waits for the fibers to settle: ~4 ms of wall time).
  it.effect("1,000 requests, 100 at a time, 100 ms each: exactly 1 s of virtual time, every exchange on time", () =>
    run(
      { "/item/:n": Testing.text("ok", { latency: "100 millis" }) },
      Effect.gen(function*() {
        const tally = Batch.tally()
        yield* Batch.stream(urls("a.test", 1_000), { concurrency: 100 }).pipe(Stream.runForEach((o) => Effect.sync(() => tally.add(o))))
        expect(tally.summary().outcomes).toEqual({ ok: 1_000 })
        // Waves of 100 finishing together, the pool refilled at once: the clock stops at 10 waves.
        expect(yield* now).toBe(1_000)
        expect(yield* Testing.maxInFlight).toBe(100)
        const records = yield* Testing.requests
        expect(records).toHaveLength(1_000)
        expect(records.every((r) => r.at % 100 === 0 && r.endedAt === r.at + 100 && r.responseBody === "consumed")).toBe(true)
        expect(yield* Testing.inFlight).toBe(0)
      })
    ))
})
