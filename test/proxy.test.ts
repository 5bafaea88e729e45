/**
 * Proxies against a real forward proxy on loopback (TooTallNate's `proxy` package, CONNECT
 * included), started here: it records what it carried. http is forwarded, https tunnelled to
 * a local TLS server trusting the test CA; NO_PROXY bypasses it; Proxy-Authorization reaches
 * the proxy only; a failing proxy is a NetworkError with reason Proxy.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import { createProxy } from "proxy"
import * as Client from "../src/Client.js"
import { testCertificate } from "./support/FaultServer.js"

interface Carried {
  /** `GET http://…` for forwarded requests, `CONNECT host:port` for tunnels. */
  readonly lines: Array<string>
  /** The Proxy-Authorization each request or CONNECT carried. */
  readonly auth: Array<string | undefined>
}

const listen = (server: http.Server | https.Server) =>
  Effect.acquireRelease(
    Effect.async<number>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
    }),
    () => Effect.promise(() => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }))
  )

/** A forward proxy; with `credentials`, it answers 407 unless Proxy-Authorization matches. */
const forwardProxy = (credentials?: string) =>
  Effect.gen(function*() {
    const carried: Carried = { lines: [], auth: [] }
    const server = createProxy(http.createServer())
    server.prependListener("request", (req: http.IncomingMessage) => {
      carried.lines.push(`${req.method} ${req.url}`)
      carried.auth.push(req.headers["proxy-authorization"])
    })
    server.prependListener("connect", (req: http.IncomingMessage) => {
      carried.lines.push(`CONNECT ${req.url}`)
      carried.auth.push(req.headers["proxy-authorization"])
    })
    if (credentials !== undefined) {
      const expected = `Basic ${Buffer.from(credentials).toString("base64")}`
      server.authenticate = (req) => req.headers["proxy-authorization"] === expected
    }
    const port = yield* listen(server)
    return { carried, port, url: `http://127.0.0.1:${port}` }
  })

/** A target that echoes the headers it received (so a leaked Proxy-Authorization would show). */
const echo = (req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeHead(200, { "content-type": "application/json" })
  res.end(JSON.stringify({ path: req.url, headers: req.headers }))
}

const target = Effect.suspend(() => Effect.map(listen(http.createServer(echo)), (port) => `http://127.0.0.1:${port}`))
const tlsTarget = Effect.suspend(() =>
  Effect.map(listen(https.createServer({ cert: testCertificate.cert, key: testCertificate.key }, echo)), (port) => `https://127.0.0.1:${port}`)
)

type Echo = { path: string; headers: Record<string, string | undefined> }

const noRetry = { retry: { maxAttempts: 1 }, ca: testCertificate.cert } as const

describe("Client: proxies (a real forward proxy on loopback)", () => {
  it.scoped("http is forwarded and https tunnelled (CONNECT) through Client.layer({ proxy }); the proxy carried both", () =>
    Effect.gen(function*() {
      const proxy = yield* forwardProxy()
      const plain = yield* target
      const secure = yield* tlsTarget
      const layer = Client.layer({ ...noRetry, proxy: proxy.url })
      const viaHttp = (yield* Effect.provide(Client.json(`${plain}/one`), layer)) as Echo
      const viaHttps = (yield* Effect.provide(Client.json(`${secure}/two`), layer)) as Echo
      expect(viaHttp.path).toBe("/one")
      expect(viaHttps.path).toBe("/two")
      expect(proxy.carried.lines).toEqual([`GET ${plain}/one`, `CONNECT ${secure.slice("https://".length)}`])
    }))

  it.scoped("layerConfig honours http_proxy / HTTPS_PROXY / NO_PROXY; a NO_PROXY host does not go through the proxy", () =>
    Effect.gen(function*() {
      const proxy = yield* forwardProxy()
      const proxied = yield* target
      const bypassed = yield* target
      const secure = yield* tlsTarget
      const env = ConfigProvider.fromMap(new Map([
        ["http_proxy", proxy.url], // lower case, as curl prefers
        ["HTTPS_PROXY", proxy.url], // upper case
        ["NO_PROXY", `example.invalid, ${bypassed.slice("http://".length)}`]
      ]))
      const layer = Client.layerConfig(noRetry).pipe(Layer.provide(Layer.setConfigProvider(env)))
      const program = Effect.gen(function*() {
        yield* Client.text(`${proxied}/via-proxy`)
        yield* Client.text(`${bypassed}/direct`)
        yield* Client.text(`${secure}/tunnelled`)
      })
      yield* Effect.provide(program, layer)
      expect(proxy.carried.lines).toEqual([`GET ${proxied}/via-proxy`, `CONNECT ${secure.slice("https://".length)}`])
      expect(proxy.carried.lines.join(" ")).not.toContain("/direct")
    }))

  it.scoped("layerConfig without proxy variables goes direct", () =>
    Effect.gen(function*() {
      const proxy = yield* forwardProxy()
      const plain = yield* target
      const layer = Client.layerConfig(noRetry).pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map()))))
      yield* Effect.provide(Client.text(`${plain}/x`), layer)
      expect(proxy.carried.lines).toEqual([])
    }))

  it.scoped("proxy credentials go to the proxy as Proxy-Authorization, never to the target", () =>
    Effect.gen(function*() {
      const proxy = yield* forwardProxy("bob:s3cret")
      const plain = yield* target
      const secure = yield* tlsTarget
      const layer = Client.layer({ ...noRetry, proxy: proxy.url.replace("http://", "http://bob:s3cret@") })
      const viaHttp = (yield* Effect.provide(Client.json(`${plain}/a`), layer)) as Echo
      const viaHttps = (yield* Effect.provide(Client.json(`${secure}/b`), layer)) as Echo
      const expected = `Basic ${Buffer.from("bob:s3cret").toString("base64")}`
      expect(proxy.carried.auth).toEqual([expected, expected])
      expect(viaHttp.headers["proxy-authorization"]).toBeUndefined()
      expect(viaHttps.headers["proxy-authorization"]).toBeUndefined()
    }))

  it.scoped("a failing proxy is a NetworkError with reason Proxy: wrong credentials (http and CONNECT), nothing listening", () =>
    Effect.gen(function*() {
      const proxy = yield* forwardProxy("bob:s3cret")
      const plain = yield* target
      const secure = yield* tlsTarget
      const wrong = Client.layer({ ...noRetry, proxy: proxy.url.replace("http://", "http://bob:wrong@") })
      const forwarded = yield* Effect.flip(Effect.provide(Client.text(`${plain}/a`), wrong))
      const tunnelled = yield* Effect.flip(Effect.provide(Client.text(`${secure}/b`), wrong))
      const down = yield* Effect.flip(Effect.provide(Client.text(`${plain}/c`), Client.layer({ ...noRetry, proxy: "http://127.0.0.1:1" })))
      for (const error of [forwarded, tunnelled, down]) {
        expect(error._tag).toBe("NetworkError")
        if (error._tag === "NetworkError") {
          expect(error.reason).toBe("Proxy")
          expect(error.message).toContain("proxy failed")
        }
      }
    }))

  it.effect("an invalid proxy URL is a clear defect naming it, credentials masked", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.provide(Client.text("http://127.0.0.1:1/"), Client.layer({ proxy: "socks9://u:pw@nowhere" })))
      expect(String(exit)).toContain("the proxy must be an http:// or https:// URL")
      expect(String(exit)).not.toContain("pw@")
    }))
})
