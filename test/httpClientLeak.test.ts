/**
 * Bodies can't leak through the HttpClient interface either: thousands of responses whose
 * bodies are never read, each in its own scope (`Effect.scoped` or `HttpClient.withScope`),
 * end with open sockets within the pool size, deterministically (no garbage collector).
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClient } from "@effect/platform"
import { Context, Effect, Layer } from "effect"
import * as VolleyHttpClient from "../src/HttpClient.js"
import { faultServer, realDelay, tcpHandles } from "./support/effect.js"

const poolSize = 16

/** 1,000 sequential then 1,000 concurrent requests, each looked at (status) and dropped unread. */
const run = (client: HttpClient.HttpClient, url: string, sample: () => void = () => {}) =>
  Effect.gen(function*() {
    const once = Effect.scoped(Effect.map(client.get(url), (response) => response.status))
    for (let i = 0; i < 1000; i++) {
      expect(yield* once).toBe(200)
      if (i % 50 === 0) yield* realDelay(1) // let closes land before sampling
      sample()
    }
    const statuses = yield* Effect.forEach(Array.from({ length: 1000 }), () => Effect.tap(once, sample), { concurrency: 200 })
    expect(statuses.every((s) => s === 200)).toBe(true)
  })

const bridge = () => VolleyHttpClient.layer({ connectionsPerOrigin: poolSize, retry: { maxAttempts: 1 } })

describe("HttpClient bridge: no leaks from unread bodies", () => {
  it.live("small bodies (drained when the request's scope closes): 2,000 requests reuse at most the pool's sockets", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const before = tcpHandles()
      yield* Effect.scoped(
        Effect.gen(function*() {
          const client = Context.get(yield* Layer.build(bridge()), HttpClient.HttpClient)
          yield* run(client, `${server.url}/ok?size=16000`)
          // The same through platform's own scoping combinator.
          const scoped = HttpClient.withScope(client)
          for (let i = 0; i < 200; i++) yield* Effect.scoped(scoped.get(`${server.url}/ok?size=16000`))
          expect(server.stats.open).toBeLessThanOrEqual(poolSize)
        })
      )
      expect(server.stats.opened).toBeLessThanOrEqual(poolSize)
      yield* realDelay(50)
      expect(tcpHandles()).toBeLessThanOrEqual(before)
    }).pipe(Effect.scoped))

  it.live("large bodies (aborted when the request's scope closes): 2,000 requests never hold more than the pool's sockets", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const before = tcpHandles()
      let maxOpen = 0
      yield* Effect.scoped(
        Effect.gen(function*() {
          const client = Context.get(yield* Layer.build(bridge()), HttpClient.HttpClient)
          yield* run(client, `${server.url}/huge-cl?size=1000000`, () => {
            maxOpen = Math.max(maxOpen, server.stats.open)
          })
        })
      )
      expect(server.stats.opened).toBeGreaterThan(poolSize)
      expect(maxOpen).toBeLessThanOrEqual(poolSize * 2)
      yield* realDelay(100)
      expect(server.stats.open).toBe(0)
      expect(tcpHandles()).toBeLessThanOrEqual(before)
    }).pipe(Effect.scoped))
})
