/**
 * The test kit itself: route matching, replies, the request log, and the simulated body's
 * poll/wait/release contract (the same one the undici transport honours). Everything runs on
 * the TestClock; nothing touches the network.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Chunk, Clock, Duration, Effect, Exit, Fiber, Option, Ref, Stream, TestClock } from "effect"
import * as Client from "../src/Client.js"
import type { NetworkError } from "../src/Errors.js"
import type { TransportRequest } from "../src/Client.js"
import * as Testing from "../src/Testing.js"

const noRetry = { retry: { maxAttempts: 1 } } as const

/** A transport request as the client would build it. */
const request = (url: string, method = "GET", body?: string): TransportRequest => ({
  url: new URL(url),
  method,
  headers: { "user-agent": "test" },
  body,
  redactedUrl: url
})

const send = (routes: Testing.Routes, req: TransportRequest) =>
  Effect.gen(function*() {
    const test = Testing.make(routes)
    const response = yield* test.transport.send(req, undefined)
    return { test, response }
  })

describe("Testing: routes", () => {
  it.effect("matches paths with :params and *, on any host, and full URLs per origin", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<Array<Record<string, string>>>([])
      const capture = (label: string) => (req: Testing.TestRequest) =>
        Effect.as(Ref.update(seen, (all) => [...all, { label, ...req.params }]), Testing.text(label))
      const routes: Testing.Routes = [
        { url: "https://a.test/users/:id", reply: capture("a-user") },
        { url: "/users/:id/posts/:post", reply: capture("post") },
        { url: "/users/:id", reply: capture("user") },
        { url: "/files/*", reply: capture("file") }
      ]
      const program = Effect.gen(function*() {
        expect(yield* Client.text("https://a.test/users/7")).toBe("a-user")
        expect(yield* Client.text("https://b.test/users/7")).toBe("user")
        expect(yield* Client.text("http://a.test/users/8")).toBe("user") // other scheme: other origin
        expect(yield* Client.text("https://b.test/users/9/posts/x%20y")).toBe("post")
        expect(yield* Client.text("https://b.test/files/a/b/c.txt?v=1")).toBe("file")
        const missing = yield* Effect.flip(Client.text("https://b.test/users/"))
        expect(missing._tag === "StatusError" && missing.status).toBe(404)
      })
      yield* Effect.provide(program, Testing.layer(routes, noRetry))
      expect(yield* Ref.get(seen)).toEqual([
        { label: "a-user", id: "7" },
        { label: "user", id: "7" },
        { label: "user", id: "8" },
        { label: "post", id: "9", post: "x y" },
        { label: "file", "*": "a/b/c.txt" }
      ])
    }))

  it.effect("a record of routes takes a method prefix; the first match wins; a query in the pattern must be present", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const post = HttpClientRequest.post("https://api.test/jobs")
        expect(yield* Client.text(post)).toBe("created")
        expect(yield* Client.text("https://api.test/jobs")).toBe("list")
        expect(yield* Client.text("https://api.test/search?q=cats&page=2")).toBe("cats")
        expect(yield* Client.text("https://api.test/search?q=dogs")).toBe("other search")
        expect(yield* Client.text("https://api.test/other")).toBe("anything")
      })
      yield* Effect.provide(
        program,
        Testing.layer({
          "POST /jobs": Testing.text("created"),
          "GET /jobs": Testing.text("list"),
          "/search?q=cats": Testing.text("cats"),
          "/search": Testing.text("other search"),
          "* https://api.test/*": Testing.text("anything")
        })
      )
    }))

  it.effect("RegExp patterns match the full URL with named groups; predicates see the request", () =>
    Effect.gen(function*() {
      const routes: Testing.Routes = [
        { url: /^https:\/\/(?<tenant>[a-z]+)\.api\.test\/v(?<version>\d+)\//g, reply: (req) => Testing.json(req.params) },
        { url: (req) => req.headers["x-beta"] === "1", reply: Testing.text("beta"), name: "beta users" }
      ]
      const program = Effect.gen(function*() {
        // A /g RegExp must not keep state between requests.
        expect(yield* Client.json("https://acme.api.test/v2/items")).toEqual({ tenant: "acme", version: "2" })
        expect(yield* Client.json("https://acme.api.test/v3/items")).toEqual({ tenant: "acme", version: "3" })
        const beta = HttpClientRequest.get("https://x.test/").pipe(HttpClientRequest.setHeader("X-Beta", "1"))
        expect(yield* Client.text(beta)).toBe("beta")
        const records = yield* Testing.requests
        expect(records.map((r) => r.route)).toEqual([String(routes[0]!.url), String(routes[0]!.url), "beta users"])
      })
      yield* Effect.provide(program, Testing.layer(routes, noRetry))
    }))

  it.effect("an unmatched request is a 404 naming it and the routes, and is listed as unmatched", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/nope?token=secret"))
        expect(error._tag).toBe("StatusError")
        if (error._tag !== "StatusError") return
        expect(error.status).toBe(404)
        expect(error.bodySnippet).toBe("volley/testing: no route matches GET https://api.test/nope?token=*** (routes: GET /known)")
        expect(error.headers["x-volley-testing"]).toBe("unmatched")
        const unmatched = yield* Testing.unmatched
        expect(unmatched.map((r) => [r.method, r.path, r.route])).toEqual([["GET", "/nope?token=secret", undefined]])
      })
      yield* Effect.provide(program, Testing.layer({ "GET /known": Testing.text("ok") }))
    }))

  it.effect("an invalid pattern is a defect when the layer is built", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.provide(Client.text("https://api.test/"), Testing.layer({ "users/:id": Testing.text("x") })))
      expect(Exit.isFailure(exit) && String(Exit.causeOption(exit).pipe(Option.getOrThrow))).toContain("must start with")
    }))
})

describe("Testing: replies", () => {
  it.effect("a sequence answers one element per call and repeats the last", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const statuses: Array<number> = []
        for (let i = 0; i < 5; i++) {
          const head = yield* Client.discard("https://api.test/x", { accept: () => true })
          statuses.push(head.status)
        }
        expect(statuses).toEqual([503, 502, 200, 200, 200])
        // reset starts the sequence over.
        yield* Testing.reset
        expect((yield* Client.discard("https://api.test/x", { accept: () => true })).status).toBe(503)
        expect(yield* Testing.requests).toHaveLength(1)
      })
      yield* Effect.provide(program, Testing.layer({ "/x": [Testing.status(503), Testing.status(502), Testing.text("ok")] }))
    }))

  it.effect("a function reply sees method, params, body and its call number, and may be a stateful Effect", () =>
    Effect.gen(function*() {
      const stock = yield* Ref.make(2)
      const routes: Testing.Routes = [{
        method: "POST",
        url: "/orders/:sku",
        reply: (req) =>
          Ref.modify(stock, (n): [Testing.Reply, number] =>
            n > 0
              ? [Testing.json({ sku: req.params["sku"], call: req.call, qty: JSON.parse(req.body ?? "{}").qty }, { status: 201 }), n - 1]
              : [Testing.status(409, { body: "sold out" }), n])
      }]
      const order = (sku: string) =>
        Client.json(HttpClientRequest.post(`https://shop.test/orders/${sku}`).pipe(HttpClientRequest.bodyUnsafeJson({ qty: 1 })))
      const program = Effect.gen(function*() {
        expect(yield* order("a")).toEqual({ sku: "a", call: 0, qty: 1 })
        expect(yield* order("b")).toEqual({ sku: "b", call: 1, qty: 1 })
        const error = yield* Effect.flip(order("c"))
        expect(error._tag === "StatusError" && [error.status, error.bodySnippet]).toEqual([409, "sold out"])
      })
      yield* Effect.provide(program, Testing.layer(routes, noRetry))
    }))

  it.effect("json, text, bytes and headers: names lower-cased, Content-Length set for whole bodies", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const client = yield* Client.Client
        const seen = yield* client.execute("https://api.test/json", (r) =>
          Effect.map(r.json, (body) => ({ body, headers: r.headers, length: r.contentLength })))
        expect(seen).toEqual({
          body: { a: [1, 2] },
          headers: { "content-type": "application/json", "content-length": "11", "x-id": "7" },
          length: 11
        })
        expect(yield* Client.bytes("https://api.test/bytes")).toEqual(new Uint8Array([1, 2, 3]))
        const stepped = yield* client.execute("https://api.test/stepped", (r) => Effect.map(r.text, (text) => [text, r.contentLength]))
        expect(stepped).toEqual(["abc", undefined])
      })
      yield* Effect.provide(
        program,
        Testing.layer({
          "/json": Testing.json({ a: [1, 2] }, { headers: { "X-Id": "7" } }),
          "/bytes": { body: new Uint8Array([1, 2, 3]) },
          "/stepped": { body: ["a", "b", "c"] }
        })
      )
    }))

  it.effect("a HEAD response announces the length and carries no body", () =>
    Effect.gen(function*() {
      const { response } = yield* send({ "/x": Testing.text("hello") }, request("https://api.test/x", "HEAD"))
      expect(response.headers["content-length"]).toBe("5")
      expect(response.body.poll()).toBeNull()
    }))

  it.effect("each network failure is a NetworkError with its reason, a realistic code, method and redacted URL", () =>
    Effect.gen(function*() {
      const reasons = ["ConnectionRefused", "ConnectionReset", "DnsLookup", "Tls", "Timeout", "Protocol", "Other"] as const
      const routes = Object.fromEntries(reasons.map((r) => [`/${r}`, Testing.networkError(r)]))
      const program = Effect.forEach(reasons, (reason) =>
        Effect.flip(Client.text(HttpClientRequest.put(`https://u:p@api.test/${reason}?sig=abc`))))
      const errors = (yield* Effect.provide(program, Testing.layer(routes, noRetry))) as ReadonlyArray<NetworkError>
      expect(errors.map((e) => [e._tag, e.reason, e.phase, e.code, e.method])).toEqual([
        ["NetworkError", "ConnectionRefused", undefined, "ECONNREFUSED", "PUT"],
        ["NetworkError", "ConnectionReset", undefined, "ECONNRESET", "PUT"],
        ["NetworkError", "DnsLookup", undefined, "ENOTFOUND", "PUT"],
        ["NetworkError", "Tls", undefined, "DEPTH_ZERO_SELF_SIGNED_CERT", "PUT"],
        ["NetworkError", "Timeout", "connect", "UND_ERR_CONNECT_TIMEOUT", "PUT"],
        ["NetworkError", "Protocol", undefined, "HPE_INVALID_CONSTANT", "PUT"],
        ["NetworkError", "Other", undefined, undefined, "PUT"]
      ])
      for (const error of errors) {
        expect(error.url).toBe(`https://***@api.test/${error.reason}?sig=***`)
        expect(error.message).not.toContain("abc")
      }
    }))

  it.effect("a failure arrives after its latency, on the clock", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/x", { deadline: "none" }))
        expect(error._tag === "NetworkError" && [error.reason, error.phase]).toEqual(["Timeout", "connect"])
        expect(yield* Clock.currentTimeMillis).toBe(10_000)
        const [record] = yield* Testing.requests
        expect([record!.at, record!.endedAt, record!.error?.reason, record!.responseBody]).toEqual([0, 10_000, "Timeout", "none"])
      })
      yield* Testing.inVirtualTime(program).pipe(
        Effect.provide(Testing.layer({ "/x": Testing.networkError("Timeout", { latency: "10 seconds" }) }, noRetry))
      )
    }))

  it.effect("route latency applies to replies that set none", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        yield* Client.text("https://api.test/a")
        yield* Client.text("https://api.test/a")
        const records = yield* Testing.requests
        expect(records.map((r) => [r.at, r.respondedAt])).toEqual([[0, 250], [250, 300]])
      })
      yield* Testing.inVirtualTime(program).pipe(
        Effect.provide(Testing.layer([{ url: "/a", latency: "250 millis", reply: [Testing.text("slow"), Testing.text("fast", { latency: 50 })] }]))
      )
    }))
})

describe("Testing: the request log", () => {
  it.effect("records method, URL, headers, body text (streamed bodies too), route and times", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        yield* Client.text(
          HttpClientRequest.post("https://api.test/upload").pipe(HttpClientRequest.bodyText("hello", "text/plain"))
        )
        yield* Client.text(
          HttpClientRequest.post("https://api.test/upload").pipe(
            HttpClientRequest.bodyStream(Stream.make(new TextEncoder().encode("str"), new TextEncoder().encode("eam")))
          )
        )
        const records = yield* Testing.requests
        expect(records.map((r) => ({ id: r.id, method: r.method, url: r.url, body: r.body, streamed: r.streamedBody, route: r.route })))
          .toEqual([
            { id: 1, method: "POST", url: "https://api.test/upload", body: "hello", streamed: false, route: "POST /upload" },
            { id: 2, method: "POST", url: "https://api.test/upload", body: "stream", streamed: true, route: "POST /upload" }
          ])
        expect(records[0]!.headers["content-type"]).toBe("text/plain")
        expect(records[0]!.headers["user-agent"]).toMatch(/^volley\//)
        expect(records.every((r) => r.responseBody === "consumed" && r.at === 0 && r.endedAt === 0)).toBe(true)
        // Records are snapshots: they do not change under the test's feet.
        expect(Object.isFrozen(records[0])).toBe(true)
      })
      yield* Effect.provide(program, Testing.layer({ "POST /upload": (req) => Testing.text(req.body ?? "") }))
    }))

  it.effect("requestsTo filters by any pattern; maxInFlight and maxInFlightTo count overlapping exchanges", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const urls = [
          ...Array.from({ length: 6 }, (_, i) => `https://a.test/item/${i}`),
          ...Array.from({ length: 3 }, (_, i) => `https://b.test/item/${i}`)
        ]
        yield* Effect.forEach(urls, (url) => Client.text(url), { concurrency: 4 })
        expect(yield* Testing.maxInFlight).toBe(4)
        expect(yield* Testing.inFlight).toBe(0)
        expect(yield* Testing.requestsTo("https://a.test/item/:n")).toHaveLength(6)
        expect(yield* Testing.requestsTo(/b\.test/)).toHaveLength(3)
        expect(yield* Testing.requestsTo("POST /item/:n")).toHaveLength(0)
        expect(yield* Testing.maxInFlightTo("https://a.test/*")).toBe(4)
        // b/0 and b/1 start at 1 s with a/4 and a/5; b/2 only at 2 s, when they have finished.
        expect(yield* Testing.maxInFlightTo("https://b.test/*")).toBe(2)
        const records = yield* Testing.requests
        // Exchanges due at the same instant end together, before the pool starts the next ones.
        expect(records.map((r) => r.concurrent)).toEqual([1, 2, 3, 4, 1, 2, 3, 4, 1])
        // Four at a time, one second each.
        expect(records.map((r) => r.at)).toEqual([0, 0, 0, 0, 1000, 1000, 1000, 1000, 2000])
      })
      yield* Testing.inVirtualTime(program).pipe(Effect.provide(Testing.layer({ "/item/:n": Testing.text("x", { latency: "1 second" }) })))
    }))

  it.effect("awaitRequests suspends until that many requests have arrived", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const fiber = yield* Effect.fork(Effect.forEach([1, 2, 3], (i) => Client.text(`https://api.test/${i}`), { concurrency: "unbounded" }))
        yield* Testing.awaitRequests(3)
        expect((yield* Testing.requests).map((r) => r.path)).toEqual(["/1", "/2", "/3"])
        expect(yield* Testing.inFlight).toBe(3)
        yield* TestClock.adjust("5 seconds")
        expect(yield* Fiber.join(fiber)).toEqual(["ok", "ok", "ok"])
        expect(yield* Testing.inFlight).toBe(0)
      })
      yield* Effect.provide(program, Testing.layer({ "/:n": Testing.text("ok", { latency: "5 seconds" }) }))
    }))

  it.effect("awaitRequests: several waiters for different counts each wake when their count is reached", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const woke: Array<[number, number, number]> = []
        const waitFor = (count: number) =>
          Effect.fork(Effect.gen(function*() {
            yield* Testing.awaitRequests(count)
            woke.push([count, (yield* Testing.requests).length, yield* Clock.currentTimeMillis])
          }))
        const five = yield* waitFor(5)
        const two = yield* waitFor(2)
        const never = yield* waitFor(100)
        const three = yield* waitFor(3)
        // One request a second, one after the other: request n arrives at (n - 1) s.
        yield* Testing.inVirtualTime(Effect.forEach([1, 2, 3, 4, 5], (i) => Client.text(`https://api.test/${i}`)))
        yield* Fiber.joinAll([five, two, three])
        expect(woke).toEqual([[2, 2, 1000], [3, 3, 2000], [5, 5, 4000]])
        // A waiter interrupted before its count came is forgotten; the others still wake.
        yield* Fiber.interrupt(never)
        const six = yield* waitFor(6)
        yield* Testing.inVirtualTime(Client.text("https://api.test/6"))
        yield* Fiber.join(six)
        expect(woke.at(-1)).toEqual([6, 6, 5000])
      })
      yield* Effect.provide(program, Testing.layer({ "/:n": Testing.text("ok", { latency: "1 second" }) }))
    }))

  it.effect("exchanges due at the same instant share one clock sleep; interrupting the one that sleeps leaves the others on time", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const calls = yield* Effect.forEach(
          [1, 2, 3, 4, 5],
          (i) => Effect.fork(Client.text(`https://api.test/${i}`)),
          { concurrency: "unbounded" }
        )
        yield* Testing.awaitRequests(5)
        // Five requests answering at 1 s: one timer on the TestClock, not five.
        expect(Chunk.toReadonlyArray(yield* TestClock.sleeps())).toEqual([1000])
        yield* TestClock.adjust("400 millis")
        // The first one is the one sleeping on the clock; interrupting it hands the sleep over.
        yield* Fiber.interrupt(calls[0]!)
        expect(Chunk.toReadonlyArray(yield* TestClock.sleeps())).toContain(1000)
        yield* TestClock.adjust("599 millis")
        expect(yield* Testing.inFlight).toBe(4)
        yield* TestClock.adjust("1 millis")
        expect(yield* Fiber.join(Fiber.zip(calls[1]!, calls[2]!))).toEqual(["ok 2", "ok 3"])
        expect(yield* Fiber.join(Fiber.zip(calls[3]!, calls[4]!))).toEqual(["ok 4", "ok 5"])
        const records = yield* Testing.requests
        expect(records.map((r) => [r.interrupted, r.endedAt, r.respondedAt])).toEqual([
          [true, 400, undefined],
          [false, 1000, 1000],
          [false, 1000, 1000],
          [false, 1000, 1000],
          [false, 1000, 1000]
        ])
        expect(yield* Testing.inFlight).toBe(0)
      })
      yield* Effect.provide(
        program,
        Testing.layer(
          { "/:n": (req) => Testing.text(`ok ${req.params["n"]}`, { latency: "1 second" }) },
          { retry: { maxAttempts: 1 }, deadline: "none", idleTimeout: "none" }
        )
      )
    }))

  it.effect("interrupting a call before the headers marks its record interrupted, at the virtual time it happened", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const fiber = yield* Effect.fork(Client.text("https://api.test/slow"))
        yield* TestClock.adjust("1500 millis")
        yield* Fiber.interrupt(fiber)
        const [record] = yield* Testing.requests
        expect(record).toMatchObject({ at: 0, endedAt: 1500, interrupted: true, status: undefined, responseBody: "none" })
        expect(yield* Testing.inFlight).toBe(0)
      })
      yield* Effect.provide(program, Testing.layer({ "/slow": Testing.text("late", { latency: "1 minute" }) }))
    }))
})

describe("Testing: composing", () => {
  it.effect("one transport can serve several clients with different options, and records them all", () =>
    Effect.gen(function*() {
      const test = yield* Testing.TestTransport
      const patient = Client.makeWithTransport(test.transport, { retry: { maxAttempts: 3, jitter: false, baseDelay: "1 second" } })
      const program = Effect.gen(function*() {
        // The layer's client gives up at once; the patient one retries.
        const error = yield* Effect.flip(Client.text("https://api.test/x"))
        expect(error._tag === "StatusError" && error.status).toBe(503)
        expect(yield* patient.execute("https://api.test/x", (r) => r.text)).toBe("ok")
        expect((yield* Testing.requests).map((r) => [r.status, r.at])).toEqual([[503, 0], [503, 0], [200, 1000]])
      })
      yield* Testing.inVirtualTime(Effect.provide(program, Testing.layerClient({ retry: { maxAttempts: 1 } })))
    }).pipe(Effect.provide(Testing.layerTransport({ "/x": [Testing.status(503), Testing.status(503), Testing.text("ok")] }))))
})

describe("Testing: the body contract (poll / wait / release)", () => {
  it.effect("poll hands out what has arrived, undefined while waiting, null at the end; wait sleeps on the clock", () =>
    Effect.gen(function*() {
      const { test, response } = yield* send({ "/t": Testing.text(Testing.trickle(["a", "b"], "2 seconds")) }, request("https://api.test/t"))
      const body = response.body
      const decode = (chunk: Uint8Array | null | undefined) => (chunk instanceof Uint8Array ? new TextDecoder().decode(chunk) : chunk)
      expect(body.contentLength).toBeUndefined()
      expect(decode(body.poll())).toBe("a")
      expect(body.poll()).toBeUndefined()
      const waiting = yield* Effect.fork(body.wait(undefined))
      yield* TestClock.adjust("1999 millis")
      expect(waiting.unsafePoll()).toBeNull()
      expect(body.poll()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(waiting)
      expect(decode(body.poll())).toBe("b")
      expect(body.poll()).toBeNull()
      expect(body.poll()).toBeNull()
      // wait at the end resolves at once.
      yield* body.wait(undefined)
      body.release(false)
      body.release(true) // idempotent
      const [record] = yield* test.requests
      expect(record).toMatchObject({ responseBody: "consumed", bytesRead: 2, respondedAt: 0, endedAt: 2000 })
    }))

  it.effect("a failure mid-body: buffered chunks first, then poll is undefined and wait fails with the error", () =>
    Effect.gen(function*() {
      const { test, response } = yield* send(
        { "/t": { body: ["abc", Testing.pause("1 second"), Testing.failBody("ConnectionReset")] } },
        request("https://api.test/t")
      )
      const body = response.body
      expect(body.poll()?.length).toBe(3)
      expect(body.poll()).toBeUndefined()
      const waiting = yield* Effect.fork(body.wait(undefined))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(waiting) // the failure is now due
      expect(body.poll()).toBeUndefined()
      const error = yield* Effect.flip(body.wait(undefined))
      expect([error.reason, error.code, error.method, error.url]).toEqual(["ConnectionReset", "ECONNRESET", "GET", "https://api.test/t"])
      expect(yield* Effect.flip(body.wait(undefined))).toBe(error)
      body.release(true)
      const [record] = yield* test.requests
      expect(record).toMatchObject({ responseBody: "failed", endedAt: 1000, bytesRead: 3 })
      expect(record!.error).toBe(error)
    }))

  it.effect("a stall never resolves wait; interrupting the wait marks the record interrupted", () =>
    Effect.gen(function*() {
      const { test, response } = yield* send({ "/t": { body: ["x", Testing.stall] } }, request("https://api.test/t"))
      expect(response.body.poll()?.length).toBe(1)
      const exit = yield* Effect.exit(Effect.timeout(response.body.wait(undefined), "1 hour").pipe(TestClock.adjustWith("1 hour")))
      expect(Exit.isFailure(exit)).toBe(true)
      response.body.release(false)
      const [record] = yield* test.requests
      // A stalled remainder cannot be drained: the connection would be closed.
      expect(record).toMatchObject({ interrupted: true, responseBody: "aborted", endedAt: 3_600_000 })
    }))

  it.effect("release drains when at most 64 KiB are still to come, aborts otherwise or when asked", () =>
    Effect.gen(function*() {
      const big = "x".repeat(64 * 1024 + 1)
      const fate = (body: Testing.ResponseSpec["body"], abort: boolean) =>
        Effect.gen(function*() {
          const { test, response } = yield* send({ "/t": { body } }, request("https://api.test/t"))
          response.body.release(abort)
          response.body.release(!abort)
          return (yield* test.requests)[0]!.responseBody
        })
      expect(yield* fate("small", false)).toBe("drained")
      expect(yield* fate("small", true)).toBe("aborted")
      // A whole body has arrived with the headers: it is buffered, so nothing is left to read.
      expect(yield* fate(big, false)).toBe("drained")
      // Still to come over the wire: too much to drain.
      expect(yield* fate(["a", Testing.pause("1 second"), big], false)).toBe("aborted")
      expect(yield* fate(["a", Testing.pause("1 second"), "small"], false)).toBe("drained")
      expect(yield* fate(["a", Testing.failBody()], false)).toBe("aborted")
    }))

  it.effect("a released trickle stops: nothing more is handed out, the record's byte count stays put", () =>
    Effect.gen(function*() {
      const { test, response } = yield* send(
        { "/t": Testing.text(Testing.trickle(["1", "2", "3", "4"], "1 second")) },
        request("https://api.test/t")
      )
      expect(response.body.poll()?.length).toBe(1)
      response.body.release(true)
      yield* TestClock.adjust("10 seconds")
      expect(response.body.poll()).toBeUndefined()
      yield* response.body.wait(undefined) // resolves at once, like the real transport after release
      const [record] = yield* test.requests
      expect(record).toMatchObject({ responseBody: "aborted", bytesRead: 1, endedAt: 0 })
      expect(yield* test.inFlight).toBe(0)
    }))

  it.effect("a whole body arrives with the headers in chunks of up to 64 KiB; a trickle one chunk per step", () =>
    Effect.gen(function*() {
      const program = Effect.gen(function*() {
        const whole = yield* Stream.runCollect(Client.stream("https://api.test/whole"))
        expect(Chunk.toReadonlyArray(whole).map((c) => c.length)).toEqual([65536, 65536, 68])
        expect(yield* Clock.currentTimeMillis).toBe(0)
        const trickled = yield* Stream.runCollect(Client.stream("https://api.test/trickle"))
        expect(Chunk.toReadonlyArray(trickled).map((c) => new TextDecoder().decode(c))).toEqual(["a", "b", "c"])
        expect(yield* Clock.currentTimeMillis).toBe(200)
      })
      yield* Testing.inVirtualTime(program).pipe(
        Effect.provide(Testing.layer({ "/whole": Testing.text("w".repeat(131_140)), "/trickle": Testing.text(Testing.trickle(["a", "b", "c"], 100)) }))
      )
    }))
})

describe("Testing: inVirtualTime", () => {
  it.effect("runs hours of waiting instantly and stops the clock where the effect finished", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const result = yield* Testing.inVirtualTime(Effect.as(Effect.sleep("3 hours"), "done"))
      expect(result).toBe("done")
      expect(yield* Clock.currentTimeMillis).toBe(Duration.toMillis("3 hours"))
      expect(Date.now() - started).toBeLessThan(1000)
    }))

  it.effect("propagates failures", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Testing.inVirtualTime(Effect.zipRight(Effect.sleep("1 second"), Effect.fail("boom"))))
      expect(error).toBe("boom")
    }))

  it.effect("dies when the effect outlives the virtual-time limit", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Testing.inVirtualTime(Effect.forever(Effect.sleep("10 minutes")), { limit: "1 hour" }))
      expect(Exit.isFailure(exit) && String(Exit.causeOption(exit).pipe(Option.getOrThrow))).toContain("not completed after 1h")
    }))

  it.effect("dies when the effect is blocked for good, without waiting a day of real time", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Testing.inVirtualTime(Effect.never))
      expect(Exit.isFailure(exit) && String(Exit.causeOption(exit).pipe(Option.getOrThrow))).toContain("not completed after 1d")
    }))
})

describe("Testing: live clock", () => {
  it.live("works on the real clock too (latency is a real sleep then)", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const program = Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/x")).toBe("ok")
        const [record] = yield* Testing.requests
        expect(record!.respondedAt! - record!.at).toBeGreaterThanOrEqual(19)
      })
      yield* Effect.provide(program, Testing.layer({ "/x": Testing.text("ok", { latency: "20 millis" }) }))
      expect(Date.now() - started).toBeGreaterThanOrEqual(19)
    }))
})
