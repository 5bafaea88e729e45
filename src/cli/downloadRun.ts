/**
 * The work of `volley download` (flags in download.ts), loaded on use: checks the flags and
 * reads the inputs (internal/downloadSetup.ts), downloads into the folder with `Download.many`
 * (mirrors tried in turn), and renders each file and the totals (internal/downloadReport.ts).
 * With `--db` the list is shared through the database instead (internal/durableDownload.ts).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import * as Download from "../Download.js"
import type { DownloadFlags } from "./download.js"
import * as Input from "./internal/downloadInput.js"
import { formatDuration, makeDisplay } from "./internal/downloadProgress.js"
import { describe, mirrorNote, report } from "./internal/downloadReport.js"
import { prepare, tryNext } from "./internal/downloadSetup.js"
import { isDurable } from "./internal/durableFlags.js"
import { exitWith } from "./internal/exit.js"

const stdout = (text: string) => Effect.sync(() => void process.stdout.write(text))

/** Runs `volley download` with the flags @effect/cli parsed. */
export const download = (flags: DownloadFlags): Effect.Effect<void> =>
    Effect.gen(function*() {
      const prepared = yield* prepare(flags)
      if (prepared === undefined) return
      if (isDurable(flags)) {
        const durable = yield* Effect.promise(() => import("./internal/durableDownload.js"))
        return yield* durable.downloadDurable(flags, prepared)
      }
      const { entries, lineErrors, sums } = prepared
      const inputErrors = lineErrors.length > 0
      const itemFor = (entry: Input.Entry, mirror: number): Download.Item => ({
        url: entry.mirrors[mirror]!,
        // A mirror's file keeps the name the first URL gives it (unless the server names it).
        name: entry.name ?? (mirror > 0 && !flags.contentDisposition ? Download.nameFromUrl(entry.url) : undefined),
        checksum: entry.checksum ?? sums.get(Input.lookupName(entry)),
        headers: entry.headers
      })
      const items = entries.map((entry) => itemFor(entry, 0))
      const tty = process.stderr.isTTY === true
      const display = makeDisplay({ files: items.length, tty, columns: () => process.stderr.columns || 80, write: (t) => void process.stderr.write(t) })
      const startedAt = yield* Clock.currentTimeMillis
      // Outcomes as they complete, for the partial summary after Ctrl-C.
      const finished: Array<Download.Outcome> = []

      const { layer } = prepared
      /**
       * Downloads `round` (entry index and which of its URLs to use); returns the failures to
       * try again with their next mirror. Indexes reported to the display are the entries'.
       */
      const runRound = (round: ReadonlyArray<{ readonly index: number; readonly mirror: number }>) =>
        Effect.map(
          Download.many(round.map((r) => itemFor(entries[r.index]!, r.mirror)), {
            ...prepared.options,
            onStart: (k, url) => display.start(round[k]!.index, url),
            onProgress: (k, progress) => display.progress(round[k]!.index, progress),
            onOutcome: (outcome) => {
              const { index, mirror } = round[outcome.index]!
              const entry = entries[index]!
              const mapped: Download.Outcome = { ...outcome, index }
              if (tryNext(outcome, entry.mirrors, mirror)) return display.outcome(mapped, mirrorNote(outcome, entry.mirrors[mirror + 1]!))
              finished.push(mapped)
              display.outcome(mapped, describe(mapped))
            }
          }),
          (outcomes) => {
            const again: Array<{ readonly index: number; readonly mirror: number }> = []
            const done: Array<readonly [number, Download.Outcome]> = []
            for (const outcome of outcomes) {
              const { index, mirror } = round[outcome.index]!
              if (tryNext(outcome, entries[index]!.mirrors, mirror)) again.push({ index, mirror: mirror + 1 })
              else done.push([index, { ...outcome, index }])
            }
            return { again, done }
          }
        )
      // Mirrors, tried in turn: each round retries the failures of the last with their next URL.
      const run = Effect.gen(function*() {
        const results: Array<Download.Outcome | undefined> = new Array(entries.length)
        let round: ReadonlyArray<{ readonly index: number; readonly mirror: number }> = entries.map((_, index) => ({ index, mirror: 0 }))
        while (round.length > 0) {
          const { again, done } = yield* runRound(round)
          for (const [index, outcome] of done) results[index] = outcome
          round = again
        }
        return results.filter((o): o is Download.Outcome => o !== undefined)
      })
      const ticker = tty ? Effect.repeat(Effect.sync(display.tick), Schedule.spaced("100 millis")) : Effect.never
      const outcomes = yield* Effect.raceFirst(run, Effect.zipRight(ticker, Effect.never)).pipe(
        Effect.provide(layer),
        Effect.onInterrupt(() =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => {
            display.close()
            const elapsed = now - startedAt
            const { summary } = report(finished, lineErrors.length)
            process.stderr.write(
              `volley download: interrupted after ${finished.length} of ${items.length} file${items.length === 1 ? "" : "s"}: ${summary} in ${formatDuration(elapsed)}\n` +
                "volley download: partial files are kept as .part; run the same command again to resume\n"
            )
            // The runtime exits 0 on a signal; an interrupted download is not a success.
            exitWith(130)
          }))
        )
      )
      display.close()
      const elapsed = (yield* Clock.currentTimeMillis) - startedAt
      const { failed, lines, summary } = report(outcomes, lineErrors.length)
      yield* stdout(`${lines.join("")}${outcomes.length} file${outcomes.length === 1 ? "" : "s"}: ${summary} in ${formatDuration(elapsed)}\n`)
      process.exitCode = inputErrors ? 2 : failed > 0 ? 1 : 0
    }).pipe(
      // Only errors are logged (on stderr, as every command's): the --insecure warning above replaces the client's own.
      Effect.provide(Logger.minimumLogLevel(LogLevel.Error))
    )
