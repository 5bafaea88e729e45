/**
 * The client's retries against real loopback sockets: each waits what the server said, on
 * the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Effect, Fiber, TestClock } from "effect"
import * as Client from "../src/Client.js"
import { awaitSleepers, faultServer } from "./support/effect.js"

describe("Client: retries (TestClock)", () => {
  it.scoped("503 twice then 200 succeeds, waiting what Retry-After said", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const fiber = yield* Effect.fork(
        Effect.provide(Client.text(`${server.url}/flaky?key=a&failures=2&status=503&retryAfter=3`), Client.layer())
      )
      for (const attempt of [1, 2]) {
        yield* Effect.promise(() => server.waitForRequest("/flaky", attempt))
        yield* awaitSleepers()
        yield* TestClock.adjust("2999 millis")
        expect(server.requests.length).toBe(attempt)
        yield* TestClock.adjust("1 millis")
      }
      expect(yield* Fiber.join(fiber)).toBe("ok after 2")
      expect(server.requests.length).toBe(3)
    }))

  it.scoped("429 with an HTTP-date Retry-After waits until that date on the Effect clock", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const now = yield* TestClock.currentTimeMillis
      const date = new Date(now + 10_000).toUTCString()
      const fiber = yield* Effect.fork(
        Effect.provide(Client.text(`${server.url}/flaky?key=d&failures=1&status=429&retryAfter=${encodeURIComponent(date)}`), Client.layer())
      )
      yield* Effect.promise(() => server.waitForRequest("/flaky"))
      yield* awaitSleepers()
      yield* TestClock.adjust("9 seconds")
      expect(server.requests.length).toBe(1)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe("ok after 1")
    }))

  it.scoped("a Retry-After beyond the cap fails at once with the StatusError", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const error = yield* Effect.flip(
        Effect.provide(Client.text(`${server.url}/status/503?retryAfter=7200`), Client.layer({ retry: { maxRetryAfter: "1 minute" } }))
      )
      expect(error._tag === "StatusError" && error.status).toBe(503)
      expect(server.requests.length).toBe(1)
    }))

  it.scoped("POST is not retried unless the caller opts in", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const post = HttpClientRequest.post(`${server.url}/flaky?key=p&failures=1&status=503&retryAfter=0`)
      const error = yield* Effect.flip(Effect.provide(Client.text(post), Client.layer()))
      expect(error._tag === "StatusError" && error.status).toBe(503)
      expect(server.requests.length).toBe(1)
      const ok = yield* Effect.provide(Client.text(post, { retry: { retryNonIdempotent: true } }), Client.layer())
      expect(ok).toBe("ok after 1")
    }))
})
