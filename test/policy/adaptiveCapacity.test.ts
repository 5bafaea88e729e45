/**
 * The adaptive limit against the test kit's capacity model, with nothing in between (no
 * client): the "capacity origin (16 + 16)" figures at the level of the two pieces, in
 * virtual time. The client-level run belongs to the policy wiring.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import * as Adaptive from "../../src/internal/policy/adaptive.js"
import * as Testing from "../../src/Testing.js"

const request = (id: number): Testing.TestRequest => ({
  method: "GET",
  url: new URL(`https://api.test/items/${id}`),
  headers: {},
  body: undefined,
  bodyBytes: undefined,
  params: {},
  call: id,
  id
})

/** `concurrency` workers send `total` requests through `limit` to `host`; resolves with the 503 count. */
const drive = (limit: Adaptive.AdaptiveLimit, host: Testing.CapacityModel, total: number, concurrency: number) =>
  Effect.gen(function*() {
    let next = 0
    let rejected = 0
    const worker = Effect.gen(function*() {
      while (next < total) {
        const id = next++
        const reply = yield* limit.run(
          host.reply(request(id)) as Effect.Effect<Testing.Reply>,
          (exit) => (exit._tag === "Success" && "status" in exit.value && exit.value.status === 503 ? "drop" : "ok")
        )
        if ("status" in reply && reply.status === 503) rejected++
      }
    })
    yield* Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded" })
    return rejected
  })

describe("adaptive limit x capacity model (16 in service + 16 queued, 20 ms)", () => {
  it.effect("finds the capacity (goodput >= 90%, <= 2% rejected), and again when it is halved", () =>
    Effect.gen(function*() {
      const host = Testing.capacity({ inService: 16, queue: 16, serviceTime: "20 millis" })
      const limit = Adaptive.unsafeMake({ max: 128 })
      const timed = (total: number) =>
        Effect.gen(function*() {
          const start = yield* Clock.currentTimeMillis
          const rejected = yield* Testing.inVirtualTime(drive(limit, host, total, 128))
          return { rejected, ms: (yield* Clock.currentTimeMillis) - start, limit: limit.current() }
        })
      // 16 servers x 20 ms = 800/s: 600 requests take 750 ms at full capacity.
      const full = yield* timed(600)
      // Half the servers and half the queue (400/s, 16 in the host at most): 1.5 s ideal.
      yield* host.setCapacity({ inService: 8, queue: 8 })
      const halved = yield* timed(600)
      // Measured: 0 and 1 rejected, 760 ms and 1500 ms (deterministic in virtual time). Without the
      // latency gradient (AIMD on 503s alone) the first phase rejects 17: the gradient keeps the
      // limit below where the host starts refusing.
      expect(full.rejected).toBeLessThanOrEqual(12)
      expect(full.ms).toBeLessThanOrEqual(750 / 0.9)
      expect(halved.rejected).toBeLessThanOrEqual(12)
      expect(halved.ms).toBeLessThanOrEqual(1500 / 0.9)
      expect(halved.limit).toBeLessThan(16)
      expect(limit.inFlight()).toBe(0)
    }))
})
