/**
 * `volley batch status|results|retry NAME`: a durable batch (`volley fetch --db`, `volley
 * download --db`) read and requeued from the command line, with the same `--db` /
 * `VOLLEY_DB` as `volley jobs`; its workers may be running. Exit 2 for a bad URL or a name not in the database.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as DurableBatchModule from "../DurableBatch.js"
import { dbOption, resolveDb } from "./internal/db.js"

const name = Args.text({ name: "NAME" }).pipe(Args.withDescription("The batch's name, as `volley fetch --db` printed it"))

const setExit = (code: number) => Effect.sync(() => void (process.exitCode = code))

/** Opens the database and runs `use`; errors print and set the exit code. */
const withStore = (
  command: string,
  db: Option.Option<string>,
  use: (DurableBatch: typeof DurableBatchModule) => Effect.Effect<void, unknown, DurableBatchModule.DurableBatchStore>
) =>
  Effect.gen(function*() {
    const resolved = yield* resolveDb(command, db)
    if (resolved === undefined) return
    const DurableBatch = yield* Effect.promise(() => import("../DurableBatch.js"))
    yield* use(DurableBatch).pipe(
      Effect.provide(DurableBatch.layer(resolved.url)),
      Effect.catchAll((e: unknown) => {
        const tag = (e as { _tag?: string })._tag
        return Effect.zipRight(
          Console.error(`volley ${command}: ${e instanceof Error ? e.message : String(e)}`),
          setExit(tag === "DatabaseUrlError" || tag === "BatchNotFound" ? 2 : 1)
        )
      })
    )
  })

const age = (ms: number) => (ms < 1_000 ? `${ms} ms` : ms < 120_000 ? `${(ms / 1_000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`)

const statusCommand = Command.make("status", { db: dbOption, NAME: name }, (options) =>
  withStore("batch status", options.db, (DurableBatch) =>
    Effect.gen(function*() {
      const s = yield* DurableBatch.status(options.NAME)
      const now = Date.now()
      yield* Console.log(
        `batch ${s.name}: ${s.total} items: ${s.pending} pending, ${s.running} running, ${s.expired} claimed by a stopped worker, ` +
          `${s.done} done (${s.succeeded} ok, ${s.failed} failed, ${s.unknown} unknown)`
      )
      yield* Console.log(`throughput: ${s.throughput.overall.toFixed(1)}/s overall, ${s.throughput.lastMinute.toFixed(1)}/s over the last minute`)
      if (s.oldestClaim !== undefined) {
        yield* Console.log(`oldest claim: item ${s.oldestClaim.index} by ${s.oldestClaim.worker}, ${age(now - s.oldestClaim.claimedAt)} ago`)
      }
      yield* Console.log(`workers seen: ${s.workers.length}`)
      for (const w of s.workers) {
        yield* Console.log(`  ${w.worker}  done ${w.done}  started ${age(now - w.startedAt)} ago  last seen ${age(now - w.seenAt)} ago`)
      }
    }))).pipe(Command.withDescription("Counts by state, throughput, the workers seen and the oldest claim of a durable batch."))

const order = Options.choice("order", ["input", "finished"]).pipe(
  Options.withDefault("input" as const),
  Options.withDescription("Records in input order (default) or as they finished")
)

const resultsCommand = Command.make("results", { db: dbOption, order, NAME: name }, (options) =>
  withStore("batch results", options.db, (DurableBatch) =>
    Effect.gen(function*() {
      const { ndjson } = yield* Effect.promise(() => import("./internal/fetchOutput.js"))
      const { recordToOutcome } = yield* Effect.promise(() => import("./internal/durableRecords.js"))
      // A `volley download --db` batch stores files, not request lines.
      const { fileRecordJson, isStoredFile } = yield* Effect.promise(() => import("./internal/durableFiles.js"))
      yield* Stream.runForEachChunk(
        DurableBatch.results<unknown, unknown>(options.NAME, { order: options.order }),
        (chunk) =>
          Effect.sync(() => {
            let text = ""
            for (const record of chunk) {
              const item = record.item
              text += isStoredFile(item)
                ? fileRecordJson({ ...record, item })
                : ndjson(recordToOutcome({ ...record, item: item as readonly [number, string] }))
            }
            process.stdout.write(text)
          })
      )
    }))).pipe(Command.withDescription("Print the stored records of a durable batch as NDJSON, each once."))

const failed = Options.boolean("failed").pipe(Options.withDescription("Queue again the items that failed"))
const unknown = Options.boolean("unknown").pipe(
  Options.withDescription("Queue again the items that ended unknown (they may have been applied: sending them again may repeat them)")
)

const retryCommand = Command.make("retry", { db: dbOption, failed, unknown, NAME: name }, (options) =>
  withStore("batch retry", options.db, (DurableBatch) =>
    Effect.gen(function*() {
      if (!options.failed && !options.unknown) {
        yield* Console.error("volley batch retry: say what to queue again: --failed and/or --unknown")
        return yield* setExit(2)
      }
      const n = yield* DurableBatch.retry(options.NAME, { failed: options.failed, unknown: options.unknown })
      yield* Console.log(`batch ${options.NAME}: ${n} item${n === 1 ? "" : "s"} queued again; rerun the fetch to run them`)
    }))).pipe(Command.withDescription("Queue failed (--failed) or unknown (--unknown) items of a durable batch again."))

/**
 * The `batch` subcommand.
 *
 * @since 0.1.0
 */
export const batchCommand = Command.make("batch").pipe(
  Command.withDescription("Inspect durable batches (volley fetch --db): status, results, retry."),
  Command.withSubcommands([statusCommand, resultsCommand, retryCommand])
)
