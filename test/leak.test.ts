/**
 * Bodies can't leak: thousands of responses whose bodies are never read end with open
 * sockets within the pool size and no growth in the process's handles.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Client from "../src/Client.js"
import { clientLayer, faultServer, realDelay, tcpHandles } from "./support/effect.js"

const poolSize = 16

/** Unread bodies: the response is looked at (status) and dropped. */
const ignoreBody = (url: string) => Client.withResponse(url, (response) => Effect.succeed(response.status))

const run = (url: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000; i++) expect(yield* ignoreBody(url)).toBe(200)
    const statuses = yield* Effect.forEach(Array.from({ length: 1000 }), () => ignoreBody(url), { concurrency: 200 })
    expect(statuses.every((s) => s === 200)).toBe(true)
  })

describe("Client: no leaks from unread bodies", () => {
  it.live("small bodies (drained): 2,000 requests reuse at most the pool's sockets", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const before = tcpHandles()
      yield* Effect.scoped(
        Effect.gen(function*() {
          const client = yield* Layer.build(clientLayer({ connectionsPerOrigin: poolSize }))
          yield* Effect.provide(run(`${server.url}/ok?size=16000`), Layer.succeedContext(client))
          // While the pool is still open: at most its size of sockets, all idle and reusable.
          expect(server.stats.open).toBeLessThanOrEqual(poolSize)
        })
      )
      expect(server.stats.opened).toBeLessThanOrEqual(poolSize)
      expect(server.stats.open).toBeLessThanOrEqual(poolSize)
      yield* realDelay(50)
      expect(tcpHandles()).toBeLessThanOrEqual(before)
    }).pipe(Effect.scoped))

  it.live("large bodies (aborted): 2,000 requests never hold more than the pool's sockets", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const before = tcpHandles()
      let maxOpen = 0
      const layer = clientLayer({ connectionsPerOrigin: poolSize })
      yield* Effect.scoped(
        Effect.gen(function*() {
          const client = yield* Layer.build(layer)
          const program = Effect.gen(function*() {
            for (let i = 0; i < 1000; i++) {
              yield* ignoreBody(`${server.url}/huge-cl?size=1000000`)
              if (i % 50 === 0) yield* realDelay(1) // let closes land before sampling
              maxOpen = Math.max(maxOpen, server.stats.open)
            }
            yield* Effect.forEach(Array.from({ length: 1000 }), () =>
              Effect.tap(ignoreBody(`${server.url}/huge-cl?size=1000000`), () =>
                Effect.sync(() => {
                  maxOpen = Math.max(maxOpen, server.stats.open)
                })), { concurrency: 200, discard: true })
          })
          yield* Effect.provide(program, Layer.succeedContext(client))
        })
      )
      // Each large body was aborted, so sockets churn, but never beyond the pool (+ closes in flight).
      expect(server.stats.opened).toBeGreaterThan(poolSize)
      expect(maxOpen).toBeLessThanOrEqual(poolSize * 2)
      yield* realDelay(100)
      expect(server.stats.open).toBe(0)
      expect(tcpHandles()).toBeLessThanOrEqual(before)
    }).pipe(Effect.scoped))
})
