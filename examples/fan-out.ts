/**
 * Fan-out: fetch several URLs concurrently and aggregate their statuses — the Go program
 * with a WaitGroup, a buffered channel and a results map, done with `Batch.settle`.
 *
 *   npm run build && node dist/examples/fan-out.js
 *
 * No WaitGroup to balance, no channel to size, no slice to guard: concurrency is bounded,
 * every request has a deadline, results come back in input order, one typed outcome each.
 * It starts its own loopback server (one fast path, a 404, a 503 and a slow one) so it runs
 * offline.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Either } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Batch from "../src/Batch.js"
import * as Client from "../src/Client.js"

/** A local stand-in for the services being polled. */
const localServer = Effect.acquireRelease(
  Effect.async<http.Server>((resume) => {
    const server = http.createServer((req, res) => {
      switch (req.url) {
        case "/fast":
          return void res.end("ok")
        case "/users":
          return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify([{ id: 1, name: "Ada" }]))
        case "/busy":
          return void res.writeHead(503).end("try later")
        case "/slow": {
          const timer = setTimeout(() => res.end("finally"), 5_000)
          res.on("close", () => clearTimeout(timer))
          return
        }
        default:
          return void res.writeHead(404).end("not found")
      }
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) =>
    Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

const paths = ["/fast", "/users", "/missing", "/busy", "/slow"]

const main = Effect.gen(function*() {
  const server = yield* localServer
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const outcomes = yield* Batch.settle(paths, {
    toRequest: (path) => `${base}${path}`,
    concurrency: 3, // at most 3 requests at once
    itemDeadline: "300 millis", // the slow one gives up, alone
    requestOptions: { retry: false } // one attempt each, to keep the demo quick
  })

  // One line per input, in input order, whatever order they finished in.
  for (const outcome of outcomes) {
    const line = Either.match(outcome.result, {
      onRight: (fetched) => `${fetched.status} (${fetched.bytes} bytes)`,
      onLeft: (error) => {
        switch (error._tag) {
          case "StatusError":
            return `HTTP ${error.status}`
          case "NetworkError":
            return error.reason === "Timeout" ? `timeout (${error.phase ?? "deadline"})` : error.reason
          default:
            return error.message
        }
      }
    })
    yield* Console.log(`${outcome.item}: ${line}`)
  }

  // The aggregate a results map would have held.
  const summary = Batch.summarize(outcomes)
  const counts = Object.entries(summary.outcomes).map(([key, n]) => `${key} ${n}`).join(", ")
  yield* Console.log(`${summary.total} requests: ${counts}`)
})

main.pipe(Effect.scoped, Effect.provide(Client.layer()), NodeRuntime.runMain)
