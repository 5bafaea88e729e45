/**
 * The example API's upstream calls: three local services standing in for real ones, and
 * `GET /dashboard`, which fans out to them, each under its own deadline, and marks the ones
 * that failed instead of failing the page.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Context, Effect, Layer, Schema } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as FanOut from "../../src/server/FanOut.js"

/** Base URLs of the services the dashboard aggregates. */
export class UpstreamUrls extends Context.Tag("example/UpstreamUrls")<UpstreamUrls, {
  readonly profile: string
  readonly orders: string
  readonly recommendations: string
}>() {}

/**
 * Three small local services standing in for real upstreams. Recommendations is slow on
 * every fourth call, so the dashboard shows what a degraded answer looks like.
 */
export const LocalUpstreams = Layer.scoped(
  UpstreamUrls,
  Effect.gen(function*() {
    let recommendationCalls = 0
    const start = (name: string, answer: () => { readonly delayMs: number; readonly body: unknown }) =>
      Effect.acquireRelease(
        Effect.async<http.Server>((resume) => {
          const server = http.createServer((_req, res) => {
            const { body, delayMs } = answer()
            const timer = setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body)), delayMs)
            res.on("close", () => clearTimeout(timer))
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.async<void>((resume) => {
            server.closeAllConnections()
            server.close(() => resume(Effect.void))
          })
      ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}/${name}`))
    return {
      profile: yield* start("profile", () => ({ delayMs: 10, body: { plan: "pro", since: 2021 } })),
      orders: yield* start("orders", () => ({ delayMs: 25, body: { open: 2, shipped: 17 } })),
      recommendations: yield* start("recommendations", () => {
        recommendationCalls++
        return { delayMs: recommendationCalls % 4 === 0 ? 2_000 : 15, body: { items: ["effect", "undici"] } }
      })
    }
  })
)

const Profile = Schema.Struct({ plan: Schema.String, since: Schema.Number })

export const dashboard = Effect.gen(function*() {
  const urls = yield* UpstreamUrls
  const { complete, outcomes } = yield* FanOut.all({
    profile: { request: urls.profile, deadline: "300 millis", schema: Profile },
    orders: { request: urls.orders, deadline: "300 millis" },
    recommendations: { request: urls.recommendations, deadline: "300 millis" }
  })
  const view = Object.fromEntries(
    Object.entries(outcomes).map(([name, o]) => [name, o._tag === "Ok" ? { ok: true, data: o.value } : { ok: false, error: o.error.message }])
  )
  return HttpServerResponse.unsafeJson({ complete, ...view })
})
