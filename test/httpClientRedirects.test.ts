/**
 * The HttpClient bridge with 3xx handed back (`followRedirects: false`) and followed by
 * platform's `HttpClient.followRedirects`: each hop obeys the client's own redirect rule
 * (one function, `client/redirect.ts`), against real loopback sockets. Platform's combinator
 * alone re-sends every header and the body to wherever the Location points.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClient, HttpClientError, HttpClientRequest } from "@effect/platform"
import { Context, Effect, Layer, Option } from "effect"
import * as Client from "../src/Client.js"
import * as VolleyHttpClient from "../src/HttpClient.js"
import { testCertificate } from "./support/FaultServer.js"
import { faultServer } from "./support/effect.js"

/** The pipeline the issue reproduced with: volley hands 3xx back, platform follows them. */
const following = (options: Client.ClientOptions = {}) =>
  Effect.map(
    Layer.build(Client.layer({ retry: { maxAttempts: 1 }, ...options })),
    (context) => VolleyHttpClient.fromClient(Context.get(context, Client.Client), { followRedirects: false }).pipe(HttpClient.followRedirects(5))
  )

const redirectError = (error: HttpClientError.HttpClientError) => {
  const cause = Option.getOrThrow(VolleyHttpClient.volleyError(error))
  return cause._tag === "RedirectError" ? cause : expect.unreachable(`not a RedirectError: ${cause._tag}`)
}

const via = (from: string, to: string, status = 302) => `${from}/redirect?status=${status}&to=${encodeURIComponent(to)}`

const apiKeys = {
  "x-api-key": "k1",
  "x-goog-api-key": "k2",
  "private-token": "k3",
  "x-vault-token": "k4",
  "x-session-id": "k5",
  "x-my-secret": "k6",
  authorization: "Bearer secret",
  "x-keep": "yes"
}

describe("HttpClient bridge, followRedirects: false + platform's followRedirects", () => {
  it.scoped("a cross-origin 302 drops API-key headers (listed, pattern-matched and sensitiveHeaders), keeps ordinary ones", () =>
    Effect.gen(function*() {
      const a = yield* faultServer()
      const b = yield* faultServer()
      const client = yield* following({ sensitiveHeaders: ["X-My-Secret"] })
      const response = yield* client.get(via(a.url, `${b.url}/echo`), { headers: apiKeys })
      expect(response.status).toBe(200)
      const crossed = b.requests[0]!.headers
      for (const name of ["x-api-key", "x-goog-api-key", "private-token", "x-vault-token", "x-session-id", "x-my-secret", "authorization"]) {
        expect(crossed[name], name).toBeUndefined()
      }
      expect(crossed["x-keep"]).toBe("yes")
      // The first origin got them all.
      expect(a.requests[0]!.headers["x-api-key"]).toBe("k1")
    }))

  it.scoped("A -> B/x -> B/y: no credentials at B on either hop (the chain stays crossed)", () =>
    Effect.gen(function*() {
      const a = yield* faultServer()
      const b = yield* faultServer()
      const client = yield* following()
      const response = yield* client.get(via(a.url, via(b.url, "/echo")), { headers: apiKeys })
      expect(response.status).toBe(200)
      expect(b.requests.map((r) => r.path.split("?")[0])).toEqual(["/redirect", "/echo"])
      for (const [i, request] of b.requests.entries()) {
        expect(request.headers["authorization"], `hop ${i} at B`).toBeUndefined()
        expect(request.headers["x-api-key"], `hop ${i} at B`).toBeUndefined()
        expect(request.headers["x-keep"]).toBe("yes")
      }
    }))

  it.scoped("a cross-origin 307/308 POST with a body (password=hunter2) is refused, CrossOriginBody, as the client refuses it", () =>
    Effect.gen(function*() {
      const a = yield* faultServer()
      const b = yield* faultServer()
      const client = yield* following()
      for (const status of [307, 308]) {
        const request = HttpClientRequest.post(via(a.url, `${b.url}/echo`, status)).pipe(HttpClientRequest.bodyText("password=hunter2"))
        const error = yield* Effect.flip(client.execute(request))
        expect(error._tag === "RequestError" && error.reason).toBe("InvalidUrl")
        expect(redirectError(error).reason).toBe("CrossOriginBody")
        // The client's own follow answers the same.
        const direct = yield* Effect.flip(Client.text(request).pipe(Effect.provide(Client.layer({ retry: { maxAttempts: 1 } }))))
        expect(direct._tag === "RedirectError" && direct.reason).toBe("CrossOriginBody")
      }
      expect(b.requests.length).toBe(0)
      // Same origin: the body is sent again.
      const same = yield* client.execute(HttpClientRequest.post(via(a.url, `${a.url}/echo`, 307)).pipe(HttpClientRequest.bodyText("payload")))
      expect(((yield* same.json) as { method: string; body: string })).toMatchObject({ method: "POST", body: "payload" })
    }))

  it.scoped("https -> http is refused (Downgrade) and the http server sees nothing", () =>
    Effect.gen(function*() {
      const secure = yield* faultServer({ tls: true })
      const plain = yield* faultServer()
      const client = yield* following({ ca: testCertificate.cert })
      const error = yield* Effect.flip(client.get(via(secure.url, `${plain.url}/echo`), { headers: apiKeys }))
      expect(redirectError(error).reason).toBe("Downgrade")
      expect(secure.requests.length).toBe(1)
      expect(plain.requests.length).toBe(0)
    }))

  it.scoped("a 300 with a Location (which the combinator follows too) drops credentials across origins", () =>
    Effect.gen(function*() {
      const a = yield* faultServer()
      const b = yield* faultServer()
      const client = yield* following()
      yield* client.get(via(a.url, `${b.url}/echo`, 300), { headers: apiKeys })
      expect(b.requests[0]!.headers["authorization"]).toBeUndefined()
      expect(b.requests[0]!.headers["x-api-key"]).toBeUndefined()
    }))
})
