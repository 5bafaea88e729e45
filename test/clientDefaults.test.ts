/**
 * The client's keep-alive default on real loopback sockets: an idle pooled connection is
 * closed by the client after its keep-alive timeout (4 s by default), whether the server sends
 * no keep-alive hint or a longer one (`Keep-Alive: timeout=60`, which undici would otherwise
 * follow for up to its own 10-minute maximum).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Client from "../src/Client.js"

/** A server that keeps sockets open on its side (`keepAliveTimeout` s, 0 = forever) and records when each closes. */
const server = (keepAliveSeconds: number) =>
  Effect.acquireRelease(
    Effect.async<{ server: http.Server; closes: Array<number>; url: string }>((resume) => {
      const closes: Array<number> = []
      const s = http.createServer((_req, res) => res.end("ok"))
      s.keepAliveTimeout = keepAliveSeconds * 1000
      s.on("connection", (socket) => socket.on("close", () => closes.push(Date.now())))
      s.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server: s, closes, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}` })))
    }),
    ({ server: s }) => Effect.async<void>((resume) => {
      s.closeAllConnections()
      s.close(() => resume(Effect.void))
    })
  )

describe("Client defaults on real sockets", () => {
  it.scopedLive("an idle connection is closed by the client at its 4 s keep-alive default, with or without a longer server hint", () =>
    Effect.gen(function*() {
      const noHint = yield* server(0) // Node sends no Keep-Alive header when its own timeout is 0
      const longHint = yield* server(60)
      yield* Effect.gen(function*() {
        const started = Date.now()
        expect(yield* Client.text(`${noHint.url}/`)).toBe("ok")
        expect(yield* Client.text(`${longHint.url}/`)).toBe("ok")
        for (let i = 0; i < 160 && (noHint.closes.length === 0 || longHint.closes.length === 0); i++) {
          yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
        }
        for (const closes of [noHint.closes, longHint.closes]) {
          expect(closes).toHaveLength(1)
          const idleFor = closes[0]! - started
          expect(idleFor).toBeGreaterThanOrEqual(3_500)
          expect(idleFor).toBeLessThan(6_500)
        }
      }).pipe(Effect.provide(Client.layer()))
    }), { timeout: 20_000 })
})
