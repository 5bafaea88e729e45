/**
 * `volley download --db`: the list goes into the database (idempotently, under a name derived
 * from it unless `--batch` names it), every worker given the same list and folder claims
 * files from it, and each file is downloaded by the worker holding its claim, its outcome
 * stored as it finishes. The report and the exit code come from the stored outcomes, so a
 * rerun after everything finished downloads nothing and reports them all again.
 *
 * Checksums, `.part` resume and safe names work as in a plain download; the stored item fixes
 * the file's name (durableFiles.ts), and a worker writes a `.part` or renames it into place
 * only after checking, in the database, that it still holds the file's claim.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type * as Client from "../../Client.js"
import type * as Download from "../../Download.js"
import * as DurableBatch from "../../DurableBatch.js"
import * as Limits from "../../internal/batch/limits.js"
import { each } from "../../internal/durableBatch/each.js"
import { newWorkerId } from "../../internal/durableBatch/worker.js"
import { doneCounts } from "../../internal/durableBatch/store.js"
import type { DownloadFlags } from "../download.js"
import { formatDuration, makeDisplay } from "./downloadProgress.js"
import { report } from "./downloadReport.js"
import { type Prepared, usage } from "./downloadSetup.js"
import { downloadFile, reportedOf, type StoredFile, storedFiles, type Worker } from "./durableFiles.js"
import { resolveDurable } from "./durableFlags.js"
import { exitWith } from "./exit.js"
import { terminalSafe } from "./terminalText.js"

const stderr = (text: string) => Effect.sync(() => void process.stderr.write(text))


const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

export const downloadDurable = (flags: DownloadFlags, prepared: Prepared): Effect.Effect<void> =>
  Effect.gen(function*() {
    const resolved = yield* resolveDurable(flags, prepared.sources.includes("-"))
    if (typeof resolved === "string") return yield* usage([resolved])
    if (flags.contentDisposition) {
      return yield* usage(["--content-disposition cannot be combined with --db (every worker must give a file the same name before it downloads it)"])
    }
    const { files, renamed } = storedFiles(prepared.entries)
    if (renamed.length > 0) {
      yield* stderr(renamed.map((r) =>
        `volley download: item ${r.index + 1} would be saved as ${terminalSafe(JSON.stringify(r.wanted))} like item ${r.holder + 1}: ` +
        `saved as ${terminalSafe(JSON.stringify(r.name))}\n`
      ).join(""))
    }

    const work = Effect.gen(function*() {
      const store = yield* DurableBatch.DurableBatchStore
      const loaded = yield* DurableBatch.load(files, resolved.name === undefined ? {} : { name: resolved.name })
      yield* stderr(
        `volley download: batch ${loaded.name}: ${plural(loaded.total, "file")}` +
          `${loaded.added === loaded.total ? "" : `, ${loaded.added} added`} in ${store.database}\n`
      )
      yield* runAndReport(prepared, resolved.lease, loaded, store)
    })

    const result = yield* work.pipe(
      Effect.scoped,
      Effect.provide(DurableBatch.layer(resolved.url)),
      Effect.provide(prepared.layer),
      Effect.either
    )
    if (Either.isLeft(result)) {
      const e = result.left
      yield* stderr(`volley download: ${terminalSafe(e.message)}\n`)
      exitWith(e._tag === "BatchConflict" || e._tag === "DatabaseUrlError" ? 2 : 1)
    }
  })

const runAndReport = (prepared: Prepared, lease: number, loaded: DurableBatch.Loaded, store: DurableBatch.Store) =>
  Effect.gen(function*() {
    const tty = process.stderr.isTTY === true
    const display = makeDisplay({ files: loaded.total, tty, columns: () => process.stderr.columns || 80, write: (t) => void process.stderr.write(t) })
    const startedAt = yield* Clock.currentTimeMillis
    const finished: Array<Download.Outcome> = []
    const worker: Worker = {
      options: prepared.options,
      sums: prepared.sums,
      limited: yield* Limits.make({ perHost: prepared.options.perHost }),
      display,
      finished
    }
    const id = newWorkerId()
    const mine = each<StoredFile, Client.Client>(
      store,
      loaded.name,
      { concurrency: prepared.options.concurrency ?? 4, lease, worker: id },
      (file, index, guard, fence) => downloadFile(worker, file, index, guard, fence)
    )
    // On a terminal: the bars, and in the total line the files other workers finished.
    const ticker = tty
      ? yield* Effect.fork(Effect.all([
        Effect.repeat(Effect.sync(display.tick), Schedule.spaced("100 millis")),
        doneCounts(store, loaded.name, id).pipe(
          Effect.tap((counts) => Effect.sync(() => display.others(counts.others))),
          Effect.ignore,
          Effect.repeat(Schedule.spaced("1 second"))
        )
      ], { concurrency: 2 }))
      : undefined
    // The stream runs in this fiber (not in a race): an interruption (Ctrl-C) waits for its
    // finalizer, which gives this worker's claims back, while the database is still open.
    yield* Stream.runDrain(mine).pipe(
      Effect.onInterrupt(() =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => {
            display.close()
            const { summary } = report(finished, prepared.lineErrors.length)
            process.stderr.write(
              `volley download: interrupted after ${finished.length} of ${plural(loaded.total, "file")} here: ${summary} in ${formatDuration(now - startedAt)}\n` +
                "volley download: the claims are given back and partial files kept as .part; run the same command again to resume\n"
            )
            exitWith(130)
          }))
      )
    )
    if (ticker !== undefined) yield* Fiber.interrupt(ticker)
    display.close()
    const elapsed = (yield* Clock.currentTimeMillis) - startedAt
    // Every file's stored outcome, whoever downloaded it and whenever, in input order.
    const records = yield* Stream.runCollect(DurableBatch.results<StoredFile, unknown>(loaded.name))
    const outcomes = Array.from(records, (record) => reportedOf(prepared.sums, record))
    const { failed, lines, summary } = report(outcomes, prepared.lineErrors.length)
    const missing = loaded.total - outcomes.length
    process.stdout.write(`${lines.join("")}${plural(outcomes.length, "file")}: ${summary} in ${formatDuration(elapsed)}\n`)
    process.stderr.write(`volley download: ${plural(finished.length, "file")} of ${loaded.total} downloaded by this worker\n`)
    if (missing > 0) {
      process.stderr.write(`volley download: ${plural(missing, "file")} not finished (a worker stopped holding them); run the same command again\n`)
    }
    exitWith(prepared.lineErrors.length > 0 ? 2 : failed > 0 || missing > 0 ? 1 : 0)
  })
