/**
 * `volley serve`: runs the example REST API (examples/api.ts) until SIGTERM/SIGINT, then
 * shuts down gracefully: in-flight requests finish, queued welcome emails are sent within
 * the drain deadline, and the process exits 0 (1 if a job had to be abandoned).
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"

const port = Options.integer("port").pipe(Options.withDefault(8080), Options.withDescription("Port to listen on (0 picks a free one)"))
const host = Options.text("host").pipe(Options.withDefault("127.0.0.1"), Options.withDescription("Address to bind"))
const outbox = Options.text("outbox").pipe(Options.withDefault("outbox"), Options.withDescription("Folder the welcome emails are written to"))
const drainTimeout = Options.integer("drain-timeout").pipe(
  Options.withDefault(15),
  Options.withDescription("Seconds queued jobs get to finish on shutdown before they are interrupted")
)
const workers = Options.integer("workers").pipe(Options.withDefault(4), Options.withDescription("Background email workers"))

export const serveCommand = Command.make("serve", { port, host, outbox, drainTimeout, workers }, (options) =>
  // Loaded on use: the server's modules would slow every other command's start.
  Effect.flatMap(Effect.promise(() => Promise.all([import("../../examples/api.js"), import("../server/JobPool.js")])), ([Api, JobPool]) =>
    Effect.gen(function*() {
      const announce = Layer.effectDiscard(
        HttpServer.addressFormattedWith((address) => Console.log(`volley serve: listening on ${address} (outbox: ${options.outbox})`))
      )
      const server = Api.layer({
        port: options.port,
        host: options.host,
        outbox: options.outbox,
        workers: options.workers,
        drainTimeout: Duration.seconds(options.drainTimeout)
      })
      // Built in a scope of its own, so that after a signal closes it (requests drained, then
      // jobs) the pool's drain report decides the exit code: 0 only for a clean drain.
      let pool: Context.Tag.Service<typeof JobPool.JobPool> | undefined
      return yield* Effect.acquireUseRelease(
        Scope.make(),
        (scope) =>
          Effect.flatMap(Layer.buildWithScope(Layer.provideMerge(announce, server), scope), (context) => {
            pool = Context.get(context, JobPool.JobPool)
            return Effect.never
          }),
        (scope, exit) =>
          Effect.gen(function*() {
            if (pool !== undefined) yield* Console.log("volley serve: shutting down: draining requests, then background jobs")
            yield* Scope.close(scope, exit)
            const report = pool === undefined ? undefined : yield* pool.drained
            if (report !== undefined && report.abandoned.length > 0) {
              yield* Console.error(`volley serve: ${report.abandoned.length} job(s) did not complete before the drain deadline; exiting 1`)
              process.exitCode = 1
            }
          })
      )
    })
  )).pipe(Command.withDescription("Run the example REST API (users, dashboard fan-out, files, health, metrics) with graceful shutdown."))
