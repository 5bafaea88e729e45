/**
 * The work of `volley fetch` (flags in fetch.ts), loaded on use. The flags are read in
 * internal/fetchInput.ts, the batch built in internal/fetchBatch.ts, the client layer in
 * internal/fetchLayer.ts, the records and summary rendered by internal/fetchOutput.ts; this
 * module runs them: each outcome written as it completes, then the summary.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as Batch from "../Batch.js"
import { checkSources, countInputs, items, outcomes as batchOutcomes } from "./internal/fetchBatch.js"
import { type FetchFlags, type FetchSettings, resolveFlags } from "./internal/fetchInput.js"
import { fetchLayer, type WebSettings } from "./internal/fetchLayer.js"
import {
  bytesOf,
  type FetchOutcome,
  makeStats,
  ndjson,
  progressText,
  summaryJson,
  summaryText,
  tableHeader,
  tableRow
} from "./internal/fetchOutput.js"
import type * as Client from "../Client.js"
import type { DurableFlags } from "./internal/durableFlags.js"
import type * as Lines from "./internal/lines.js"
import { exitWith } from "./internal/exit.js"
import * as Progress from "./internal/progress.js"
import { terminalSafe } from "./internal/terminalText.js"
import { basicAuth, resolveProxy } from "./internal/webFlags.js"

const usageError = (message: string): Effect.Effect<void> =>
  Effect.sync(() => {
    process.stderr.write(`volley fetch: ${message}\n`)
    process.exitCode = 2
  })


/** The flags fetch.ts defines: the request flags plus the web ones (webOptions.ts). */
export interface FetchRunFlags extends FetchFlags, DurableFlags {
  readonly proxy: Option.Option<string>
  readonly user: Option.Option<string>
  readonly compressed: boolean
  readonly noCompressed: boolean
}

const execute = (settings: FetchSettings, web: WebSettings, outputFd: number | undefined): Effect.Effect<void> =>
  Effect.gen(function*() {
    const tally = Batch.tally()
    const stats = makeStats()
    const clock = yield* Effect.clock
    const started = clock.unsafeCurrentTimeMillis()
    let endedAt: number | undefined
    const elapsed = () => (endedAt ?? clock.unsafeCurrentTimeMillis()) - started
    let invalid = 0
    let total: number | undefined
    let summaryPrinted = false
    let stdoutGone = false
    let flushOutput = () => {}
    const printSummary = (interrupted: boolean) => {
      if (summaryPrinted) return
      summaryPrinted = true
      flushOutput() // records still buffered (an interruption) go first
      const summary = tally.summary(elapsed())
      const text = settings.summary === "json"
        ? summaryJson(summary, stats, invalid, interrupted)
        : summaryText(summary, stats, invalid, interrupted)
      if (settings.summaryFile !== undefined) {
        try {
          fs.writeFileSync(settings.summaryFile, text)
          return
        } catch (error) {
          process.stderr.write(`volley fetch: cannot write ${terminalSafe(settings.summaryFile)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}\n`)
        }
      }
      const to = settings.table && !stdoutGone && settings.summary === "text" ? process.stdout : process.stderr
      to.write(text)
    }

    const run = Effect.gen(function*() {
      const progress = yield* Progress.make(() => progressText({ done: tally.count(), failed: tally.failures(), invalid, total, elapsedMs: elapsed() }))
      if (progress.live) {
        yield* Effect.forkScoped(Effect.map(countInputs(settings.sources), (n) => (total = n)))
      }
      // A reader that went away (`| head`) ends the run instead of crashing it with EPIPE.
      const stdoutClosed = yield* Deferred.make<void>()
      // The listener stays: a late write error must not crash the process either.
      process.stdout.on("error", () => {
        stdoutGone = true
        Deferred.unsafeDone(stdoutClosed, Effect.void)
      })

      const input = items(settings, (where, message) => {
        invalid++
        progress.print(`${terminalSafe(where)}: ${terminalSafe(message)}\n`)
      })
      let outcomes: Stream.Stream<FetchOutcome, Lines.InputError | Batch.BatchDeadlineError, Client.Client> = batchOutcomes(settings, input, outputFd)
      if (settings.failFast) outcomes = Stream.takeUntil(outcomes, (o) => Either.isLeft(o.result))
      const format: (outcome: FetchOutcome) => string = settings.table ? tableRow : ndjson
      if (settings.table) progress.print(tableHeader, process.stdout)
      // Records are written once per event-loop turn (or per 64 KiB), not once per outcome: a
      // write per record was 5% of a 10k-URL run. They still appear as they complete.
      let pending = ""
      let scheduled = false
      const flush = () => {
        scheduled = false
        if (pending !== "" && !stdoutGone) progress.print(pending, process.stdout)
        pending = ""
      }
      flushOutput = flush
      const consume = outcomes.pipe(
        Stream.runForEachChunk((chunk) =>
          Effect.sync(() => {
            for (const outcome of chunk) {
              // The bytes read (a handler's count), not the announced Content-Length.
              const bytes = bytesOf(outcome)
              tally.add(bytes === outcome.bytes ? outcome : { ...outcome, bytes })
              stats.add(outcome)
              pending += format(outcome)
            }
            if (pending.length >= 65_536) flush()
            else if (!scheduled) {
              scheduled = true
              setImmediate(flush)
            }
          })
        )
      )
      // Raced once for the whole run (Stream.interruptWhen would fork a fiber per pull).
      yield* Effect.raceFirst(consume, Deferred.await(stdoutClosed))
      flush()
      endedAt = clock.unsafeCurrentTimeMillis() // before the pool's sockets are closed
      progress.stop()
    })

    const result = yield* run.pipe(
      Effect.scoped,
      Effect.provide(fetchLayer(settings, web)),
      Effect.either,
      Effect.onInterrupt(() =>
        Effect.sync(() => {
          printSummary(true)
          exitWith(130)
        })
      )
    )
    if (Either.isLeft(result)) {
      process.stderr.write(`volley fetch: ${terminalSafe(result.left.message)}\n`)
      printSummary(false)
      return exitWith(2)
    }
    printSummary(false)
    exitWith(invalid > 0 ? 2 : tally.failures() > 0 ? 1 : 0)
  })

/** Runs `volley fetch` with the flags @effect/cli parsed. */
export const fetch = (flags: FetchRunFlags): Effect.Effect<void> =>
  Effect.suspend(() => {
    // -u is one more default header: an NDJSON line's own Authorization wins, as with -H.
    const auth = basicAuth(flags.user).authorization
    const settings = resolveFlags(auth === undefined ? flags : { ...flags, header: [...flags.header, `Authorization: ${auth}`] })
    if (typeof settings === "string") return usageError(settings)
    const checks = settings.outputDir === undefined
      ? checkSources(settings.sources)
      : Effect.zipRight(checkSources(settings.sources), ensureDir(settings.outputDir))
    return Effect.matchEffect(resolveProxy(flags.proxy), {
      onFailure: usageError,
      onSuccess: (proxy) =>
        Effect.matchEffect(checks, {
          onFailure: (error) => usageError(terminalSafe(error.message)),
          onSuccess: () =>
            Option.isSome(flags.db) || flags.durable
              ? Effect.flatMap(Effect.promise(() => import("./internal/durableFetch.js")), (durable) =>
                durable.fetchDurable(settings, flags, fetchLayer(settings, { proxy, decompress: !flags.noCompressed })))
              : Effect.catchAll(
                withOutput(settings.outputFile, (fd) => execute(settings, { proxy, decompress: !flags.noCompressed }, fd)),
                (error) => usageError(terminalSafe(error.message))
              )
        })
    })
  })

/** Creates the `-O` folder (and parents) before anything is sent. */
const ensureDir = (dir: string): Effect.Effect<void, { readonly message: string }> =>
  Effect.tryPromise({
    try: () => fs.promises.mkdir(dir, { recursive: true }),
    catch: (error) => ({ message: `cannot create ${dir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` })
  })

/** Opens (truncates) the `--output-file`, closed with the run's scope. */
const withOutput = (file: string | undefined, use: (fd: number | undefined) => Effect.Effect<void>): Effect.Effect<void, { readonly message: string }> =>
  file === undefined ? use(undefined) : Effect.acquireUseRelease(
    Effect.try({
      try: () => fs.openSync(file, "w"),
      catch: (error) => ({ message: `--output-file: cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` })
    }),
    use,
    (fd) => Effect.sync(() => fs.closeSync(fd))
  )
