import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { NetworkError } from "../../src/Errors.js"
import * as Middleware from "../../src/server/Middleware.js"
import { awaitSleepers, call, captureLogs, eventually, fetchReply, plainServer, realDelay, serve } from "./helpers.js"

describe("Middleware.withDeadline", () => {
  it.scoped("answers 503 when the deadline passes, after interrupting the handler", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const never = yield* Deferred.make<void>()
      const app = Effect.gen(function*() {
        yield* Deferred.succeed(started, undefined)
        yield* Deferred.await(never)
        return HttpServerResponse.text("too late")
      }).pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
      const { url } = yield* serve(Middleware.withDeadline("2 seconds")(app), plainServer())

      const reply = yield* Effect.fork(fetchReply(`${url}/slow?token=secret`))
      yield* Deferred.await(started)
      yield* awaitSleepers(1)
      yield* TestClock.adjust("1999 millis")
      expect(yield* Deferred.isDone(interrupted)).toBe(false)
      yield* TestClock.adjust("1 millis")
      const { body, status } = yield* Fiber.join(reply)
      expect(status).toBe(503)
      expect(body).toBe("request deadline exceeded")
      // The handler's finalizers ran before the answer went out.
      expect(yield* Deferred.isDone(interrupted)).toBe(true)
      const warning = logs.entries.find((e) => e.level === "WARN")
      expect(warning?.annotations).toEqual({ method: "GET", path: "/slow" })
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("answers 504 for an upstream timeout and leaves other outcomes alone", () =>
    Effect.gen(function*() {
      const router = HttpRouter.empty.pipe(
        HttpRouter.get("/fast", HttpServerResponse.text("ok")),
        HttpRouter.get("/upstream", new Middleware.UpstreamTimeout({ upstream: "billing" })),
        HttpRouter.get(
          "/network",
          new NetworkError({ reason: "Timeout", phase: "headers", method: "GET", url: "http://upstream.test/" })
        ),
        HttpRouter.get(
          "/refused",
          new NetworkError({ reason: "ConnectionRefused", method: "GET", url: "http://upstream.test/" })
        )
      )
      const { url } = yield* serve(Middleware.withDeadline("1 second")(router), plainServer())
      expect(yield* fetchReply(`${url}/fast`)).toMatchObject({ status: 200, body: "ok" })
      expect(yield* fetchReply(`${url}/upstream`)).toMatchObject({ status: 504, body: "upstream timed out" })
      expect(yield* fetchReply(`${url}/network`)).toMatchObject({ status: 504 })
      // Not a timeout: the platform's default error answer, untouched.
      expect((yield* fetchReply(`${url}/refused`)).status).toBe(500)
      expect((yield* fetchReply(`${url}/missing`)).status).toBe(404)
    }).pipe(Effect.provide(captureLogs().layer)))
})

describe("Middleware.withDeadline on the live clock (a timer, no fiber per request)", () => {
  it.scopedLive("interrupts the handler and answers 503 when the deadline passes, not much later", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const interrupted = yield* Deferred.make<void>()
      let started = 0
      const app = Effect.sync(() => (started = performance.now())).pipe(
        Effect.zipRight(Effect.never),
        Effect.as(HttpServerResponse.text("too late")),
        Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
      )
      const { url } = yield* serve(Middleware.withDeadline("300 millis")(app), plainServer())
      const { body, status } = yield* fetchReply(`${url}/slow`)
      // From the handler's start (connection setup left out) to the answer at the client: the
      // deadline, plus at most 250 ms of scheduling on a loaded machine (a timer 2x late is 600).
      const elapsed = performance.now() - started
      expect(status).toBe(503)
      expect(body).toBe("request deadline exceeded")
      expect(elapsed).toBeGreaterThanOrEqual(290)
      expect(elapsed).toBeLessThanOrEqual(300 + 250)
      expect(yield* Deferred.isDone(interrupted)).toBe(true)
      expect(logs.entries.find((e) => e.level === "WARN")?.annotations).toEqual({ method: "GET", path: "/slow" })
    }).pipe(Effect.provide(logs.layer))
  })

  it.scopedLive("leaves a handler that answered in time alone, even when its body streams past the deadline", () =>
    Effect.gen(function*() {
      const body = Stream.make("a", "b", "c", "d").pipe(Stream.tap(() => Effect.sleep("40 millis")), Stream.encodeText)
      const app = Effect.succeed(HttpServerResponse.stream(body))
      const { url } = yield* serve(Middleware.withDeadline("50 millis")(app), plainServer())
      expect(yield* fetchReply(url)).toMatchObject({ status: 200, body: "abcd" })
      expect(yield* fetchReply(url)).toMatchObject({ status: 200, body: "abcd" })
    }).pipe(Effect.provide(captureLogs().layer)))

  it.scopedLive("requests sharing one deadline queue each expire at their own time; quick ones in between are left alone", () =>
    Effect.gen(function*() {
      // `/hang` never answers; anything else answers at once.
      const app = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        request.url.startsWith("/hang") ? Effect.never : Effect.succeed(HttpServerResponse.text("ok")))
      const { url } = yield* serve(Middleware.withDeadline("150 millis")(app), plainServer())
      const timed = (path: string) =>
        Effect.gen(function*() {
          const started = Date.now()
          const reply = yield* fetchReply(`${url}${path}`)
          return { status: reply.status, ms: Date.now() - started }
        })
      const first = yield* Effect.fork(timed("/hang/1"))
      yield* realDelay(60)
      // Settled entries queue up behind the running one: they must not disturb it.
      for (let i = 0; i < 5; i++) expect((yield* fetchReply(`${url}/quick`)).status).toBe(200)
      const second = yield* Effect.fork(timed("/hang/2"))
      const a = yield* Fiber.join(first)
      // The first expiry re-arms the timer for the second request, not earlier, not never.
      const b = yield* Fiber.join(second)
      expect(a.status).toBe(503)
      expect(b.status).toBe(503)
      expect(a.ms).toBeGreaterThanOrEqual(140)
      expect(b.ms).toBeGreaterThanOrEqual(140)
      expect(b.ms).toBeLessThan(1_000)
      // Still works once the queue ran empty.
      expect((yield* fetchReply(`${url}/quick`)).status).toBe(200)
      expect((yield* timed("/hang/3")).status).toBe(503)
    }).pipe(Effect.provide(captureLogs().layer)))

  it.scopedLive("a client disconnect still interrupts the handler at once, and is not reported as a deadline", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const app = Deferred.succeed(started, undefined).pipe(
        Effect.zipRight(Effect.never),
        Effect.as(HttpServerResponse.text("never")),
        Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
      )
      const { url } = yield* serve(Middleware.withDeadline("5 seconds")(app), plainServer())
      const request = call(url)
      request.reply.catch(() => {})
      yield* Deferred.await(started)
      request.destroy()
      yield* Deferred.await(interrupted).pipe(Effect.timeout("2 seconds"))
      expect(logs.entries.filter((e) => e.message.includes("deadline"))).toEqual([])
    }).pipe(Effect.provide(logs.layer))
  })
})

describe("Middleware.withDeadline under TestClock", () => {
  it.scoped("disarms the deadline when the handler answers in time", () =>
    Effect.gen(function*() {
      const { url } = yield* serve(Middleware.withDeadline("1 second")(Effect.succeed(HttpServerResponse.text("ok"))), plainServer())
      expect(yield* fetchReply(url)).toMatchObject({ status: 200, body: "ok" })
      // The sleeper on the TestClock went with the request; nothing fires later.
      yield* eventually(Effect.map(TestClock.sleeps(), (sleeps) => sleeps.length === 0), "no sleepers on the TestClock")
      yield* TestClock.adjust("2 seconds")
      expect(yield* fetchReply(url)).toMatchObject({ status: 200, body: "ok" })
    }).pipe(Effect.provide(captureLogs().layer)))

  it.scoped("on a single route (an interruptible region) the platform gives the 503", () =>
    Effect.gen(function*() {
      const router = HttpRouter.empty.pipe(
        HttpRouter.get("/slow", Effect.never.pipe(Effect.as(HttpServerResponse.text("too late")), Middleware.withDeadline("1 second"))),
        HttpRouter.get("/fast", Effect.succeed(HttpServerResponse.text("ok")).pipe(Middleware.withDeadline("1 second")))
      )
      const { url } = yield* serve(router, plainServer())
      expect(yield* fetchReply(`${url}/fast`)).toMatchObject({ status: 200, body: "ok" })
      const reply = yield* Effect.fork(fetchReply(`${url}/slow`))
      yield* awaitSleepers(1)
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(reply)).status).toBe(503)
    }).pipe(Effect.provide(captureLogs().layer)))
})

describe("Middleware.withConcurrencyLimit", () => {
  it.scoped("sheds the request over the limit with 503 + Retry-After, without queueing it", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const entered = yield* Ref.make(0)
      const app = Effect.gen(function*() {
        yield* Ref.update(entered, (n) => n + 1)
        yield* Deferred.await(gate)
        return HttpServerResponse.text("done")
      })
      const { url } = yield* serve(Middleware.withConcurrencyLimit(2, { retryAfter: "2500 millis" })(app), plainServer())

      const first = yield* Effect.fork(fetchReply(url))
      const second = yield* Effect.fork(fetchReply(url))
      while ((yield* Ref.get(entered)) < 2) yield* realDelay(2)
      const shed = yield* fetchReply(url)
      expect(shed.status).toBe(503)
      expect(shed.headers["retry-after"]).toBe("3")
      expect(yield* Ref.get(entered)).toBe(2)

      yield* Deferred.succeed(gate, undefined)
      expect((yield* Fiber.join(first)).status).toBe(200)
      expect((yield* Fiber.join(second)).status).toBe(200)
      // Permits come back when a handler finishes.
      expect((yield* fetchReply(url)).status).toBe(200)
    }))

  it.scopedLive("gives the permit back when the handler fails or is interrupted", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const app = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        request.url === "/fail"
          ? Effect.die("boom")
          : request.url === "/hang"
          ? Deferred.succeed(started, undefined).pipe(
            Effect.zipRight(Effect.never),
            Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
          )
          : Effect.succeed(HttpServerResponse.text("ok")))
      // Interruptible, so a client disconnect reaches the handler (a raw app is not).
      const { url } = yield* serve(Middleware.interruptible(Middleware.withConcurrencyLimit(1)(app)), plainServer())
      expect((yield* fetchReply(`${url}/fail`)).status).toBe(500)
      expect((yield* fetchReply(`${url}/ok`)).status).toBe(200)
      const request = call(`${url}/hang`)
      request.reply.catch(() => {})
      yield* Deferred.await(started)
      expect((yield* fetchReply(`${url}/ok`)).status).toBe(503)
      request.destroy()
      yield* Deferred.await(interrupted).pipe(Effect.timeout("2 seconds"))
      yield* eventually(Effect.map(fetchReply(`${url}/ok`), (r) => r.status === 200), "the permit is back")
    }).pipe(Effect.provide(captureLogs().layer)))
})

describe("client disconnect", () => {
  const handler = Effect.gen(function*() {
    const started = yield* Deferred.make<void>()
    const interrupted = yield* Deferred.make<void>()
    const finished = yield* Deferred.make<void>()
    const gate = yield* Deferred.make<void>()
    const app = Effect.gen(function*() {
      yield* Deferred.succeed(started, undefined)
      yield* Deferred.await(gate)
      yield* Deferred.succeed(finished, undefined)
      return HttpServerResponse.text("done")
    }).pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
    return { app, finished, gate, interrupted, started }
  })

  it.scopedLive("interrupts a router handler when the client hangs up", () =>
    Effect.gen(function*() {
      const { app, interrupted, started } = yield* handler
      const { url } = yield* serve(HttpRouter.empty.pipe(HttpRouter.get("/wait", app)), plainServer())
      const request = call(`${url}/wait`)
      request.reply.catch(() => {})
      yield* Deferred.await(started)
      request.destroy()
      yield* Deferred.await(interrupted).pipe(Effect.timeout("2 seconds"))
    }))

  it.scopedLive("interrupts a raw HttpApp only when it is made interruptible", () =>
    Effect.gen(function*() {
      const raw = yield* handler
      const { url: rawUrl } = yield* serve(raw.app, plainServer())
      const request = call(rawUrl)
      request.reply.catch(() => {})
      yield* Deferred.await(raw.started)
      request.destroy()
      // The platform runs a raw app uninterruptibly: the hang-up cannot stop it.
      yield* realDelay(50)
      yield* Deferred.succeed(raw.gate, undefined)
      yield* Deferred.await(raw.finished).pipe(Effect.timeout("2 seconds"))

      const wrapped = yield* handler
      const { url } = yield* serve(Middleware.interruptible(wrapped.app), plainServer())
      const second = call(url)
      second.reply.catch(() => {})
      yield* Deferred.await(wrapped.started)
      second.destroy()
      yield* Deferred.await(wrapped.interrupted).pipe(Effect.timeout("2 seconds"))
      expect(yield* Deferred.isDone(wrapped.finished)).toBe(false)
    }))
})
