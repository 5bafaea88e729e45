/**
 * One server under test for `bench/server.ts`, in its own process so it does not share an
 * event loop with the load generator and its peak RSS is its own.
 *
 * `node serverRunner.js '<json ServerConfig>'` (forked with an IPC channel). It listens on
 * 127.0.0.1 port 0 and sends `{ type: "ready", port }`; on `{ type: "stats", gc }` it answers
 * `{ type: "stats", maxRssKiB, heapUsedMiB, cpuMicros }`; on `{ type: "exit" }` (or when the
 * parent goes away) it exits at once: the bench measures serving, not shutdown, and a drain of thousands
 * of queued jobs would only add noise (and a very long log line).
 *
 * Kinds:
 * - `volley`: the example API exactly as shipped, `Api.layer` (GracefulServer, withDeadline,
 *   withConcurrencyLimit, `instrument`);
 * - `bare`: the same `POST /users` and `GET /health` logic (`serverApp.ts`: same schema,
 *   same user store, same mailer, same JobPool job) on plain `NodeHttpServer.layer`, with
 *   none of withDeadline / withConcurrencyLimit / instrument. `guards` adds volley's pieces back (see `serverApp.ts`), and
 *   `graceful` serves with `GracefulServer.layer` instead of `NodeHttpServer.layer`.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import { Duration, Effect, Layer } from "effect"
import * as http from "node:http"
import * as Api from "../../examples/api.js"
import * as GracefulServer from "../../src/server/GracefulServer.js"
import * as JobPool from "../../src/server/JobPool.js"
import * as BareApp from "./serverApp.js"

/** One of volley's pieces, added back to the bare server (see `serverApp.ts`), or its server. */
export type Guard = BareApp.Guard | "graceful"

/** What the parent asks for; sent as the first argument, JSON-encoded. */
export interface ServerConfig {
  readonly kind: "volley" | "bare"
  /** Bare only: volley pieces to add back (default none). */
  readonly guards?: ReadonlyArray<Guard>
  readonly outbox: string
  readonly mailLatencyMs: number
  readonly workers: number
  readonly queueCapacity: number
}

/** Messages the runner sends to its parent. */
export type RunnerMessage =
  | { readonly type: "ready"; readonly port: number }
  | {
    readonly type: "stats"
    readonly maxRssKiB: number
    /** After a full GC if asked for (and the runner has `--expose-gc`): what the server retains. */
    readonly heapUsedMiB: number
    /** CPU time (user + system) the process used so far: per-request cost, whatever the neighbours do. */
    readonly cpuMicros: number
  }

/** Messages the parent sends. */
export type ParentMessage = { readonly type: "stats"; readonly gc: boolean } | { readonly type: "exit" }

const config = JSON.parse(process.argv[2] ?? "{}") as ServerConfig

// ---- the servers ----------------------------------------------------------------------------

const pool = (c: ServerConfig) =>
  JobPool.layer({ name: "email", workers: c.workers, capacity: c.queueCapacity, drainTimeout: "100 millis" })

const bareLayer = (c: ServerConfig) => {
  const guards = new Set(c.guards ?? [])
  const listen = { port: 0, host: "127.0.0.1" }
  return HttpServer.serve(BareApp.app(new Set([...guards].filter((g): g is BareApp.Guard => g !== "graceful")))).pipe(
    Layer.provide(pool(c)),
    Layer.provide(Api.MailerLive(c.outbox, Duration.millis(c.mailLatencyMs))),
    Layer.provide(BareApp.UsersInPlace),
    Layer.provideMerge(
      guards.has("graceful")
        ? GracefulServer.layer(() => http.createServer(), { ...listen, drainTimeout: "10 seconds" })
        : NodeHttpServer.layer(() => http.createServer(), listen)
    )
  )
}

const volleyLayer = (c: ServerConfig) =>
  Api.layer({
    port: 0,
    host: "127.0.0.1",
    outbox: c.outbox,
    mailLatency: Duration.millis(c.mailLatencyMs),
    workers: c.workers,
    queueCapacity: c.queueCapacity,
    drainTimeout: "100 millis"
  })

// ---- process plumbing -----------------------------------------------------------------------

const send = (message: RunnerMessage) => process.send?.(message)

process.on("message", (message: ParentMessage) => {
  if (message.type === "stats") {
    const cpu = process.cpuUsage()
    const gc = (globalThis as { gc?: () => void }).gc
    if (message.gc && gc !== undefined) gc()
    send({
      type: "stats",
      maxRssKiB: process.resourceUsage().maxRSS,
      heapUsedMiB: process.memoryUsage().heapUsed / (1024 * 1024),
      cpuMicros: cpu.user + cpu.system
    })
  } else if (message.type === "exit") {
    process.exit(0)
  }
})
// The parent died or closed the channel: never linger as an orphan holding a port.
process.on("disconnect", () => process.exit(0))

const serving = Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  if (server.address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
  send({ type: "ready", port: server.address.port })
  return yield* Effect.never
})

const main = config.kind === "volley" ? Effect.provide(serving, volleyLayer(config)) : Effect.provide(serving, bareLayer(config))

Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
