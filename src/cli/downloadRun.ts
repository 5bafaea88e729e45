/**
 * The work of `volley download` (flags in download.ts): read the list, download into the
 * folder with `Download.many`, report each file and the totals. Loaded on use.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Client from "../Client.js"
import * as Download from "../Download.js"
import { redactUrl } from "../Errors.js"
import type { DownloadFlags } from "./download.js"
import * as Input from "./internal/downloadInput.js"
import { formatBytes, formatDuration, makeDisplay } from "./internal/downloadProgress.js"
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

/** Why a file could not be read, as `fetch` says it. */
const readError = (error: unknown): string => {
  const code = (error as NodeJS.ErrnoException).code
  return code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : code ?? String(error)
}

const readText = (source: string): Effect.Effect<string, string> =>
  Effect.try({
    try: () => fs.readFileSync(source === "-" ? 0 : source, "utf8"),
    catch: (error) => {
      const hint = readError(error) === "no such file" && /^[\w.-]+\.[a-z]{2,}(\/|$)/i.test(source) ? " (a URL needs its scheme: http:// or https://)" : ""
      return `cannot read ${source === "-" ? "<stdin>" : source}: ${readError(error)}${hint}`
    }
  })

/**
 * The positional arguments and `-i`: a URL (`scheme://`) is one entry, anything else a list
 * to read (`-`: stdin). Bad lines are named `SOURCE:LINE`.
 */
const readLists = (sources: ReadonlyArray<string>): Effect.Effect<{ entries: Array<Input.Entry>; errors: Array<string> }, string> =>
  Effect.reduce(sources, { entries: [] as Array<Input.Entry>, errors: [] as Array<string> }, (acc, source, i) => {
    const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(source)
    return Effect.map(isUrl ? Effect.succeed(source) : readText(source), (text) => {
      const list = Input.parseList(text)
      const name = isUrl ? `argument ${i + 1}` : source === "-" ? "<stdin>" : source
      acc.entries.push(...list.entries)
      acc.errors.push(...list.errors.map((e) => (isUrl ? `${name}: ${e.message}` : `${name}:${e.line}: ${e.message}`)))
      return acc
    })
  })

/** The error's message, prefixed by the URL unless it already names it. */
const failureText = (outcome: Download.Outcome & { readonly _tag: "Failure" }): string =>
  terminalSafe(outcome.error.message.includes(outcome.url) ? outcome.error.message : `${outcome.url}: ${outcome.error.message}`)

/** Relative to the working folder when inside it, absolute otherwise. */
const relative = (p: string): string => {
  const r = path.relative(process.cwd(), p)
  return r === "" || r.startsWith("..") || path.isAbsolute(r) ? p : r
}

/**
 * An existing file with no checksum to compare is kept, and a rerun (to resume after Ctrl-C)
 * must not call every finished file a failure; one that contradicts its checksum is a failure.
 */
const isKept = (outcome: Download.Outcome): boolean => {
  if (outcome._tag !== "Failure" || outcome.error._tag !== "DestinationExists") return false
  const item = outcome.item
  return typeof item === "string" || item instanceof URL || item.checksum === undefined
}

const describe = (outcome: Download.Outcome): string => {
  if (outcome._tag === "Failure") {
    if (isKept(outcome) && outcome.error._tag === "DestinationExists") {
      return `kept ${relative(outcome.error.path)} (already exists, no checksum to verify; --force replaces it)`
    }
    return `FAILED ${failureText(outcome)}`
  }
  const r = outcome.value
  if (r.skipped) return `ok ${relative(r.path)} (already present, ${r.checksum.algorithm} matches)`
  const resumed = r.resumedFrom > 0 ? `, resumed at ${formatBytes(r.resumedFrom)}` : ""
  return `ok ${relative(r.path)} ${formatBytes(r.size)}${resumed}${r.verified ? `, ${r.checksum.algorithm} verified` : ""}`
}

/** The per-file lines and the counts line of a (possibly partial) run. */
const report = (outcomes: ReadonlyArray<Download.Outcome>, badLineCount: number) => {
  let ok = 0
  let skipped = 0
  let kept = 0
  let resumed = 0
  let failed = 0
  let received = 0
  const lines: Array<string> = []
  for (const outcome of outcomes) {
    if (outcome._tag === "Success") {
      const r = outcome.value
      ok++
      if (r.skipped) skipped++
      if (r.resumedFrom > 0) resumed++
      received += r.transferred
      lines.push(`ok      ${Download.formatChecksum(r.checksum)}  ${relative(r.path)}\n`)
    } else if (isKept(outcome) && outcome.error._tag === "DestinationExists") {
      kept++
      lines.push(`kept    ${relative(outcome.error.path)} (already exists)\n`)
    } else {
      failed++
      lines.push(`failed  ${failureText(outcome)}\n`)
    }
  }
  const notes = [skipped > 0 ? `${skipped} already present` : "", resumed > 0 ? `${resumed} resumed` : ""].filter((s) => s !== "")
  const keptText = kept > 0 ? `, ${kept} kept (already exist)` : ""
  const badLines = badLineCount > 0 ? `, ${badLineCount} bad line${badLineCount === 1 ? "" : "s"} skipped` : ""
  const summary = `${ok} ok${notes.length > 0 ? ` (${notes.join(", ")})` : ""}${keptText}, ${failed} failed${badLines}; ${formatBytes(received)} received`
  return { failed, lines, summary }
}

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
