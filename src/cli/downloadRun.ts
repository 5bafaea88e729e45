/**
 * The work of `volley download` (flags in download.ts), loaded on use: checks the flags, reads
 * the inputs (internal/downloadSources.ts), downloads into the folder with `Download.many`
 * (mirrors tried in turn), and renders each file and the totals (internal/downloadReport.ts).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Client from "../Client.js"
import * as Download from "../Download.js"
import { redactUrl } from "../Errors.js"
import type { DownloadFlags } from "./download.js"
import * as Input from "./internal/downloadInput.js"
import { formatDuration, makeDisplay } from "./internal/downloadProgress.js"
import { describe, failureText, report } from "./internal/downloadReport.js"
import { readLists, readText } from "./internal/downloadSources.js"
import { terminalSafe } from "./internal/terminalText.js"
import { basicAuth, resolveProxy } from "./internal/webFlags.js"

const stderr = (text: string) => Effect.sync(() => void process.stderr.write(text))
const stdout = (text: string) => Effect.sync(() => void process.stdout.write(text))

/** Reports usage errors and ends with exit code 2. */
const usage = (messages: ReadonlyArray<string>) =>
  Effect.zipRight(
    stderr(messages.map((m) => `volley download: ${terminalSafe(m)}\n`).join("")),
    Effect.sync(() => void (process.exitCode = 2))
  )

/** Runs `volley download` with the flags @effect/cli parsed. */
export const download = (flags: DownloadFlags): Effect.Effect<void> =>
    Effect.gen(function*() {
      // Flags are validated here (not by @effect/cli types) so every usage error exits with 2.
      const problems: Array<string> = []
      const positive = (name: string, n: number) => {
        if (!(Number.isSafeInteger(n) && n > 0)) problems.push(`--${name} must be a positive integer, got ${n}`)
        return Math.max(1, n)
      }
      const duration = (name: string, value: string) => {
        const ms = Input.parseDuration(value)
        if (ms === undefined) problems.push(`--${name} must be a duration like 30s or 500ms, got ${JSON.stringify(value)}`)
        return ms ?? 1
      }
      const concurrencyN = positive("concurrency", flags.concurrency)
      const perHostN = positive("per-host", flags.perHost)
      const retriesN = flags.retries >= 0 ? flags.retries : (problems.push(`--retries must be 0 or more, got ${flags.retries}`), 0)
      const connectMs = duration("connect-timeout", flags.connectTimeout)
      const idleMs = duration("idle-timeout", flags.idleTimeout)
      const deadlineMs = Option.map(flags.timeout, (t) => duration("timeout", t))
      const limitRate = Option.map(flags.limitRate, (s) => {
        const n = Input.parseSize(s)
        if (n === undefined) problems.push(`--limit-rate must be bytes per second like 500K or 2M, got ${JSON.stringify(s)}`)
        return n ?? 1
      })
      const maxBytes = Option.map(flags.maxSize, (s) => {
        const n = Input.parseSize(s)
        if (n === undefined) problems.push(`--max-size must be a size like 500M or 2GiB, got ${JSON.stringify(s)}`)
        return n ?? 0
      })
      const proxyOption = yield* Effect.either(resolveProxy(flags.proxy))
      if (proxyOption._tag === "Left") problems.push(proxyOption.left)
      if (problems.length > 0) return yield* usage(problems)

      const sources = [...flags.inputs, ...Option.toArray(flags.inputFile)]
      if (sources.length === 0) return yield* usage(["nothing to download: give URLs, -i FILE (one file per line), or - to read stdin"])
      const read = yield* Effect.either(readLists(sources))
      if (read._tag === "Left") return yield* usage([read.left])
      const list = read.right
      const lineErrors = [...list.errors]
      let sums: ReadonlyMap<string, Download.Checksum> = new Map()
      if (Option.isSome(flags.checksums)) {
        const sumsText = yield* Effect.either(readText(flags.checksums.value))
        if (sumsText._tag === "Left") return yield* usage([sumsText.left])
        const parsed = Input.parseChecksums(sumsText.right)
        sums = parsed.sums
        lineErrors.push(...parsed.errors.map((e) => `${flags.checksums.pipe(Option.getOrElse(() => ""))}:${e.line}: ${e.message}`))
      }
      let caPem: string | undefined
      if (Option.isSome(flags.ca)) {
        const pem = yield* Effect.either(readText(flags.ca.value))
        if (pem._tag === "Left") return yield* usage([pem.left])
        caPem = pem.right
      }
      if (lineErrors.length > 0) yield* stderr(lineErrors.map((e) => `${terminalSafe(e)} (skipped)\n`).join(""))
      const inputErrors = lineErrors.length > 0
      if (list.entries.length === 0) {
        return yield* usage([`no URLs in ${sources.join(", ")}`])
      }
      if (flags.insecure) {
        yield* stderr("volley download: WARNING: --insecure: TLS certificates are NOT verified; anyone on the path can read or alter these downloads\n")
      }

      const entries = list.entries
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

      const layer = Client.layer({
        connectionsPerOrigin: perHostN,
        connectTimeout: connectMs,
        idleTimeout: idleMs,
        retry: { maxAttempts: retriesN + 1 },
        ...(caPem !== undefined ? { ca: caPem } : {}),
        ...(flags.insecure ? { insecureTls: true } : {}),
        ...(proxyOption._tag === "Right" && proxyOption.right !== undefined ? { proxy: proxyOption.right } : {})
      })
      /** A failure another mirror may not have: not a local problem, not a file kept as it is. */
      const tryNext = (outcome: Download.Outcome, entry: Input.Entry, mirror: number): boolean =>
        outcome._tag === "Failure" && mirror + 1 < entry.mirrors.length &&
        outcome.error._tag !== "DestinationExists" && outcome.error._tag !== "FileSystemError"
      /**
       * Downloads `round` (entry index and which of its URLs to use); returns the failures to
       * try again with their next mirror. Indexes reported to the display are the entries'.
       */
      const runRound = (round: ReadonlyArray<{ readonly index: number; readonly mirror: number }>) =>
        Effect.map(
          Download.many(round.map((r) => itemFor(entries[r.index]!, r.mirror)), {
            dir: flags.dir,
            concurrency: concurrencyN,
            perHost: perHostN,
            force: flags.force,
            remoteTime: true,
            // Stored as served (no Accept-Encoding, nothing decoded) unless --compressed: see README.
            decompress: flags.compressed && !flags.noCompressed,
            // -u goes under each line's own header= options, which win.
            headers: basicAuth(flags.user),
            nameFrom: flags.contentDisposition ? "content-disposition" : "url",
            ...(Option.isSome(maxBytes) ? { maxBytes: maxBytes.value } : {}),
            ...(Option.isSome(deadlineMs) ? { deadline: deadlineMs.value } : {}),
            ...(Option.isSome(limitRate) ? { limitRate: limitRate.value } : {}),
            onStart: (k, url) => display.start(round[k]!.index, url),
            onProgress: (k, progress) => display.progress(round[k]!.index, progress),
            onOutcome: (outcome) => {
              const { index, mirror } = round[outcome.index]!
              const entry = entries[index]!
              const mapped: Download.Outcome = { ...outcome, index }
              if (tryNext(outcome, entry, mirror)) {
                const why = outcome._tag === "Failure" ? failureText(outcome) : ""
                return display.outcome(mapped, `mirror failed: ${why}; trying ${terminalSafe(redactUrl(entry.mirrors[mirror + 1]!))}`)
              }
              finished.push(mapped)
              display.outcome(mapped, describe(mapped))
            }
          }),
          (outcomes) => {
            const again: Array<{ readonly index: number; readonly mirror: number }> = []
            const done: Array<readonly [number, Download.Outcome]> = []
            for (const outcome of outcomes) {
              const { index, mirror } = round[outcome.index]!
              if (tryNext(outcome, entries[index]!, mirror)) again.push({ index, mirror: mirror + 1 })
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
            process.exitCode = 130
            process.once("exit", () => void (process.exitCode = 130))
          }))
        )
      )
      display.close()
      const elapsed = (yield* Clock.currentTimeMillis) - startedAt
      const { failed, lines, summary } = report(outcomes, lineErrors.length)
      yield* stdout(`${lines.join("")}${outcomes.length} file${outcomes.length === 1 ? "" : "s"}: ${summary} in ${formatDuration(elapsed)}\n`)
      process.exitCode = inputErrors ? 2 : failed > 0 ? 1 : 0
    }).pipe(
      // Logs go to stderr, and only errors: the --insecure warning above replaces the client's own.
      Effect.provide(Layer.merge(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.stringLogger)), Logger.minimumLogLevel(LogLevel.Error)))
    )
