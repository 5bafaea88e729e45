/**
 * Fan-out in a handler: a slow upstream degrades the answer instead of stalling it, and a
 * client that goes away takes the handler's upstream requests with it.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema, TestClock } from "effect"
import * as http from "node:http"
import * as FanOut from "../src/server/FanOut.js"
import * as Prometheus from "../src/server/Prometheus.js"
import { awaitSleepers, clientLayer, faultServer } from "./support/effect.js"

describe("FanOut.all", () => {
  it.scoped("returns every outcome; a hung upstream fails alone at its own deadline (TestClock)", () =>
    Effect.gen(function*() {
      const upstream = yield* faultServer()
      const fiber = yield* Effect.fork(
        FanOut.all({
          fast: { request: `${upstream.url}/json`, deadline: "1 second", schema: Schema.Struct({ hello: Schema.String }) },
          missing: { request: `${upstream.url}/status/404`, deadline: "1 second" },
          hung: { request: `${upstream.url}/hang`, deadline: "3 seconds" }
        }).pipe(Effect.provide(clientLayer()))
      )
      yield* Effect.promise(() => upstream.waitForRequest("/hang"))
      yield* awaitSleepers()
      yield* TestClock.adjust("3 seconds")
      const { complete, outcomes } = yield* Fiber.join(fiber)
      expect(complete).toBe(false)
      expect(outcomes.fast._tag === "Ok" && outcomes.fast.value).toEqual({ hello: "world" })
      expect(outcomes.missing._tag === "Failed" && outcomes.missing.error._tag).toBe("StatusError")
      expect(outcomes.hung._tag === "Failed" && outcomes.hung.error.message).toContain("timeout")
      expect(outcomes.hung.millis).toBe(3000)
      yield* Effect.promise(() => upstream.waitForClientAbort("/hang"))
    }))

  it.live("a client disconnect interrupts the handler and aborts its upstream requests", () =>
    Effect.gen(function*() {
      const upstream = yield* faultServer()
      const app = HttpRouter.empty.pipe(
        HttpRouter.get(
          "/page",
          Effect.map(
            FanOut.all({ slow: { request: `${upstream.url}/hang`, deadline: "30 seconds" } }),
            (r) => HttpServerResponse.unsafeJson(r.complete)
          )
        )
      )
      const server = yield* Layer.build(
        HttpServer.serve(app).pipe(
          Layer.provide(clientLayer()),
          Layer.provideMerge(NodeHttpServer.layer(() => http.createServer(), { port: 0, host: "127.0.0.1" }))
        )
      )
      const address = (yield* Effect.provide(HttpServer.HttpServer, server)).address as { port: number }
      const request = http.get({ host: "127.0.0.1", port: address.port, path: "/page" })
      request.on("error", () => undefined)
      yield* Effect.promise(() => upstream.waitForRequest("/hang"))
      request.destroy() // the user closed the tab
      yield* Effect.promise(() => upstream.waitForClientAbort("/hang"))
      expect(upstream.stats.abortedByClient).toBe(1)
    }).pipe(Effect.scoped))
})

describe("Prometheus.render", () => {
  it.effect("renders counters, gauges and histograms in the text format", () =>
    Effect.gen(function*() {
      const { Metric } = yield* Effect.promise(() => import("effect"))
      const counter = Metric.counter("test_requests_total", { description: "requests" }).pipe(Metric.tagged("route", "a\"b"))
      const histogram = Metric.histogram("test_latency", (yield* Effect.promise(() => import("effect/MetricBoundaries"))).fromIterable([10, 100]))
      yield* Metric.incrementBy(counter, 3)
      yield* Metric.update(histogram, 5)
      yield* Metric.update(histogram, 50)
      yield* Metric.update(histogram, 500)
      const text = yield* Prometheus.text
      expect(text).toContain("# HELP test_requests_total requests\n# TYPE test_requests_total counter\ntest_requests_total{route=\"a\\\"b\"} 3\n")
      const buckets = text.split("\n").filter((l) => l.startsWith("test_latency_bucket"))
      expect(buckets).toEqual([
        "test_latency_bucket{le=\"10\"} 1",
        "test_latency_bucket{le=\"100\"} 2",
        "test_latency_bucket{le=\"+Inf\"} 3"
      ])
      expect(text).toContain("test_latency_count 3")
      expect(text).toContain("test_latency_sum 555")
    }))
})
