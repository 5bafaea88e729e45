/**
 * The test kit's server models (src/TestingServers.ts) in virtual time, through the real
 * client over the simulated transport; the loopback run of the same models is in
 * test/testingServersLoopback.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, TestClock } from "effect"
import * as Batch from "../src/Batch.js"
import * as Client from "../src/Client.js"
import { NetworkError } from "../src/Errors.js"
import * as Testing from "../src/Testing.js"

const once = { retry: false, accept: () => true } as const
/** A client that does not pause on the models' signals: these tests read their raw answers. */
const raw = { serverSignals: false } as const

/** `n` GETs at once, each tried once; their statuses in order. */
const burst = (n: number, path = "/x") =>
  Effect.forEach(
    Array.from({ length: n }, (_, i) => `https://api.test${path}/${i}`),
    (url) => Effect.map(Client.discard(url, once), (head) => head.status),
    { concurrency: "unbounded" }
  )

const request = (id: number): Testing.TestRequest => ({
  method: "GET",
  url: new URL(`https://api.test/x/${id}`),
  headers: {},
  body: undefined,
  bodyBytes: undefined,
  params: {},
  call: id,
  id
})

describe("Testing.capacity", () => {
  it.effect("serves 16 at once, queues 16, rejects the rest with 503 at once", () => {
    const host = Testing.capacity({ inService: 16, queue: 16, serviceTime: "20 millis" })
    return Effect.gen(function*() {
      const statuses = yield* Testing.inVirtualTime(burst(40))
      expect(statuses.filter((s) => s === 200)).toHaveLength(32)
      expect(statuses.filter((s) => s === 503)).toHaveLength(8)
      expect(yield* Clock.currentTimeMillis).toBe(40) // two rounds of service
      const stats = yield* host.stats
      // 32 inside, plus each rejected request for the instant it is answered.
      expect(stats).toMatchObject({ requests: 40, served: 32, rejected: 8, abandoned: 0, inFlight: 0, maxConcurrent: 33 })
      expect(stats).toMatchObject({ maxInService: 16, maxQueued: 16, inService: 0, queued: 0 })
      expect(stats.rejectedAt).toStrictEqual(Array(8).fill(0)) // rejected on arrival
      const records = yield* Testing.requests
      expect(records.filter((r) => r.status === 200).map((r) => r.respondedAt).sort((a, b) => a! - b!)).toStrictEqual([
        ...Array(16).fill(20),
        ...Array(16).fill(40)
      ])
    }).pipe(Effect.provide(Testing.layer({ "https://api.test/*": host.reply })))
  })

  it.effect("setCapacity: halved mid-run, it takes 8 + 8 from then on; a service-time distribution is drawn per request", () => {
    const times = [10, 30]
    const host = Testing.capacity({ inService: 16, queue: 16, serviceTime: (req) => times[req.id % 2]! })
    return Effect.gen(function*() {
      yield* Testing.inVirtualTime(burst(32))
      expect(yield* Clock.currentTimeMillis).toBe(60) // queued behind a 30 ms request, then 30 ms more
      yield* host.setCapacity({ inService: 8, queue: 8 })
      expect(host.capacity()).toStrictEqual({ inService: 8, queue: 8 })
      yield* host.reset
      const statuses = yield* Testing.inVirtualTime(burst(20))
      expect(statuses.filter((s) => s === 503)).toHaveLength(4)
      const stats = yield* host.stats
      expect(stats).toMatchObject({ served: 16, rejected: 4, maxInService: 8, maxQueued: 8 })
    }).pipe(Effect.provide(Testing.layer({ "https://api.test/*": host.reply })))
  })

  it.effect("a client that gives up frees its place, in service or queued", () =>
    Effect.gen(function*() {
      const host = Testing.capacity({ inService: 1, queue: 1, serviceTime: "1 second" })
      const serving = yield* Effect.fork(host.reply(request(1)) as Effect.Effect<Testing.Reply>)
      const waiting = yield* Effect.fork(host.reply(request(2)) as Effect.Effect<Testing.Reply>)
      yield* TestClock.adjust(10)
      expect(yield* host.stats).toMatchObject({ inService: 1, queued: 1 })
      yield* Fiber.interrupt(waiting)
      yield* Fiber.interrupt(serving)
      expect(yield* host.stats).toMatchObject({ inService: 0, queued: 0, inFlight: 0, abandoned: 2, served: 0 })
      const next = yield* Effect.fork(host.reply(request(3)) as Effect.Effect<Testing.Reply>)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(next)).toMatchObject({ status: 200 })
    }))

  it("rejects invalid options with an error naming the option", () => {
    expect(() => Testing.capacity({ inService: 0, serviceTime: 1 })).toThrow(/capacity: inService must be a whole number >= 1/)
    expect(() => Testing.rateLimit({ limit: 10, window: 0 })).toThrow(/rateLimit: window must be longer than 0/)
    expect(() => Testing.outage({ windows: [{ from: "2 seconds", to: "1 second" }] })).toThrow(/outage: windows\[0\] must end after it starts/)
  })
})

describe("Testing.rateLimit", () => {
  it.effect("sends the IETF and X-RateLimit headers on successes and 429 with Retry-After past the quota", () => {
    const api = Testing.rateLimit({ limit: 3, window: "1 second", headers: "both" })
    return Effect.gen(function*() {
      const heads = yield* Effect.forEach([1, 2, 3, 4], (i) => Client.discard(`https://api.test/x/${i}`, once))
      expect(heads.map((h) => h.status)).toStrictEqual([200, 200, 200, 429])
      expect(heads.map((h) => h.headers["ratelimit"])).toStrictEqual([
        "limit=3, remaining=2, reset=1",
        "limit=3, remaining=1, reset=1",
        "limit=3, remaining=0, reset=1",
        "limit=3, remaining=0, reset=1"
      ])
      expect(heads.map((h) => h.headers["x-ratelimit-remaining"])).toStrictEqual(["2", "1", "0", "0"])
      expect(heads[0]!.headers).toMatchObject({ "ratelimit-policy": "3;w=1", "x-ratelimit-limit": "3", "x-ratelimit-reset": "1" })
      expect(heads[0]!.headers["retry-after"]).toBeUndefined()
      expect(heads[3]!.headers["retry-after"]).toBe("1")
      // The next window: the quota is back.
      yield* TestClock.adjust("1 second")
      const fresh = yield* Client.discard("https://api.test/x/5", once)
      expect([fresh.status, fresh.headers["ratelimit"]]).toStrictEqual([200, "limit=3, remaining=2, reset=1"])
      expect(yield* api.stats).toMatchObject({ requests: 5, served: 4, rejected: 1, rejectedAt: [0] })
    }).pipe(Effect.provide(Testing.layer({ "https://api.test/*": api.reply }, raw)))
  })

  it.effect("only the chosen headers; X-RateLimit-Reset as epoch seconds on request", () => {
    const ietf = Testing.rateLimit({ limit: 100, window: "10 seconds" })
    const github = Testing.rateLimit({ limit: 1, window: "1 minute", headers: "x-ratelimit", resetStyle: "epoch" })
    return Effect.gen(function*() {
      const a = yield* Client.discard("https://a.test/", once)
      expect(a.headers["ratelimit-policy"]).toBe("100;w=10")
      expect(a.headers["ratelimit"]).toBe("limit=100, remaining=99, reset=10")
      expect(a.headers["x-ratelimit-remaining"]).toBeUndefined()
      yield* TestClock.adjust("15 seconds")
      yield* Client.discard("https://b.test/", once) // b's window: 15 s to 75 s on the clock
      yield* TestClock.adjust("5 seconds")
      const b = yield* Client.discard("https://b.test/", once)
      expect(b.status).toBe(429)
      expect(b.headers).toMatchObject({ "x-ratelimit-reset": "75", "retry-after": "55" })
      expect(b.headers["ratelimit"]).toBeUndefined()
    }).pipe(Effect.provide(Testing.layer({ "https://a.test/*": ietf.reply, "https://b.test/*": github.reply }, raw)))
  })
})

describe("Testing.outage", () => {
  it.effect("is down (503, with Retry-After if asked) during its windows and up outside them", () => {
    const host = Testing.outage({ windows: [{ from: "1 second", to: "2 seconds" }], retryAfter: "1 second" })
    return Effect.gen(function*() {
      const at = (ms: number) => Effect.zipRight(TestClock.setTime(ms), Client.discard("https://api.test/", once))
      const heads = yield* Effect.forEach([0, 999, 1000, 1999, 2000], at)
      expect(heads.map((h) => h.status)).toStrictEqual([200, 200, 503, 503, 200])
      expect(heads[2]!.headers["retry-after"]).toBe("1")
      expect(yield* host.stats).toMatchObject({ served: 3, rejected: 2, rejectedAt: [1000, 1999] })
    }).pipe(Effect.provide(Testing.layer({ "https://api.test/*": host.reply }, raw)))
  })

  it.effect("fails at the network level when asked; always down by default", () => {
    const resets = Testing.outage({ fail: "ConnectionReset" })
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Client.discard("https://api.test/", once))
      expect(error).toBeInstanceOf(NetworkError)
      expect((error as NetworkError).reason).toBe("ConnectionReset")
      expect(yield* resets.stats).toMatchObject({ requests: 1, rejected: 1 })
    }).pipe(Effect.provide(Testing.layer({ "https://api.test/*": resets.reply })))
  })
})

describe("TestingServers: the JSDoc examples", () => {
  it.effect("capacity: stays within the host's capacity", () => {
    const host = Testing.capacity({ inService: 16, queue: 16, serviceTime: "20 millis" })
    const urls = Array.from({ length: 200 }, (_, i) => `https://api.test/items/${i}`)
    return Effect.gen(function*() {
      yield* Testing.inVirtualTime(Batch.settle(urls, { concurrency: 32 }))
      const seen = yield* host.stats
      expect(seen.rejected).toBe(0)
      expect(seen.maxConcurrent).toBe(32)
    }).pipe(Effect.provide(Testing.layer({ "https://api.test/*": host.reply })))
  })

  it.effect("rateLimit: sees the quota", () => {
    const api = Testing.rateLimit({ limit: 100, window: "1 second", headers: "both" })
    return Effect.gen(function*() {
      const head = yield* Client.discard("https://api.test/x")
      expect(head.headers["ratelimit"]).toBe("limit=100, remaining=99, reset=1")
      expect(head.headers["x-ratelimit-remaining"]).toBe("99")
    }).pipe(Effect.provide(Testing.layer({ "https://api.test/*": api.reply })))
  })

  it.effect("outage: rides out a two-second outage", () => {
    const host = Testing.outage({ windows: [{ from: 0, to: "2 seconds" }] })
    const retry = { maxAttempts: 5, baseDelay: "1 second", jitter: false } as const
    return Effect.gen(function*() {
      expect(yield* Testing.inVirtualTime(Client.text("https://api.test/x"))).toBe("ok")
      expect((yield* host.stats).rejected).toBe(2) // at 0 and 1 s; the third try, at 3 s, is served
    }).pipe(Effect.provide(Testing.layer({ "https://api.test/*": host.reply }, { retry })))
  })
})

