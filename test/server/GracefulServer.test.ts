import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as http from "node:http"
import * as GracefulServer from "../../src/server/GracefulServer.js"
import * as JobPool from "../../src/server/JobPool.js"
import * as Middleware from "../../src/server/Middleware.js"
import {
  awaitSleepers,
  canConnect,
  captureLogs,
  eventually,
  fetchReply,
  listenOptions,
  serve,
  tcpHandles
} from "./helpers.js"

const baselineHandles = tcpHandles()

const graceful = (options: GracefulServer.GracefulOptions = {}) =>
  GracefulServer.layer(() => http.createServer(), { ...listenOptions, ...options })

/** A server (and pool) in its own scope, so a test can shut it down midway. */
const start = <E, R>(app: Parameters<typeof serve<E, R>>[0], options: GracefulServer.GracefulOptions, pool: JobPool.JobPoolOptions = {}) =>
  Effect.gen(function*() {
    // A child of the test's scope: closed by the test midway, or at its end at the latest.
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const server = yield* serve(app, graceful(options), JobPool.layer(pool)).pipe(Scope.extend(scope))
    return { ...server, pool: Context.get(server.context, JobPool.JobPool), shutdown: Effect.fork(Scope.close(scope, Exit.void)) }
  })

describe("GracefulServer with a JobPool", () => {
  it.scoped("a job submitted by a handler runs after the response is sent", () =>
    Effect.gen(function*() {
      const responded = yield* Deferred.make<void>()
      const jobDone = yield* Deferred.make<void>()
      const router = HttpRouter.empty.pipe(
        HttpRouter.post(
          "/signup",
          Effect.map(
            JobPool.submit({
              name: "welcome-email",
              run: Effect.zipRight(Deferred.await(responded), Deferred.succeed(jobDone, undefined))
            }),
            (id) => HttpServerResponse.unsafeJson({ job: id }, { status: 202 })
          )
        )
      )
      const { pool, url } = yield* start(router, {}, { workers: 1 })

      const reply = yield* fetchReply(`${url}/signup`, { method: "POST" })
      expect(reply.status).toBe(202)
      expect(JSON.parse(reply.body)).toEqual({ job: "jobs-1" })
      // The response went out while the job was still pending.
      expect(yield* Deferred.isDone(jobDone)).toBe(false)
      const { queued, running } = yield* pool.stats
      expect(queued + running).toBe(1)

      yield* Deferred.succeed(responded, undefined)
      yield* Deferred.await(jobDone)
    }))

  it.scoped("a full queue answers 503 + Retry-After and loses no accepted job", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const done = yield* Ref.make(0)
      const enqueue = JobPool.submit({ name: "resize", run: Effect.zipRight(Deferred.await(gate), Ref.update(done, (n) => n + 1)) }).pipe(
        Effect.map((id) => HttpServerResponse.text(id, { status: 202 })),
        Effect.catchTag("JobQueueFull", (full) => Effect.succeed(Middleware.serviceUnavailable(full.retryAfter, "queue full")))
      )
      const { pool, url } = yield* start(HttpRouter.empty.pipe(HttpRouter.post("/resize", enqueue)), {}, {
        workers: 1,
        capacity: 1,
        retryAfter: "5 seconds"
      })
      const post = fetchReply(`${url}/resize`, { method: "POST" })

      expect(yield* post).toMatchObject({ status: 202, body: "jobs-1" })
      yield* eventually(Effect.map(pool.stats, (s) => s.running === 1), "first job running")
      expect(yield* post).toMatchObject({ status: 202, body: "jobs-2" })
      const refused = yield* post
      expect(refused.status).toBe(503)
      expect(refused.headers["retry-after"]).toBe("5")

      yield* Deferred.succeed(gate, undefined)
      yield* eventually(Effect.map(pool.stats, (s) => s.succeeded === 2), "both accepted jobs done")
      expect(yield* Ref.get(done)).toBe(2)
      expect(yield* pool.stats).toMatchObject({ failed: 0, rejected: 1 })
    }))

  it.scoped("shutdown: the listener closes, in-flight requests finish, then the job pool drains", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const events = yield* Ref.make<ReadonlyArray<string>>([])
      const record = (event: string) => Ref.update(events, (e) => [...e, event])
      const handler = Effect.gen(function*() {
        yield* record("request started")
        yield* Effect.sleep("2 seconds")
        yield* JobPool.submit({ name: "follow-up", timeout: "none", run: Effect.zipRight(Effect.sleep("1 second"), record("job done")) })
        yield* record("request done")
        return HttpServerResponse.text("ok")
      })
      const { pool, port, shutdown, url } = yield* start(HttpRouter.empty.pipe(HttpRouter.get("/slow", handler)), {
        drainTimeout: "10 seconds"
      }, { workers: 1, drainTimeout: "30 seconds" })
      const agent = new http.Agent({ keepAlive: true })
      yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))

      const reply = yield* Effect.fork(fetchReply(`${url}/slow`, { agent }))
      yield* eventually(Effect.map(Ref.get(events), (e) => e.length === 1), "request started")
      const closing = yield* shutdown
      yield* eventually(Effect.map(Effect.promise(() => canConnect(port)), (ok) => !ok), "listener closed")

      yield* awaitSleepers(2) // the handler's sleep and the drain deadline
      yield* TestClock.adjust("2 seconds")
      const answer = yield* Fiber.join(reply)
      expect(answer.status).toBe(200)
      // Tells a keep-alive client not to reuse the socket, which ends with this response.
      expect(answer.headers.connection).toBe("close")

      // The pool is still open for the job the last request submitted...
      yield* awaitSleepers(2) // the job's sleep and the pool's drain deadline
      expect(Option.isNone(yield* Fiber.poll(closing))).toBe(true)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(closing)
      expect(yield* Ref.get(events)).toEqual(["request started", "request done", "job done"])
      expect(yield* pool.drained).toEqual({ completed: 1, abandoned: [], timedOut: false })
      // ...and drains only after the server did.
      const messages = logs.entries.map((e) => e.message)
      const serverDrained = messages.indexOf("http server drained (all requests completed)")
      const poolDraining = messages.indexOf("job pool draining: 1 job(s) queued or running")
      // Both logged (indexOf is -1 otherwise, which would pass the order check on its own).
      expect(serverDrained).toBeGreaterThanOrEqual(0)
      expect(poolDraining).toBeGreaterThanOrEqual(0)
      expect(serverDrained).toBeLessThan(poolDraining)
      expect(Object.keys(agent.freeSockets)).toEqual([])
    }).pipe(Effect.provide(logs.layer))
  })
})

describe("GracefulServer drain deadline", () => {
  it.scoped("interrupts requests still running at the deadline: they answer 503", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const never = yield* Deferred.make<void>()
      const hang = Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(never)).pipe(
        Effect.as(HttpServerResponse.text("never")),
        Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
      )
      const { shutdown, url } = yield* start(HttpRouter.empty.pipe(HttpRouter.get("/hang", hang)), { drainTimeout: "5 seconds" })

      const reply = yield* Effect.fork(fetchReply(`${url}/hang?q=1`))
      yield* Deferred.await(started)
      const closing = yield* shutdown
      yield* awaitSleepers(1)
      yield* TestClock.adjust("4999 millis")
      expect(yield* Deferred.isDone(interrupted)).toBe(false)
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(reply)).status).toBe(503)
      expect(yield* Deferred.isDone(interrupted)).toBe(true)
      yield* Fiber.join(closing)
      const warning = logs.entries.find((e) => e.level === "WARN")
      expect(warning?.message).toBe("http drain deadline (5s) passed: interrupting 1 request(s): GET /hang")
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("an uninterruptible handler cannot hold shutdown hostage: its socket is destroyed", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const never = yield* Deferred.make<void>()
      // A raw HttpApp: the platform runs it uninterruptibly.
      const app = Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(never)).pipe(
        Effect.as(HttpServerResponse.text("never"))
      )
      const { shutdown, url } = yield* start(app, { drainTimeout: "5 seconds", interruptTimeout: "1 second" })

      const reply = yield* Effect.fork(fetchReply(url))
      yield* Deferred.await(started)
      const closing = yield* shutdown
      yield* awaitSleepers(1)
      yield* TestClock.adjust("5 seconds")
      yield* awaitSleepers(1)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(closing)
      yield* Effect.flip(Fiber.join(reply)) // the connection was destroyed
      const error = logs.entries.find((e) => e.level === "ERROR")
      expect(error?.message).toContain("1 request(s) ignored interruption")
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("leaves no sockets or listeners behind", () =>
    eventually(Effect.sync(() => tcpHandles() === baselineHandles), "TCP handles back to the baseline"))
})
