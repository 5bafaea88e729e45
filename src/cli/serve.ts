/**
 * `volley serve`: runs the example REST API (examples/api.ts) on the durable job queue until
 * SIGTERM/SIGINT, then shuts down gracefully: in-flight requests finish, welcome emails are
 * sent within the drain deadline (on SQLite every ready one; on a shared PostgreSQL queue the
 * ones this instance runs), and the process exits 0 (1 if a job had to be left for
 * the next start). The database is `--db`, else `VOLLEY_DB`, else the SQLite file
 * `.volley/volley.db` under the working folder.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import { dbOption, resolveDb } from "./internal/db.js"
import * as CliLog from "./internal/logging.js"

const port = Options.integer("port").pipe(Options.withDefault(8080), Options.withDescription("Port to listen on (0 picks a free one)"))
const host = Options.text("host").pipe(Options.withDefault("127.0.0.1"), Options.withDescription("Address to bind"))
const outbox = Options.text("outbox").pipe(Options.withDefault("outbox"), Options.withDescription("Folder the welcome emails are written to"))
const drainTimeout = Options.integer("drain-timeout").pipe(
  Options.withDefault(15),
  Options.withDescription("Seconds queued jobs get to finish on shutdown before they are interrupted (and kept for the next start)")
)
const workers = Options.integer("workers").pipe(Options.withDefault(4), Options.withDescription("Background email workers"))
const lease = Options.integer("lease").pipe(
  Options.withDefault(30),
  Options.withDescription("Seconds a claimed job stays claimed without a heartbeat: a killed instance's jobs run elsewhere after this")
)
const mailLatency = Options.integer("mail-latency").pipe(
  Options.withDefault(1000),
  Options.withDescription("Milliseconds the example mailer takes per email (stands in for an SMTP call)")
)

/**
 * The server's log: one line per record (key=value), terminal-safe: records carry handlers'
 * errors, which may quote an upstream's answer or a stored job's text. On stdout, as a
 * server's log goes, in place of the command's stderr log.
 */
const safeLogger = Logger.replace(CliLog.stderrLogger, CliLog.stdoutLogger)

/** One line for a server that could not listen (@effect/platform's `ServeError`): no stack, no build path. */
const listenFailure = (e: { readonly cause?: unknown }, host: string, port: number): string => {
  const code = (e.cause as NodeJS.ErrnoException | undefined)?.code
  if (code === "EADDRINUSE") return `cannot listen on ${host}:${port}: the port is in use (choose another with --port, or --port 0 for a free one)`
  if (code === "EACCES") return `cannot listen on ${host}:${port}: permission denied (ports below 1024 need privileges)`
  if (code === "EADDRNOTAVAIL") return `cannot listen on ${host}:${port}: no such address on this machine`
  return `cannot listen on ${host}:${port}: ${e.cause instanceof Error ? e.cause.message : String(e.cause)}`
}

export const serveCommand = Command.make(
  "serve",
  { port, host, outbox, drainTimeout, workers, db: dbOption, lease, mailLatency },
  (options) =>
    Effect.gen(function*() {
      const db = yield* resolveDb("serve", options.db)
      if (db === undefined) return
      // Loaded on use: the server's modules would slow every other command's start.
      const [Api, DurableJobs, HttpServer] = yield* Effect.promise(() =>
        Promise.all([import("../../examples/api.js"), import("../server/DurableJobs.js"), import("@effect/platform/HttpServer")])
      )
      const announce = Layer.effectDiscard(
        HttpServer.addressFormattedWith((address) =>
          Console.log(
            `volley serve: listening on ${address} (outbox: ${options.outbox}, database: ${db.display})\n` +
              Api.routeList.map((r) => `  ${r.route.padEnd(20)} ${r.does}`).join("\n") +
              `\ntry: curl ${address}/   (Ctrl-C or SIGTERM drains and stops)`
          ))
      )
      const server = Api.durableLayer({
        port: options.port,
        host: options.host,
        outbox: options.outbox,
        workers: options.workers,
        drainTimeout: Duration.seconds(options.drainTimeout),
        db: db.url,
        lease: Duration.seconds(Math.max(1, options.lease)),
        mailLatency: Duration.millis(Math.max(0, options.mailLatency)),
        // On a shared queue (PostgreSQL) a leaving instance finishes its own jobs and leaves
        // the queued ones to the others; alone on SQLite it sends what it accepted.
        drain: db.url.startsWith("file:") ? "ready" : "claimed"
      })
      // Built in a scope of its own, so that after a signal closes it (requests drained, then
      // jobs) the queue's drain report decides the exit code: 0 only for a clean drain.
      let jobs: Context.Tag.Service<typeof DurableJobs.DurableJobs> | undefined
      return yield* Effect.acquireUseRelease(
        Scope.make(),
        (scope) =>
          Effect.flatMap(Layer.buildWithScope(Layer.provideMerge(announce, server), scope), (context) => {
            jobs = Context.get(context, DurableJobs.DurableJobs)
            return Effect.never
          }),
        (scope, exit) =>
          Effect.gen(function*() {
            if (jobs !== undefined) yield* Console.log("volley serve: shutting down: draining requests, then background jobs")
            yield* Scope.close(scope, exit)
            const report = jobs === undefined ? undefined : yield* jobs.drained
            if (report !== undefined && report.abandoned.length > 0) {
              yield* Console.error(
                `volley serve: ${report.abandoned.length} job(s) did not complete before the drain deadline; exiting 1 (they stay stored and run on the next start)`
              )
              process.exitCode = 1
            }
          })
      ).pipe(
        Effect.provide(safeLogger),
        Effect.catchTags({
          ServeError: (e) =>
            Effect.zipRight(Console.error(`volley serve: ${listenFailure(e, options.host, options.port)}`), Effect.sync(() => void (process.exitCode = 1))),
          DatabaseUrlError: (e) => Effect.zipRight(Console.error(`volley serve: ${e.message}`), Effect.sync(() => void (process.exitCode = 2))),
          DatabaseOpenError: (e) => Effect.zipRight(Console.error(`volley serve: ${e.message}`), Effect.sync(() => void (process.exitCode = 1)))
        })
      )
    })
).pipe(Command.withDescription("Run the example REST API (users, dashboard fan-out, files, health, metrics, jobs) on the durable job queue, with graceful shutdown."))
