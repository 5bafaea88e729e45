/**
 * `volley jobs list` and `volley jobs retry ID`: the durable queue's store, read and re-queued
 * from the command line (the same `--db` / `VOLLEY_DB` as `volley serve`; it may be running).
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import type { DurableJobsService } from "../server/DurableJobs.js"
import { dbOption, resolveDb } from "./internal/db.js"
import { escapeJson, terminalSafe } from "./internal/terminalText.js"

const queue = Options.text("queue").pipe(Options.withDefault("email"), Options.withDescription("Queue name (volley serve's is \"email\")"))
const state = Options.choice("state", ["queued", "running", "done", "dead"]).pipe(Options.optional, Options.withDescription("Only jobs in this state"))
const limit = Options.integer("limit").pipe(Options.withDefault(100), Options.withDescription("At most this many jobs, oldest first"))
const details = Options.boolean("details").pipe(
  Options.withDescription("Also print each job's payload and its last error in full (stack included): what `GET /jobs` keeps private")
)

const setExit = (code: number) => Effect.sync(() => void (process.exitCode = code))

/** Opens the store (no workers) and runs `use` on it; database errors print and set the exit code. */
const withQueue = (command: string, db: Option.Option<string>, name: string, use: (jobs: DurableJobsService) => Effect.Effect<void, unknown>) =>
  Effect.gen(function*() {
    const resolved = yield* resolveDb(command, db)
    if (resolved === undefined) return
    // Reading a queue never creates its database: a wrong folder would look like an empty queue.
    if (resolved.url.startsWith("file:") && !fs.existsSync(resolved.url.slice("file:".length))) {
      yield* Console.error(
        `volley ${command}: no job database at ${resolved.display.slice("file:".length)} ` +
          "(`volley serve` creates it there; run this where it ran, or give --db / VOLLEY_DB)"
      )
      return yield* setExit(2)
    }
    const DurableJobs = yield* Effect.promise(() => import("../server/DurableJobs.js"))
    const layer = DurableJobs.layer<never>({ name, handlers: [], workers: 0 }).pipe(Layer.provide(DurableJobs.layerUrl(resolved.url)))
    yield* Effect.flatMap(DurableJobs.DurableJobs, use).pipe(
      Effect.provide(layer),
      Effect.catchAll((e: unknown) => {
        const tag = (e as { _tag?: string })._tag
        return Effect.zipRight(
          Console.error(`volley ${command}: ${e instanceof Error ? e.message : String(e)}`),
          setExit(tag === "DatabaseUrlError" || tag === "JobNotFound" ? 2 : 1)
        )
      })
    )
  })

const age = (ms: number) => (ms < 1_000 ? `${ms} ms` : ms < 120_000 ? `${(ms / 1_000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`)

const listCommand = Command.make("list", { db: dbOption, queue, state, limit, details }, (options) =>
  withQueue("jobs list", options.db, options.queue, (jobs) =>
    Effect.gen(function*() {
      const stats = yield* jobs.stats
      yield* Console.log(
        `queue ${jobs.name}: ${stats.queued} queued, ${stats.running} running, ${stats.done} done, ${stats.dead} dead` +
          (stats.oldestQueuedAgeMs === null ? "" : `; oldest queued ${age(stats.oldestQueuedAgeMs)} ago`)
      )
      const rows = yield* jobs.list({ state: Option.getOrUndefined(options.state), limit: options.limit })
      const now = Date.now()
      // Stored text came from handlers, payloads and upstream answers: printed terminal-safe.
      for (const job of rows) {
        const error = job.lastError === null ? "" : `  error: ${terminalSafe(job.lastError.split("\n")[0]!)}`
        const next = job.state === "queued" && job.runAfter > now ? `  next try in ${age(job.runAfter - now)}` : ""
        yield* Console.log(`${terminalSafe(job.id)}  ${job.state}  attempts ${job.attempts}  age ${age(now - job.createdAt)}${next}${error}`)
        if (options.details) {
          yield* Console.log(`  payload: ${escapeJson(JSON.stringify(job.payload) ?? "null")}`)
          for (const line of job.lastError?.split("\n") ?? []) yield* Console.log(`  | ${terminalSafe(line)}`)
        }
      }
    }))).pipe(Command.withDescription("List stored jobs (counts by state, then one line per job)."))

const id = Args.text({ name: "ID" }).pipe(Args.withDescription("The dead job's id, as `jobs list` shows it"))

const retryCommand = Command.make("retry", { db: dbOption, queue, id }, (options) =>
  withQueue("jobs retry", options.db, options.queue, (jobs) =>
    Effect.zipRight(jobs.retry(options.id), Console.log(`volley jobs retry: ${options.id} queued again`)))).pipe(
    Command.withDescription("Queue a dead letter again, with a fresh retry budget.")
  )

export const jobsCommand = Command.make("jobs").pipe(
  Command.withDescription("Inspect the durable job queue of `volley serve` and re-queue dead letters."),
  Command.withSubcommands([listCommand, retryCommand])
)
