/**
 * The test kit's server models over real loopback sockets (the fault server, live clock),
 * through the real client: the same models as test/testingServers.test.ts, on the wire.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Client from "../src/Client.js"
import { NetworkError } from "../src/Errors.js"
import * as Testing from "../src/Testing.js"
import { clientLayer, faultServer, realDelay } from "./support/effect.js"
import { mountModel } from "./support/modelRoute.js"

const once = { retry: false, accept: () => true } as const

/** Polls (real time, bounded) until `check` holds. */
const eventually = (check: Effect.Effect<boolean>, timeoutMs = 5_000): Effect.Effect<void> =>
  Effect.gen(function*() {
    const started = Date.now()
    while (!(yield* check)) {
      if (Date.now() - started > timeoutMs) return yield* Effect.dieMessage(`not true after ${timeoutMs} ms`)
      yield* realDelay(5)
    }
  })

describe("server models over loopback", () => {
  it.scopedLive("capacity: 4 in service + 4 queued, the rest 503 at once; a client that gives up frees its place", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const host = Testing.capacity({ inService: 4, queue: 4, serviceTime: "600 millis" })
      mountModel(server, "/cap/", host.reply)
      const statuses = yield* Effect.forEach(
        Array.from({ length: 12 }, (_, i) => `${server.url}/cap/${i}`),
        (url) => Effect.map(Client.discard(url, once), (head) => head.status),
        { concurrency: "unbounded" }
      )
      expect(statuses.filter((s) => s === 200)).toHaveLength(8)
      expect(statuses.filter((s) => s === 503)).toHaveLength(4)
      expect(yield* host.stats).toMatchObject({ requests: 12, served: 8, rejected: 4, maxInService: 4, maxQueued: 4, inFlight: 0 })

      // A request that times out in the queue: the socket closes, the model's fiber is
      // interrupted, and its place is free for the next one.
      const single = Testing.capacity({ inService: 1, queue: 1, serviceTime: "600 millis" })
      mountModel(server, "/one/", single.reply)
      const first = yield* Effect.fork(Client.discard(`${server.url}/one/a`, once))
      yield* eventually(Effect.map(single.stats, (s) => s.inService === 1))
      const timedOut = yield* Effect.flip(Client.discard(`${server.url}/one/b`, { ...once, deadline: "100 millis" }))
      expect(timedOut).toBeInstanceOf(NetworkError)
      yield* eventually(Effect.map(single.stats, (s) => s.abandoned === 1 && s.queued === 0))
      const third = yield* Effect.fork(Client.discard(`${server.url}/one/c`, once))
      expect((yield* Effect.fromFiber(first)).status).toBe(200)
      expect((yield* Effect.fromFiber(third)).status).toBe(200)
      expect(yield* single.stats).toMatchObject({ served: 2, rejected: 0, abandoned: 1, inFlight: 0, inService: 0, maxQueued: 1 })
    }).pipe(Effect.provide(clientLayer())))

  it.scopedLive("rateLimit: the quota headers on the wire, 429 with Retry-After past it", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const api = Testing.rateLimit({ limit: 3, window: "1 minute", headers: "both" })
      mountModel(server, "/rl/", api.reply)
      const heads = yield* Effect.forEach([1, 2, 3, 4], (i) => Client.discard(`${server.url}/rl/${i}`, once))
      expect(heads.map((h) => h.status)).toStrictEqual([200, 200, 200, 429])
      expect(heads.map((h) => h.headers["x-ratelimit-remaining"])).toStrictEqual(["2", "1", "0", "0"])
      expect(heads[0]!.headers["ratelimit-policy"]).toBe("3;w=60")
      expect(heads[1]!.headers["ratelimit"]).toMatch(/^limit=3, remaining=1, reset=(59|60)$/)
      expect(heads[3]!.headers["retry-after"]).toMatch(/^(59|60)$/)
      expect(yield* api.stats).toMatchObject({ served: 3, rejected: 1 })
    }).pipe(Effect.provide(clientLayer({ serverSignals: false })))) // the raw answers: no pause on remaining=0

  it.scopedLive("outage: 503 while down, or a reset connection", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const down = Testing.outage({ retryAfter: "2 seconds" })
      const resets = Testing.outage({ fail: "ConnectionReset" })
      mountModel(server, "/down/", down.reply)
      mountModel(server, "/reset/", resets.reply)
      const head = yield* Client.discard(`${server.url}/down/x`, once)
      expect([head.status, head.headers["retry-after"]]).toStrictEqual([503, "2"])
      const error = yield* Effect.flip(Client.discard(`${server.url}/reset/x`, once))
      expect(error).toBeInstanceOf(NetworkError)
      expect((error as NetworkError).reason).toBe("ConnectionReset")
      expect(yield* down.stats).toMatchObject({ rejected: 1 })
      expect(yield* resets.stats).toMatchObject({ rejected: 1 })
    }).pipe(Effect.provide(clientLayer())))
})
