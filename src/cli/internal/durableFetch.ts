/**
 * `volley fetch --db`: the list goes into the database (idempotently, under a name derived
 * from its valid lines unless `--batch` names it), this process runs its share through
 * `DurableBatch.stream` with the same Batch options as a plain fetch, and the NDJSON comes
 * from the stored outcomes: every record of the batch, whoever stored it and whenever, each
 * printed once, in input order or as they finished.
 *
 * Only `[line, text]` is stored per item: `-X`/`-H`/`-u` are applied when it runs, so a
 * header secret given as a flag never reaches the database.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as Batch from "../../Batch.js"
import type * as Client from "../../Client.js"
import * as DurableBatch from "../../DurableBatch.js"
import { recordOfRow } from "../../internal/durableBatch/records.js"
import { doneCounts, donePrefix } from "../../internal/durableBatch/store.js"
import { type DurableFlags, resolveDurable } from "./durableFlags.js"
import { itemOf, recordToOutcome, type Stored } from "./durableRecords.js"
import { lines, type SourcedLine } from "./fetchBatch.js"
import { countBody, makeNamer, readBody } from "./fetchBody.js"
import { type FetchItem, type FetchSettings, parseLine } from "./fetchInput.js"
import { type FetchOutcome, makeStats, ndjson, progressText, summaryJson, summaryText, tableHeader, tableRow } from "./fetchOutput.js"
import * as Lines from "./lines.js"
import { exitWith } from "./exit.js"
import * as Progress from "./progress.js"
import { terminalSafe } from "./terminalText.js"


const fail = (code: number, message: string) =>
  Effect.sync(() => {
    process.stderr.write(`volley fetch: ${message}\n`)
    exitWith(code)
  })


/** Checks the durable flags (durableFlags.ts) and what fetch cannot combine with them; a usage error (exit 2) as a string. */
const resolve = (settings: FetchSettings, flags: DurableFlags) =>
  Effect.map(resolveDurable(flags, settings.sources.some((s) => s._tag === "List" && s.path === "-")), (resolved) => {
    if (typeof resolved === "string") return resolved
    if (settings.failFast) return "--fail-fast cannot be combined with --db (the batch is shared; stop it with Ctrl-C)"
    if (settings.outputFile !== undefined) return "--output-file cannot be combined with --db (records come from the database; use --body or -O)"
    return resolved
  })

export const fetchDurable = (settings: FetchSettings, flags: DurableFlags, client: Layer.Layer<Client.Client>): Effect.Effect<void> =>
  Effect.gen(function*() {
    const resolved = yield* resolve(settings, flags)
    if (typeof resolved === "string") return yield* fail(2, resolved)

    // Invalid lines are reported once, though the list may be read twice (to name it).
    let invalid = 0
    let reported = 0
    // An item's number is its line's in a single list; across several sources (URLs as
    // arguments, lists) it is its place in all of them, so numbers never repeat.
    const numbered: Stream.Stream<SourcedLine & { readonly item: number }, Lines.InputError> =
      settings.sources.length === 1
        ? Stream.map(lines(settings.sources[0]!), (line) => ({ ...line, item: line.number }))
        : Stream.mapAccum(Stream.flatMap(Stream.fromIterable(settings.sources), lines), 0, (n, line) => [n + 1, { ...line, item: n + 1 }])
    const items: Stream.Stream<Stored, Lines.InputError> = Stream.filterMap(numbered, (line) => {
      const parsed = parseLine(line.text, line.item, settings.defaults)
      if (parsed._tag === "Item") return Option.some([line.item, line.text] as const)
      if (parsed._tag === "Invalid" && line.item > reported) {
        reported = line.item
        invalid++
        process.stderr.write(`${line.source}:${line.number}: ${terminalSafe(parsed.message)}\n`)
      }
      return Option.none()
    })

    const fetchItems = new WeakMap<Stored, FetchItem>()
    const fetchItem = (stored: Stored): FetchItem => {
      let item = fetchItems.get(stored)
      if (item === undefined) {
        item = itemOf(stored, settings.defaults)
        fetchItems.set(stored, item)
      }
      return item
    }

    const work = Effect.gen(function*() {
      const store = yield* DurableBatch.DurableBatchStore
      const loaded = yield* DurableBatch.load(items, resolved.name === undefined ? {} : { name: resolved.name })
      process.stderr.write(
        `volley fetch: batch ${loaded.name}: ${loaded.total} item${loaded.total === 1 ? "" : "s"}` +
          `${loaded.added === loaded.total ? "" : `, ${loaded.added} added`} in ${store.database}\n`
      )
      yield* runAndPrint(settings, flags.order, resolved.lease, loaded, store, fetchItem, () => invalid)
    })

    const result = yield* work.pipe(
      Effect.scoped,
      Effect.provide(DurableBatch.layer(resolved.url)),
      Effect.provide(client),
      Effect.either
    )
    if (Either.isLeft(result)) {
      const e = result.left
      return yield* fail(e._tag === "BatchConflict" || e._tag === "DatabaseUrlError" || e._tag === "InputError" ? 2 : 1, terminalSafe(e.message))
    }
  })

const runAndPrint = (
  settings: FetchSettings,
  order: "input" | "finished",
  lease: number,
  loaded: DurableBatch.Loaded,
  store: DurableBatch.Store,
  fetchItem: (stored: Stored) => FetchItem,
  invalid: () => number
) =>
  Effect.gen(function*() {
    const tally = Batch.tally()
    const stats = makeStats()
    const started = yield* Clock.currentTimeMillis
    const clock = yield* Effect.clock
    const elapsed = () => clock.unsafeCurrentTimeMillis() - started
    // The live line counts what every worker stored (read each second), not only what this
    // one printed: in input order a slow early item holds the printing back, and other
    // workers' outcomes print only at the end. Its rate counts this run's part.
    let stored: { readonly done: number; readonly failed: number } = { done: 0, failed: 0 }
    let doneBefore = 0
    const readStored = Effect.matchEffect(doneCounts(store, loaded.name), {
      onFailure: () => Effect.void,
      onSuccess: (counts) => Effect.sync(() => void (stored = counts))
    })
    const progress = yield* Progress.make(() =>
      progressText({
        done: Math.max(tally.count(), stored.done),
        failed: Math.max(tally.failures(), stored.failed),
        invalid: invalid(),
        total: loaded.total,
        elapsedMs: elapsed(),
        doneBefore
      })
    )
    if (progress.live) {
      yield* readStored
      doneBefore = stored.done
      yield* Effect.forkScoped(Effect.repeat(readStored, Schedule.spaced("1 second")))
    }
    const format: (outcome: FetchOutcome) => string = settings.table ? tableRow : ndjson
    if (settings.table) progress.print(tableHeader, process.stdout)
    let stdoutGone = false
    const stdoutClosed = yield* Deferred.make<void>()
    process.stdout.on("error", () => {
      stdoutGone = true
      Deferred.unsafeDone(stdoutClosed, Effect.void)
    })

    let unknown = 0
    const printed = new Uint8Array(loaded.total)
    const print = (records: Iterable<DurableBatch.Record<Stored, unknown>>) => {
      let text = ""
      for (const record of records) {
        if (printed[record.index] === 1) continue
        printed[record.index] = 1
        if (record.outcome === "unknown") unknown++
        const outcome = recordToOutcome(record, fetchItem)
        tally.add(outcome)
        stats.add(outcome)
        text += format(outcome)
      }
      if (text !== "" && !stdoutGone) progress.print(text, process.stdout)
    }

    // Input order: the stored prefix of finished items, from where the last look stopped.
    let cursor = -1
    const printPrefix = Effect.gen(function*() {
      while (true) {
        const rows = yield* donePrefix(store, loaded.name, cursor, 1_000)
        const done = rows.map((row) => recordOfRow<Stored, unknown>(row))
        if (done.length > 0) cursor = done[done.length - 1]!.index
        print(done)
        if (rows.length < 1_000) return
      }
    }).pipe(Effect.mapError((e) => new DurableBatch.BatchStoreError({ operation: "reading records", reason: e.message })))
    const printOthers = Effect.flatMap(
      Stream.runForEachChunk(DurableBatch.results<Stored, unknown>(loaded.name, { order: "finished" }), (chunk) => Effect.sync(() => print(chunk))),
      () => Effect.void
    )

    const { bodyLimit, outputDir } = settings
    const nameFor = outputDir === undefined ? undefined : makeNamer(outputDir)
    const base = { ...settings.batch, lease: Math.max(1, lease) } as DurableBatch.RunOptions<Stored, unknown, unknown, never>
    const options: DurableBatch.RunOptions<Stored, unknown, unknown, never> = bodyLimit === undefined && nameFor === undefined
      ? { ...base, toRequest: (stored) => fetchItem(stored).request, handle: countBody }
      : {
        ...base,
        requestOptions: { ...settings.batch.requestOptions, maxBodyBytes: Number.MAX_SAFE_INTEGER },
        toRequest: (stored) => fetchItem(stored).request,
        handle: (response, stored) => {
          const item = fetchItem(stored)
          return readBody(response, bodyLimit, nameFor?.(item.line, response.url))
        }
      }

    const ordered = order === "finished"
    if (ordered) yield* printOthers
    // The stream runs in this fiber, the printer in a child: an interruption (Ctrl-C) then
    // waits for the stream's finalizer, which gives this worker's claims back, while the
    // database is still open (a race would close it under the finalizer).
    const mine = DurableBatch.stream(loaded.name, options).pipe(
      Stream.interruptWhenDeferred(stdoutClosed),
      ordered ? Stream.runForEachChunk((chunk) => Effect.sync(() => print(chunk))) : Stream.runDrain
    )
    const printer = ordered ? undefined : yield* Effect.fork(Effect.forever(Effect.zipRight(Effect.sleep("100 millis"), printPrefix)))
    yield* mine.pipe(Effect.onInterrupt(() => Effect.sync(() => finish(true))))
    if (printer !== undefined) yield* Fiber.interrupt(printer)
    yield* ordered ? printOthers : printPrefix
    progress.stop()
    finish(false)

    function finish(wasInterrupted: boolean) {
      const summary = tally.summary(elapsed())
      const text = settings.summary === "json"
        ? summaryJson(summary, stats, invalid(), wasInterrupted)
        : summaryText(summary, stats, invalid(), wasInterrupted)
      let written = false
      if (settings.summaryFile !== undefined) {
        try {
          fs.writeFileSync(settings.summaryFile, text)
          written = true
        } catch (error) {
          process.stderr.write(`volley fetch: cannot write ${terminalSafe(settings.summaryFile)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}\n`)
        }
      }
      const to = settings.table && !stdoutGone && settings.summary === "text" ? process.stdout : process.stderr
      if (!written) to.write(text)
      if (unknown > 0) {
        process.stderr.write(
          `volley fetch: ${unknown} request${unknown === 1 ? "" : "s"} may or may not have been applied ("error":"Unknown"): ` +
            `in flight when a worker stopped, and not idempotent, so not sent again\n`
        )
      }
      exitWith(wasInterrupted ? 130 : invalid() > 0 ? 2 : tally.failures() > 0 ? 1 : 0)
    }
  })
