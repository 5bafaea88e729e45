/**
 * The client's redirect rules in virtual time, over the simulated transport: method and body
 * rewriting, credentials across origins, loops, limits and the one deadline over every hop.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Effect, Stream } from "effect"
import * as Client from "../../src/Client.js"
import * as Testing from "../../src/Testing.js"
import { exact, once, run, timeoutOf } from "./support.js"

describe("virtual time: redirects", () => {
  const post = (url: string, body = "payload") =>
    HttpClientRequest.post(url).pipe(HttpClientRequest.bodyText(body, "text/plain"), HttpClientRequest.setHeader("x-keep", "yes"))

  it.effect("303 turns POST into GET without the body or its headers", () =>
    run(
      { "POST /start": Testing.redirect("/done", 303), "GET /done": Testing.text("done") },
      Effect.gen(function*() {
        const client = yield* Client.Client
        const final = yield* client.execute(post("https://api.test/start"), (r) =>
          Effect.map(r.text, (text) => ({ text, url: r.url.href, redirects: r.redirects, method: r.method })))
        expect(final).toEqual({ text: "done", url: "https://api.test/done", redirects: 1, method: "GET" })
        const [first, second] = yield* Testing.requests
        expect([first!.method, first!.body, first!.headers["content-type"]]).toEqual(["POST", "payload", "text/plain"])
        expect([second!.method, second!.body, second!.headers["content-type"], second!.headers["x-keep"]]).toEqual([
          "GET",
          undefined,
          undefined,
          "yes"
        ])
      }),
      once
    ))

  it.effect("301 and 302 turn POST (only) into GET; 303 keeps HEAD a HEAD", () =>
    run(
      {
        "/301": Testing.redirect("/echo", 301),
        "/302": Testing.redirect("/echo", 302),
        "/303": Testing.redirect("/echo", 303),
        "/echo": (req) => Testing.text(`${req.method} ${req.body ?? ""}`)
      },
      Effect.gen(function*() {
        expect(yield* Client.text(post("https://api.test/301"))).toBe("GET ")
        expect(yield* Client.text(post("https://api.test/302"))).toBe("GET ")
        const put = HttpClientRequest.put("https://api.test/302").pipe(HttpClientRequest.bodyText("p"))
        expect(yield* Client.text(put)).toBe("PUT p")
        const head = yield* Client.discard(HttpClientRequest.head("https://api.test/303"))
        expect(head.status).toBe(200)
        expect((yield* Testing.requests).at(-1)!.method).toBe("HEAD")
      }),
      once
    ))

  it.effect("307 and 308 keep method, body and headers", () =>
    run(
      {
        "/307": Testing.redirect("/echo", 307),
        "/308": Testing.redirect("/echo", 308),
        "/echo": (req) => Testing.json({ method: req.method, body: req.body, type: req.headers["content-type"] })
      },
      Effect.gen(function*() {
        const expected = { method: "POST", body: "payload", type: "text/plain" }
        expect(yield* Client.json(post("https://api.test/307"))).toEqual(expected)
        expect(yield* Client.json(post("https://api.test/308"))).toEqual(expected)
      }),
      once
    ))

  it.effect("307 with a streamed body cannot replay it: BodyNotReplayable; 303 drops it and goes on", () =>
    run(
      { "/307": Testing.redirect("/echo", 307), "/303": Testing.redirect("/echo", 303), "/echo": Testing.text("ok") },
      Effect.gen(function*() {
        const streamed = (url: string) =>
          HttpClientRequest.post(url).pipe(HttpClientRequest.bodyStream(Stream.make(new TextEncoder().encode("once"))))
        const error = yield* Effect.flip(Client.text(streamed("https://api.test/307")))
        expect(error._tag === "RedirectError" && [error.reason, error.hops]).toEqual(["BodyNotReplayable", 0])
        expect(yield* Client.text(streamed("https://api.test/303"))).toBe("ok")
      }),
      once
    ))

  it.effect("a cross-origin hop drops Authorization, Cookie and Proxy-Authorization; the same origin keeps them", () =>
    run(
      {
        "https://a.test/go": (req) => Testing.redirect(req.url.searchParams.get("to")!),
        "/echo": Testing.text("ok")
      },
      Effect.gen(function*() {
        const secrets = { authorization: "Bearer secret", cookie: "session=1", "proxy-authorization": "Basic x", "x-keep": "yes" }
        const go = (to: string) =>
          Client.discard(HttpClientRequest.get(`https://a.test/go?to=${encodeURIComponent(to)}`).pipe(HttpClientRequest.setHeaders(secrets)))
        for (const to of ["https://b.test/echo", "https://a.test:8443/echo", "http://a.test/echo", "https://a.test/echo"]) {
          yield* go(to)
        }
        const hops = (yield* Testing.requestsTo("/echo")).map((r) => [
          r.url,
          r.headers["authorization"],
          r.headers["cookie"],
          r.headers["proxy-authorization"],
          r.headers["x-keep"]
        ])
        expect(hops).toEqual([
          ["https://b.test/echo", undefined, undefined, undefined, "yes"],
          ["https://a.test:8443/echo", undefined, undefined, undefined, "yes"],
          ["http://a.test/echo", undefined, undefined, undefined, "yes"],
          ["https://a.test/echo", "Bearer secret", "session=1", "Basic x", "yes"]
        ])
      }),
      // https -> http is allowed here so the scheme change can be observed.
      { ...once, allowHttpsDowngrade: true }
    ))

  it.effect("https -> http is refused by default, before anything is sent over http", () =>
    run(
      { "https://secure.test/x": Testing.redirect("http://plain.test/x?token=abc"), "http://plain.test/x": Testing.text("plain") },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://secure.test/x"))
        expect(error._tag === "RedirectError" && [error.reason, error.location, error.hops]).toEqual([
          "Downgrade",
          "http://plain.test/x?token=***",
          0
        ])
        expect(yield* Testing.requestsTo("http://plain.test/x")).toHaveLength(0)
      }),
      once
    ))

  it.effect("a loop is a RedirectError, caught on the first revisit", () =>
    run(
      { "/a": Testing.redirect("/b"), "/b": Testing.redirect("/a"), "/self": Testing.redirect("/self") },
      Effect.gen(function*() {
        const loop = yield* Effect.flip(Client.text("https://api.test/a"))
        expect(loop._tag === "RedirectError" && [loop.reason, loop.hops]).toEqual(["Loop", 1])
        const self = yield* Effect.flip(Client.text("https://api.test/self"))
        expect(self._tag === "RedirectError" && [self.reason, self.hops]).toEqual(["Loop", 0])
        expect((yield* Testing.requests).map((r) => r.path)).toEqual(["/a", "/b", "/self"])
      }),
      once
    ))

  it.effect("more than maxRedirects hops is TooMany: 10 by default, per request if asked", () =>
    run(
      { "/chain/:n": (req) => (req.params["n"] === "0" ? Testing.text("end") : Testing.redirect(`/chain/${Number(req.params["n"]) - 1}`)) },
      Effect.gen(function*() {
        const ten = yield* Client.discard("https://api.test/chain/10")
        expect([ten.redirects, ten.url.pathname]).toEqual([10, "/chain/0"])
        yield* Testing.reset
        const eleven = yield* Effect.flip(Client.text("https://api.test/chain/11"))
        expect(eleven._tag === "RedirectError" && [eleven.reason, eleven.hops]).toEqual(["TooMany", 10])
        expect(yield* Testing.requests).toHaveLength(11)
        const few = yield* Effect.flip(Client.text("https://api.test/chain/3", { maxRedirects: 2 }))
        expect(few._tag === "RedirectError" && [few.reason, few.hops]).toEqual(["TooMany", 2])
      }),
      once
    ))

  it.effect("intermediate responses are released: drained when small, aborted when more than 64 KiB is still to come", () =>
    run(
      {
        "/small": Testing.redirect("/end", 302, { headers: { "content-type": "text/plain" } }),
        "/moved": { status: 301, headers: { location: "/end" }, body: "Moved Permanently" },
        "/big": { status: 302, headers: { location: "/end" }, body: ["<", Testing.pause("1 second"), "x".repeat(100_000)] },
        "/end": Testing.text("end")
      },
      Effect.gen(function*() {
        for (const from of ["small", "moved", "big"]) expect(yield* Client.text(`https://api.test/${from}`)).toBe("end")
        const fates = (yield* Testing.requests).map((r) => [r.path, r.responseBody])
        expect(fates).toEqual([
          ["/small", "drained"],
          ["/end", "consumed"],
          ["/moved", "drained"],
          ["/end", "consumed"],
          ["/big", "aborted"],
          ["/end", "consumed"]
        ])
        expect(yield* Testing.inFlight).toBe(0)
      }),
      once
    ))

  it.effect("a relative Location resolves against the current URL; its fragment is dropped", () =>
    run(
      { "/dir/start": Testing.redirect("../other/page?x=1#frag"), "/other/page": Testing.text("ok") },
      Effect.gen(function*() {
        const head = yield* Client.discard("https://api.test/dir/start")
        expect(head.url.href).toBe("https://api.test/other/page?x=1")
      }),
      once
    ))

  it.effect("an invalid Location is InvalidLocation; a 3xx without Location is a final answer", () =>
    run(
      { "/ftp": Testing.redirect("ftp://files.test/x"), "/bare": Testing.status(302, { body: "no location" }) },
      Effect.gen(function*() {
        const ftp = yield* Effect.flip(Client.text("https://api.test/ftp"))
        expect(ftp._tag === "RedirectError" && ftp.reason).toBe("InvalidLocation")
        const bare = yield* Effect.flip(Client.text("https://api.test/bare"))
        expect(bare._tag === "StatusError" && [bare.status, bare.bodySnippet]).toEqual([302, "no location"])
        expect(yield* Client.text("https://api.test/bare", { accept: (s) => s === 302 })).toBe("no location")
      }),
      once
    ))

  it.effect("followRedirects: false hands the 3xx back as it is", () =>
    run(
      { "/a": Testing.redirect("/b"), "/b": Testing.text("b") },
      Effect.gen(function*() {
        const head = yield* Client.discard("https://api.test/a", { followRedirects: false, accept: (s) => s < 400 })
        expect([head.status, head.headers["location"], head.redirects]).toEqual([302, "/b", 0])
        expect(yield* Testing.requests).toHaveLength(1)
      }),
      once
    ))

  it.effect("one deadline covers the whole chain of hops", () =>
    run(
      {
        "/hop/:n": (req) =>
          Testing.redirect(`/hop/${Number(req.params["n"]) + 1}`, 302, { latency: "2 seconds" })
      },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Client.text("https://api.test/hop/0", { deadline: "5 seconds" }))
        expect(timeoutOf(error)).toEqual(["Timeout", "deadline"])
        expect(error._tag === "NetworkError" && error.url).toBe("https://api.test/hop/2")
        const records = yield* Testing.requests
        expect(records.map((r) => [r.path, r.at, r.endedAt, r.interrupted])).toEqual([
          ["/hop/0", 0, 2000, false],
          ["/hop/1", 2000, 4000, false],
          ["/hop/2", 4000, 5000, true]
        ])
      }),
      once
    ))

  it.effect("a retry starts over from the URL the caller asked for", () =>
    run(
      { "/a": Testing.redirect("/b"), "/b": [Testing.status(503), Testing.text("ok")] },
      Effect.gen(function*() {
        expect(yield* Client.text("https://api.test/a")).toBe("ok")
        const records = yield* Testing.requests
        expect(records.map((r) => [r.path, r.at])).toEqual([["/a", 0], ["/b", 0], ["/a", 1000], ["/b", 1000]])
      }),
      exact
    ))
})
