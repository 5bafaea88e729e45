/**
 * The test kit itself: route matching, replies, composing, and virtual time. The request log
 * and the simulated body's poll/wait/release contract have their own files
 * (test/testing*.test.ts). Everything runs on the TestClock; nothing touches the network.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Clock, Duration, Effect, Exit, Option, Ref } from "effect"
import * as Client from "../src/Client.js"
import type { NetworkError } from "../src/Errors.js"
import * as Testing from "../src/Testing.js"
import { request, send } from "./support/transport.js"

const noRetry = { retry: { maxAttempts: 1 } } as const

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
