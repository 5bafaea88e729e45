/**
 * The client's redirects against real loopback sockets: chains, loops, method rewriting, and
 * credentials that never cross to another origin.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Effect } from "effect"
import * as Client from "../src/Client.js"
import type { HttpError } from "../src/Errors.js"
import { testCertificate } from "./support/FaultServer.js"
import { clientLayer, faultServer } from "./support/effect.js"
import { failure } from "./support/client.js"

describe("Client: redirects", () => {
  it.scoped("follows a chain and reports the final URL", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const head = yield* Effect.provide(Client.discard(`${server.url}/chain?n=3`), clientLayer())
      expect(head.redirects).toBe(3)
      expect(head.url.href).toBe(`${server.url}/chain?n=0`)
    }))

  it.scoped("a loop and too many hops are RedirectErrors", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const loop = yield* failure(Client.text(`${server.url}/loop`))
      expect(loop._tag === "RedirectError" && loop.reason).toBe("Loop")
      const many = yield* failure(Client.text(`${server.url}/chain?n=11`))
      expect(many._tag === "RedirectError" && many.reason).toBe("TooMany")
      const few = yield* failure(Client.text(`${server.url}/chain?n=3`, { maxRedirects: 2 }))
      expect(few._tag === "RedirectError" && few.reason).toBe("TooMany")
    }))

  it.scoped("303 turns POST into GET; 307 and 308 keep method and body", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const echo = encodeURIComponent(`${server.url}/echo`)
      const send = (status: number) =>
        Client.json(
          HttpClientRequest.post(`${server.url}/redirect?status=${status}&to=${echo}`).pipe(HttpClientRequest.bodyText("payload"))
        ) as Effect.Effect<{ method: string; body: string }, HttpError, Client.Client>
      const results = yield* Effect.provide(Effect.all([send(303), send(307), send(308), send(302)]), clientLayer())
      expect(results.map((r) => [r.method, r.body])).toEqual([
        ["GET", ""],
        ["POST", "payload"],
        ["POST", "payload"],
        ["GET", ""]
      ])
    }))

  it.scoped("a cross-origin hop drops Authorization, Cookie and Proxy-Authorization", () =>
    Effect.gen(function*() {
      const a = yield* faultServer()
      const b = yield* faultServer()
      const request = (to: string) =>
        HttpClientRequest.get(`${a.url}/redirect?to=${encodeURIComponent(to)}`).pipe(
          HttpClientRequest.setHeaders({
            authorization: "Bearer secret",
            cookie: "session=1",
            "proxy-authorization": "Basic x",
            "x-keep": "yes"
          })
        )
      yield* Effect.provide(Client.discard(request(`${b.url}/echo`)), clientLayer())
      const crossed = b.requests[0]!
      expect(crossed.headers["authorization"]).toBeUndefined()
      expect(crossed.headers["cookie"]).toBeUndefined()
      expect(crossed.headers["proxy-authorization"]).toBeUndefined()
      expect(crossed.headers["x-keep"]).toBe("yes")
      // Same origin: credentials stay.
      yield* Effect.provide(Client.discard(request(`${a.url}/echo`)), clientLayer())
      const same = a.requests.find((r) => r.path === "/echo")!
      expect(same.headers["authorization"]).toBe("Bearer secret")
    }))

  it.scoped("a cross-origin hop drops API-key headers and Host, keeps ordinary ones, and honours sensitiveHeaders", () =>
    Effect.gen(function*() {
      const a = yield* faultServer()
      const b = yield* faultServer()
      const request = HttpClientRequest.get(`${a.url}/redirect?to=${encodeURIComponent(`${b.url}/echo`)}`).pipe(
        HttpClientRequest.setHeaders({
          "x-api-key": "k1",
          "api-key": "k2",
          "x-auth-token": "k3",
          "x-shopify-access-token": "k4",
          "x-my-secret": "k5",
          host: new URL(a.url).host,
          "x-keep": "yes",
          accept: "application/json"
        })
      )
      yield* Effect.provide(Client.discard(request, { sensitiveHeaders: ["X-My-Secret"] }), clientLayer())
      const crossed = b.requests[0]!
      for (const name of ["x-api-key", "api-key", "x-auth-token", "x-shopify-access-token", "x-my-secret"]) {
        expect(crossed.headers[name], name).toBeUndefined()
      }
      expect(crossed.headers["host"]).toBe(new URL(b.url).host)
      expect(crossed.headers["x-keep"]).toBe("yes")
      expect(crossed.headers["accept"]).toBe("application/json")
      // The first origin got them all.
      expect(a.requests[0]!.headers["x-api-key"]).toBe("k1")
    }))

  it.scoped("a cross-origin 307/308 with a body is refused (RedirectError CrossOriginBody); the other origin sees nothing", () =>
    Effect.gen(function*() {
      const a = yield* faultServer()
      const b = yield* faultServer()
      for (const status of [307, 308]) {
        const request = HttpClientRequest.post(`${a.url}/redirect?status=${status}&to=${encodeURIComponent(`${b.url}/echo`)}`).pipe(
          HttpClientRequest.bodyText("password=hunter2")
        )
        const error = yield* failure(Client.text(request))
        expect(error._tag === "RedirectError" && error.reason).toBe("CrossOriginBody")
      }
      expect(b.requests.length).toBe(0)
      // Same origin still resends it.
      const same = HttpClientRequest.post(`${a.url}/redirect?status=307&to=${encodeURIComponent(`${a.url}/echo`)}`).pipe(
        HttpClientRequest.bodyText("payload")
      )
      yield* Effect.provide(Client.discard(same), clientLayer())
      expect(a.requests.find((r) => r.path === "/echo")?.body).toBe("payload")
    }))

  it.scoped("an http -> https hop (a new origin) is followed and drops credentials", () =>
    Effect.gen(function*() {
      const plain = yield* faultServer()
      const secure = yield* faultServer({ tls: true })
      const request = HttpClientRequest.get(`${plain.url}/redirect?to=${encodeURIComponent(`${secure.url}/echo`)}`).pipe(
        HttpClientRequest.setHeaders({ authorization: "Bearer secret", cookie: "session=1", "x-keep": "yes" })
      )
      const head = yield* Effect.provide(Client.discard(request), clientLayer({ ca: testCertificate.cert }))
      expect(head.status).toBe(200)
      expect(new URL(secure.url).protocol).toBe("https:")
      const crossed = secure.requests[0]!
      expect(crossed.headers["authorization"]).toBeUndefined()
      expect(crossed.headers["cookie"]).toBeUndefined()
      expect(crossed.headers["x-keep"]).toBe("yes")
    }))

  it.scoped("https -> http is refused by default", () =>
    Effect.gen(function*() {
      const secure = yield* faultServer({ tls: true })
      const plain = yield* faultServer()
      const error = yield* failure(
        Client.text(`${secure.url}/redirect?to=${encodeURIComponent(`${plain.url}/ok`)}`),
        { ca: testCertificate.cert }
      )
      expect(error._tag === "RedirectError" && error.reason).toBe("Downgrade")
      expect(plain.requests.length).toBe(0)
    }))
})
