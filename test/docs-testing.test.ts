/**
 * The examples of docs/testing.md, as tests. Each ```ts block of the guide appears verbatim
 * below (imports mapped from the package names to the sources), and the last test checks
 * that it still does, so the guide cannot drift from code that runs.
 */
import * as fs from "node:fs"
import { expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Clock, Deferred, Effect, Fiber, Layer, TestClock } from "effect"
import { Client, Errors, Retry } from "../src/index.js"
import { JobPool } from "../src/server/index.js"
import * as Testing from "../src/Testing.js"

const getStatus = Client.json("https://api.example.com/status")

it.effect("retries 503s with exponential backoff, then succeeds", () =>
  Effect.gen(function*() {
    const status = yield* Testing.inVirtualTime(getStatus)
    expect(status).toEqual({ ok: true })

    // Three attempts: at once, after 1 s, then 2 s later, on the virtual clock.
    const requests = yield* Testing.requests
    expect(requests.map((r) => r.at)).toEqual([0, 1000, 3000])
    expect(requests.map((r) => r.status)).toEqual([503, 503, 200])
  }).pipe(
    Effect.provide(
      Testing.layer(
        { "GET /status": [Testing.status(503), Testing.status(503), Testing.json({ ok: true })] },
        { retry: { baseDelay: "1 second", jitter: false } }
      )
    )
  ))

it.effect("waits exactly as long as Retry-After says, and no longer than the cap", () =>
  Effect.gen(function*() {
    yield* Testing.inVirtualTime(Client.text("https://api.example.com/report"))
    expect((yield* Testing.requests).map((r) => r.at)).toEqual([0, 30_000])

    const error = yield* Effect.flip(Client.text("https://api.example.com/export"))
    expect(error._tag === "StatusError" && error.status).toBe(429)
    expect(yield* Testing.requestsTo("/export")).toHaveLength(1)
  }).pipe(
    Effect.provide(
      Testing.layer(
        {
          "/report": [Testing.status(503, { headers: { "retry-after": "30" } }), Testing.text("done")],
          "/export": Testing.status(429, { headers: { "retry-after": "3600" } })
        },
        { retry: { maxRetryAfter: "1 minute" } }
      )
    )
  ))

it.effect("gives up on a hung server at the 10 s deadline", () =>
  Effect.gen(function*() {
    const error = yield* Testing.inVirtualTime(
      Effect.flip(Client.text("https://api.example.com/slow", { deadline: "10 seconds", retry: false }))
    )
    expect(Errors.isTimeout(error)).toBe(true)
    expect(yield* Clock.currentTimeMillis).toBe(10_000)

    const [request] = yield* Testing.requests
    expect(request?.interrupted).toBe(true)
    expect(request?.endedAt).toBe(10_000)
  }).pipe(Effect.provide(Testing.layer({ "/slow": Testing.text("too late", { latency: "1 hour" }) }))))

it.effect("fails when the body stalls longer than the idle timeout", () =>
  Effect.gen(function*() {
    const call = yield* Effect.fork(
      Effect.flip(Client.text("https://api.example.com/feed", { idleTimeout: "5 seconds", retry: false }))
    )
    // Two chunks a second apart, then nothing: the idle timer starts at 1 s.
    yield* TestClock.adjust("5999 millis")
    expect(call.unsafePoll()).toBeNull()
    yield* TestClock.adjust("1 millis")

    const error = yield* Fiber.join(call)
    expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "body"])
    const [request] = yield* Testing.requests
    expect(request?.bytesRead).toBe(24)
    expect(request?.responseBody).toBe("aborted")
  }).pipe(
    Effect.provide(Testing.layer({ "/feed": Testing.text(["first chunk\n", Testing.pause("1 second"), "second chunk", Testing.stall]) }))
  ))

const fetchAll = (ids: ReadonlyArray<number>) =>
  Effect.forEach(ids, (id) => Client.json(`https://api.example.com/items/${id}`), { concurrency: 4 })

it.effect("fetches 20 items, never more than 4 at a time", () =>
  Effect.gen(function*() {
    const items = yield* Testing.inVirtualTime(fetchAll(Array.from({ length: 20 }, (_, i) => i)))
    expect(items).toHaveLength(20)
    expect(yield* Testing.maxInFlight).toBe(4)
    // 20 requests of 100 ms each, 4 at a time: five waves.
    expect(yield* Clock.currentTimeMillis).toBe(500)
    expect(yield* Testing.inFlight).toBe(0)
  }).pipe(
    Effect.provide(
      Testing.layer({
        "/items/:id": (request) => Testing.json({ id: Number(request.params["id"]) }, { latency: "100 millis" })
      })
    )
  ))

const webhookPolicy = Retry.policy({ maxAttempts: 5, baseDelay: "1 second", jitter: false })

const pushReport = (report: string) =>
  Client.discard(
    HttpClientRequest.post("https://hooks.example.com/report").pipe(HttpClientRequest.bodyText(report)),
    { retry: false }
  ).pipe(Effect.retry({ schedule: Retry.schedule(webhookPolicy), while: Errors.isTransient }))

it.scoped("a background job retries its webhook call until it gets through", () =>
  Effect.gen(function*() {
    const job = yield* Effect.forkScoped(pushReport("daily totals"))
    const head = yield* Testing.inVirtualTime(Fiber.join(job))
    expect(head.status).toBe(204)

    const calls = yield* Testing.requestsTo("POST /report")
    expect(calls.map((r) => r.at)).toEqual([0, 1000, 3000])
    expect(calls.every((r) => r.body === "daily totals")).toBe(true)
  }).pipe(
    Effect.provide(
      Testing.layer({
        "POST /report": [Testing.status(502), Testing.networkError("ConnectionReset"), Testing.status(204)]
      })
    )
  ))

it.effect("a JobPool job retries by the policy's schedule", () =>
  Effect.gen(function*() {
    const delivered = yield* Deferred.make<number>()
    yield* JobPool.submit({
      name: "push-report",
      run: Client.discard(
        HttpClientRequest.post("https://hooks.example.com/report").pipe(HttpClientRequest.bodyText("daily totals")),
        { retry: false }
      ).pipe(Effect.flatMap((head) => Deferred.succeed(delivered, head.status))),
      retry: Retry.schedule<unknown>(webhookPolicy)
    })
    expect(yield* Testing.inVirtualTime(Deferred.await(delivered))).toBe(204)
    expect((yield* Testing.requestsTo("POST /report")).map((r) => r.at)).toEqual([0, 1000, 3000])
  }).pipe(
    Effect.provide(
      Layer.merge(
        JobPool.layer({ workers: 2 }),
        Testing.layer({ "POST /report": [Testing.status(503), Testing.status(503), Testing.status(204)] })
      )
    )
  ))

const todoApi = () => {
  const todos: Array<{ id: number; title: string }> = []
  return Testing.layer({
    "POST /todos": (request) => {
      const todo = { id: todos.length + 1, title: String(JSON.parse(request.body ?? "{}").title) }
      todos.push(todo)
      return Testing.json(todo, { status: 201 })
    },
    "GET /todos": () => Testing.json([...todos]),
    "GET /todos/:id": (request) => {
      const todo = todos.find((t) => t.id === Number(request.params["id"]))
      return todo === undefined ? Testing.status(404) : Testing.json(todo)
    }
  })
}

it.effect("a route can keep state between calls", () =>
  Effect.gen(function*() {
    const created = yield* Client.json(
      HttpClientRequest.post("https://api.example.com/todos").pipe(HttpClientRequest.bodyUnsafeJson({ title: "write tests" }))
    )
    expect(created).toEqual({ id: 1, title: "write tests" })
    expect(yield* Client.json("https://api.example.com/todos")).toEqual([{ id: 1, title: "write tests" }])
    const missing = yield* Effect.flip(Client.json("https://api.example.com/todos/2"))
    expect(missing._tag === "StatusError" && missing.status).toBe(404)
  }).pipe(Effect.provide(todoApi())))

/** The package names the guide imports, and the sources they stand for here. */
const packages: ReadonlyArray<readonly [string, string]> = [
  ['from "volley/testing"', 'from "../src/Testing.js"'],
  ['from "volley/server"', 'from "../src/server/index.js"'],
  ['from "volley"', 'from "../src/index.js"']
]

it("every ts block of docs/testing.md appears verbatim in this file", () => {
  const guide = fs.readFileSync(new URL("../docs/testing.md", import.meta.url), "utf8")
  const self = fs.readFileSync(new URL(import.meta.url), "utf8")
  const blocks = Array.from(guide.matchAll(/```ts\n([\s\S]*?)```/g), (match) => match[1]!)
  expect(blocks.length).toBeGreaterThanOrEqual(9)
  for (const block of blocks) {
    const local = packages.reduce((text, [from, to]) => text.replaceAll(from, to), block)
    if (!self.includes(local)) expect.fail(`a block of docs/testing.md is not in test/docs-testing.test.ts verbatim:\n${block}`)
  }
})
