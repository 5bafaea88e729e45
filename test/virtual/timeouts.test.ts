/**
 * The client's deadlines in virtual time, over the simulated transport: the overall deadline,
 * the headers and idle-body timeouts and body limits, each firing at an exact virtual time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Stream, TestClock } from "effect"
import * as Client from "../../src/Client.js"
import * as Testing from "../../src/Testing.js"
import { now, once, run, timeoutOf } from "./support.js"

describe("virtual time: timeouts", () => {
  it.effect("the default 30 s deadline fires while waiting for headers, not a millisecond earlier", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const fiber = yield* Effect.fork(Effect.flip(Client.text("https://api.test/hang")))
        yield* TestClock.adjust("29999 millis")
        expect(fiber.unsafePoll()).toBeNull()
        yield* TestClock.adjust("1 millis")
        const error = yield* Fiber.join(fiber)
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(error.message).toBe("GET https://api.test/hang: timeout (deadline)")
        const [record] = yield* Testing.requests
        expect(record).toMatchObject({ at: 0, endedAt: 30_000, interrupted: true, status: undefined, responseBody: "none" })
      })
      yield* Effect.provide(program, Testing.layer({ "/hang": Testing.text("late", { latency: "1 hour" }) }, once))
    }))

  it.effect("a headers timeout shorter than the deadline reports the headers phase", () =>
    run(
      { "/hang": Testing.text("late", { latency: "1 hour" }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/hang", { headersTimeout: "2 seconds" }))
        expect(timeoutOf(error)).toEqual(["Timeout", "headers"])
        expect(yield* now).toBe(2000)
      }),
      once
    ))

  it.effect("a headers timeout longer than what is left of the deadline leaves it to the deadline", () =>
    run(
      { "/hang": Testing.text("late", { latency: "1 hour" }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/hang", { headersTimeout: "10 seconds", deadline: "5 seconds" }))
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(yield* now).toBe(5000)
      }),
      once
    ))

  it.effect("headers a millisecond before the deadline are in time", () =>
    run(
      { "/slow": Testing.text("ok", { latency: "4999 millis" }) },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/slow", { deadline: "5 seconds" })).toBe("ok")
        expect(yield* now).toBe(4999)
      }),
      once
    ))

  it.effect("the idle-body timeout fires when the body stalls, and aborts the body", () =>
    run(
      { "/stall": Testing.text(["first", Testing.stall], { latency: "1 second" }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/stall", { idleTimeout: "3 seconds" }))
        expect(timeoutOf(error)).toEqual(["Timeout", "body"])
        expect(yield* now).toBe(4000)
        const [record] = yield* Testing.requests
        expect(record).toMatchObject({ respondedAt: 1000, endedAt: 4000, bytesRead: 5, interrupted: true, responseBody: "aborted" })
      }),
      once
    ))

  it.effect("the idle timer restarts with every chunk: a slow but steady trickle completes", () =>
    run(
      { "/trickle": Testing.text(Testing.trickle("abcde".split(""), "2 seconds")) },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/trickle", { idleTimeout: "3 seconds", deadline: "none" })).toBe("abcde")
        expect(yield* now).toBe(8000)
      }),
      once
    ))

  it.effect("the deadline covers the body: a trickle longer than 30 s is cut at 30 s, phase deadline", () =>
    run(
      { "/trickle": Testing.text(Testing.trickle(Array.from({ length: 4 }, () => "x"), "12 seconds")) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/trickle", { idleTimeout: "15 seconds" }))
        // Each gap is within the idle timeout; after the chunk at 24 s only 6 s of the
        // deadline are left, less than the idle timeout, so the deadline fires at 30 s.
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(yield* now).toBe(30_000)
        const [record] = yield* Testing.requests
        expect(record).toMatchObject({ bytesRead: 3, endedAt: 30_000, responseBody: "aborted" })
      }),
      once
    ))

  it.effect("one deadline spans headers and body", () =>
    run(
      { "/x": Testing.text(["a", Testing.pause("4 seconds"), "b"], { latency: "4 seconds" }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/x", { deadline: "6 seconds" }))
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(yield* now).toBe(6000)
      }),
      once
    ))

  it.effect("the deadline bounds a body read late from an open() response", () =>
    run(
      // The rest of the body is still on its way when the caller gets round to reading it.
      { "/x": Testing.text(["a", Testing.pause("20 seconds"), "b"]) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(
          Effect.gen(function*() {
            const response = yield* Client.open("https://api.test/x", { deadline: "5 seconds" })
            yield* Effect.sleep("10 seconds")
            return yield* response.text
          })
        ))
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(yield* now).toBe(10_000)
        const [record] = yield* Testing.requests
        expect(record).toMatchObject({ endedAt: 10_000, responseBody: "aborted" })
      }),
      once
    ))

  it.effect("deadline \"none\" lets a two-hour response arrive", () =>
    run(
      { "/batch-report": Testing.text("done", { latency: "2 hours" }) },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/batch-report", { deadline: "none" })).toBe("done")
        expect(yield* now).toBe(Duration.toMillis("2 hours"))
      }),
      once
    ))

  it.effect("per-request timeouts override the client's", () =>
    run(
      { "/x": Testing.text("ok", { latency: "5 seconds" }) },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/x"))
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(yield* now).toBe(1000)
        expect(yield* Client.text("https://api.test/x", { deadline: "10 seconds" })).toBe("ok")
        expect(yield* now).toBe(6000)
      }),
      { ...once, deadline: "1 second" }
    ))

  it.effect("a stream consumer gets the idle timeout as a stream failure, and the body is aborted", () =>
    run(
      { "/feed": Testing.text(["a", Testing.pause("1 second"), "b", Testing.stall]) },
      Effect.gen(function*() {
        const chunks: Array<string> = []
        const error = yield* Effect.flip(
          Stream.runForEach(Client.stream("https://api.test/feed", { idleTimeout: "5 seconds" }), (chunk) =>
            Effect.sync(() => chunks.push(new TextDecoder().decode(chunk))))
        )
        expect(chunks).toEqual(["a", "b"])
        expect(timeoutOf(error)).toEqual(["Timeout", "body"])
        expect(yield* now).toBe(6000)
        const [record] = yield* Testing.requests
        expect(record).toMatchObject({ endedAt: 6000, responseBody: "aborted", bytesRead: 2 })
      }),
      once
    ))

  it.effect("a body over maxBodyBytes stops the transfer: at once if announced, else as soon as it is exceeded", () =>
    run(
      {
        "/announced": Testing.text("x".repeat(100)),
        "/chunked": Testing.text(Testing.trickle(Array.from({ length: 10 }, () => "12345"), "1 second"))
      },
      Effect.gen(function*() {
        const announced = yield* Effect.flip(Client.text("https://api.test/announced", { maxBodyBytes: 10 }))
        expect(announced._tag === "BodyTooLargeError" && announced.contentLength).toBe(100)
        const chunked = yield* Effect.flip(Client.text("https://api.test/chunked", { maxBodyBytes: 12 }))
        expect(chunked._tag).toBe("BodyTooLargeError")
        expect(yield* now).toBe(2000)
        const records = yield* Testing.requests
        expect(records.map((r) => [r.bytesRead, r.responseBody])).toEqual([[0, "aborted"], [15, "aborted"]])
      }),
      once
    ))
})
