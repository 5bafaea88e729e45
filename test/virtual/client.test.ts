/**
 * The client's status, body and fan-out rules in virtual time, over the simulated transport:
 * the same client code as production (volley/testing is only a Transport), with every wait on
 * the TestClock, so each assertion is an exact virtual time. Retries, timeouts and redirects
 * have their own files next to this one.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Duration, Effect, Exit, Fiber, Option, TestClock } from "effect"
import * as Client from "../../src/Client.js"
import * as Testing from "../../src/Testing.js"
import { now, once, run } from "./support.js"

describe("virtual time: status errors and bodies", () => {
  // A HEAD answer's Content-Length describes the GET body; the HEAD body itself is empty.
  it.effect("reading a HEAD response is not refused for the size of the GET body it announces", () =>
    run(
      { "/big": Testing.text("x".repeat(100)) },
      Effect.gen(function*() {
        expect(yield* Client.text(HttpClientRequest.head("https://api.test/big"), { maxBodyBytes: 10 })).toBe("")
      }),
      once
    ))

  // The 1 KiB diagnostic snippet takes what has arrived and waits at most 1 s for more.
  it.effect("a StatusError does not wait out the idle timeout for a stalled error body", () =>
    run(
      { "/x": Testing.status(503, { body: ["Service Unavailable", Testing.stall] }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/x"))
        expect(error._tag).toBe("StatusError")
        expect(yield* now).toBeLessThan(30_000)
      }),
      once
    ))

  it.effect("a stalled error body delays the StatusError by at most 1 s, keeping what arrived", () =>
    run(
      { "/x": Testing.status(503, { body: ["Service Unavailable", Testing.stall] }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/x", { idleTimeout: "2 seconds" }))
        expect(error._tag === "StatusError" && [error.status, error.bodySnippet]).toEqual([503, "Service Unavailable"])
        expect(yield* now).toBe(1000)
      }),
      once
    ))

  // Virtual twins of "Client: success paths / typed failures" in test/client.test.ts.
  it.effect("a bad status is a StatusError with status, redacted URL, Retry-After and a 1 KiB one-line snippet", () =>
    run(
      { "/status/503": Testing.status(503, { headers: { "retry-after": "7" }, body: "line\n".repeat(1000) }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/status/503?token=s3cret"))
        expect(error._tag).toBe("StatusError")
        if (error._tag !== "StatusError") return
        expect(error.status).toBe(503)
        expect(error.retryAfter).toEqual(Option.some(Duration.seconds(7)))
        expect(error.bodySnippet.length).toBe(1024)
        expect(error.url).not.toContain("s3cret")
        expect(error.message).not.toContain("\n")
      }),
      once
    ))

  it.effect("accept widens what counts as success", () =>
    run(
      { "/status/404": Testing.status(404, { body: "missing" }) },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/status/404", { accept: (s) => s === 404 })).toBe("missing")
        expect((yield* Testing.requests).map((r) => r.responseBody)).toEqual(["consumed"])
      }),
      once
    ))

  it.effect("a body can be read once", () =>
    run(
      { "/ok": Testing.text("ok") },
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Client.withResponse("https://api.test/ok", (r) => Effect.zip(r.text, r.text)))
        expect(Exit.isFailure(exit) && Exit.causeOption(exit).pipe(Option.map(String), Option.getOrElse(() => ""))).toContain("only once")
        expect(yield* Testing.inFlight).toBe(0)
      }),
      once
    ))

  it.effect("a StatusError carries at most 1 KiB of the body and releases the rest", () =>
    run(
      { "/x": Testing.status(500, { body: "e".repeat(100_000) }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/x"))
        expect(error._tag === "StatusError" && error.bodySnippet.length).toBe(1024)
        const [record] = yield* Testing.requests
        // The snippet took the first 64 KiB chunk; the rest had arrived and is drained.
        expect([record!.responseBody, record!.bytesRead]).toEqual(["drained", 64 * 1024])
      }),
      once
    ))
})

describe("virtual time: fan-out", () => {
  // A failed sibling interrupts the others at once, and a response that crosses the
  // interruption is released rather than dropped with its connection.
  it.effect("a failed fan-out interrupts the requests in flight at once and leaks none", () =>
    run(
      { "/fail": Testing.status(404, { latency: "300 millis" }), "/slow/:n": Testing.text("x", { latency: "5 seconds" }) },
      Effect.gen(function*() {
        const urls = ["https://api.test/slow/1", "https://api.test/slow/2", "https://api.test/fail"]
        const error = yield* Effect.flip(Effect.forEach(urls, (url) => Client.text(url), { concurrency: 3 }))
        expect(error._tag === "StatusError" && error.status).toBe(404)
        expect(yield* Testing.inFlight).toBe(0)
        expect(yield* now).toBe(300)
      }),
      once
    ))

  it.effect("with deadline \"none\" (no Effect.timeoutFail around the send) the same fan-out fails fast and cleanly", () =>
    run(
      { "/fail": Testing.status(404, { latency: "300 millis" }), "/slow/:n": Testing.text("x", { latency: "5 seconds" }) },
      Effect.gen(function*() {
        const urls = ["https://api.test/slow/1", "https://api.test/slow/2", "https://api.test/fail"]
        const error = yield* Effect.flip(Effect.forEach(urls, (url) => Client.text(url, { deadline: "none" }), { concurrency: 3 }))
        expect(error._tag === "StatusError" && error.status).toBe(404)
        expect(yield* now).toBe(300)
        const records = yield* Testing.requestsTo("/slow/:n")
        expect(records.map((r) => [r.endedAt, r.interrupted, r.responseBody])).toEqual([[300, true, "none"], [300, true, "none"]])
        expect(yield* Testing.inFlight).toBe(0)
      }),
      once
    ))

  it.effect("interrupting the caller of a fan-out interrupts every request in flight", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const urls = Array.from({ length: 3 }, (_, i) => `https://api.test/slow/${i}`)
        const fiber = yield* Effect.fork(Effect.forEach(urls, (url) => Client.text(url), { concurrency: 3 }))
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        const records = yield* Testing.requests
        expect(records.map((r) => [r.endedAt, r.interrupted])).toEqual([[1000, true], [1000, true], [1000, true]])
        expect(yield* Testing.inFlight).toBe(0)
      })
      yield* Effect.provide(program, Testing.layer({ "/slow/:n": Testing.text("x", { latency: "5 seconds" }) }, once))
    }))
})

describe("virtual time: scoped bodies", () => {
  it.effect("an unread body is drained with its scope when small, aborted when large", () =>
    run(
      {
        "/small": Testing.text("small"),
        "/large": Testing.text(["head", Testing.pause("1 second"), "x".repeat(100_000)])
      },
      Effect.gen(function*() {
        yield* Effect.scoped(Client.open("https://api.test/small"))
        yield* Effect.scoped(Client.open("https://api.test/large"))
        const records = yield* Testing.requests
        expect(records.map((r) => [r.responseBody, r.bytesRead])).toEqual([["drained", 0], ["aborted", 0]])
        expect(yield* Testing.inFlight).toBe(0)
      }),
      once
    ))

  it.effect("a failure of the caller's own code drains the body; interruption aborts it", () =>
    run(
      { "/x": Testing.text(["a", Testing.pause("1 second"), "b"]) },
      Effect.gen(function*() {
        const failed = yield* Effect.flip(Client.withResponse("https://api.test/x", () => Effect.fail("mine" as const)))
        expect(failed).toBe("mine")
        const fiber = yield* Effect.fork(Client.withResponse("https://api.test/x", (r) => r.text))
        yield* Effect.sleep("500 millis")
        yield* Fiber.interrupt(fiber)
        const records = yield* Testing.requests
        expect(records.map((r) => [r.responseBody, r.interrupted, r.endedAt])).toEqual([
          ["drained", false, 0],
          ["aborted", true, 500]
        ])
      }),
      once
    ))
})
