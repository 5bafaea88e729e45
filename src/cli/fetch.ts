/**
 * `volley fetch FILE`: run every request in a file (or `-` for stdin) through `Batch.stream`,
 * bounded and timed, printing one result per request as it completes.
 *
 * Input: one URL per line, or NDJSON `{"url", "method", "headers", "body"}` lines; blank lines
 * and `#` comments are skipped. The input is streamed (never read whole), so a file of a
 * million lines runs in flat memory with results written as they complete.
 *
 * Output: NDJSON on stdout (default) or a table (`--output table`); a live progress line on
 * stderr when it is a terminal (nothing otherwise); a summary at the end, on stderr in NDJSON
 * mode and on stdout after the table.
 *
 * Exit codes:
 * - 0: every request succeeded;
 * - 1: some request failed (with `--fail-fast`, the first failure stops the rest);
 * - 2: usage or input error: a bad flag, an unreadable file, or an invalid line. An invalid
 *   line is reported as `FILE:LINE: message` and skipped, the valid lines still run, and the
 *   exit code is 2 even if they all succeeded — bad input never passes silently;
 * - 130: interrupted (Ctrl-C / SIGINT): requests in flight are aborted and the partial
 *   summary is printed.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Batch from "../Batch.js"
import * as Client from "../Client.js"
import { type FetchSettings, parseLine, resolveFlags } from "./internal/fetchInput.js"
import { type FetchOutcome, ndjson, progressText, summaryText, tableHeader, tableRow } from "./internal/fetchOutput.js"
import * as Lines from "./internal/lines.js"
import * as Progress from "./internal/progress.js"
import { terminalSafe } from "./internal/terminalText.js"
import { basicAuth, proxyFlag, resolveProxy, userFlag } from "./internal/webFlags.js"

const file = Args.text({ name: "FILE" }).pipe(
  Args.withDescription(
    "Requests to run: one URL per line, or NDJSON lines {\"url\",\"method\",\"headers\",\"body\"}; - reads stdin (put flags before it)"
  )
)

const options = {
  concurrency: Options.integer("concurrency").pipe(
    Options.withAlias("c"),
    Options.withDefault(16),
    Options.withDescription("Requests in flight at once")
  ),
  perHost: Options.integer("per-host").pipe(Options.optional, Options.withDescription("Requests in flight at once to one host")),
  rate: Options.float("rate").pipe(Options.optional, Options.withDescription("Most request starts per second (retries included)")),
  timeout: Options.text("timeout").pipe(
    Options.optional,
    Options.withDescription("Deadline of each attempt: 500ms, 10s, 2m, or seconds (default 30s)")
  ),
  retries: Options.integer("retries").pipe(
    Options.withDefault(2),
    Options.withDescription("Retries of a transient failure (idempotent requests), with backoff")
  ),
  method: Options.text("method").pipe(
    Options.withAlias("X"),
    Options.withDefault("GET"),
    Options.withDescription("Method for plain URL lines")
  ),
  header: Options.text("header").pipe(
    Options.withAlias("H"),
    Options.repeated,
    Options.withDescription("\"Name: value\" header for every request (repeatable; an NDJSON line's own headers win)")
  ),
  output: Options.choice("output", ["ndjson", "table"]).pipe(
    Options.withAlias("o"),
    Options.withDefault("ndjson" as const),
    Options.withDescription("Results as NDJSON lines (default) or a human table")
  ),
  failFast: Options.boolean("fail-fast").pipe(Options.withDescription("Stop at the first failure, aborting requests in flight")),
  proxy: proxyFlag,
  user: userFlag,
  // On by default: fetch reports what a program would read (decoded bodies), and asking for
  // compression saves the bytes on the wire; curl's default is off because it writes bodies
  // verbatim, which fetch never does.
  // (Two flags, not a negation: @effect/cli's boolean defaults to false when absent.)
  compressed: Options.boolean("compressed").pipe(
    Options.withDescription("Ask for gzip/deflate/br and decode bodies (the default; accepted as in curl)")
  ),
  noCompressed: Options.boolean("no-compressed").pipe(
    Options.withDescription("Send no Accept-Encoding; bodies (and byte counts) as served")
  )
}

const usageError = (message: string): Effect.Effect<void> =>
  Effect.sync(() => {
    process.stderr.write(`volley fetch: ${message}\n`)
    process.exitCode = 2
  })

/** Makes the process exit with `code` even though the runtime's teardown asks for 0 after a signal. */
const exitWith = (code: number): void => {
  process.exitCode = code
  process.once("exit", () => {
    process.exitCode = code
  })
}

interface WebSettings {
  readonly proxy: Client.ClientOptions["proxy"]
  readonly decompress: boolean
}

const execute = (settings: FetchSettings, web: WebSettings): Effect.Effect<void> =>
  Effect.gen(function*() {
    const name = Lines.displayName(settings.source)
    const tally = Batch.tally()
    const clock = yield* Effect.clock
    const started = clock.unsafeCurrentTimeMillis()
    let endedAt: number | undefined
    const elapsed = () => (endedAt ?? clock.unsafeCurrentTimeMillis()) - started
    let invalid = 0
    let total: number | undefined
    let summaryPrinted = false
    let stdoutGone = false
    const printSummary = (interrupted: boolean) => {
      if (summaryPrinted) return
      summaryPrinted = true
      const to = settings.table && !stdoutGone ? process.stdout : process.stderr
      to.write(summaryText(tally.summary(elapsed()), invalid, interrupted))
    }

    const run = Effect.gen(function*() {
      const progress = yield* Progress.make(() => progressText({ done: tally.count(), failed: tally.failures(), invalid, total, elapsedMs: elapsed() }))
      if (progress.live) {
        yield* Effect.forkScoped(Effect.map(Lines.countMeaningful(settings.source), (n) => (total = n)))
      }
      // A reader that went away (`| head`) ends the run instead of crashing it with EPIPE.
      const stdoutClosed = yield* Deferred.make<void>()
      // The listener stays: a late write error must not crash the process either.
      process.stdout.on("error", () => {
        stdoutGone = true
        Deferred.unsafeDone(stdoutClosed, Effect.void)
      })

      const items = Stream.filterMap(Lines.read(settings.source), (line) => {
        const parsed = parseLine(line.text, line.number, settings.defaults)
        if (parsed._tag === "Item") return Option.some(parsed.item)
        if (parsed._tag === "Invalid") {
          invalid++
          progress.print(`${name}:${line.number}: ${terminalSafe(parsed.message)}\n`)
        }
        return Option.none()
      })
      let outcomes = Batch.stream(items, { ...settings.batch, toRequest: (item) => item.request })
      if (settings.failFast) outcomes = Stream.takeUntil(outcomes, (o) => Either.isLeft(o.result))
      const format: (outcome: FetchOutcome) => string = settings.table ? tableRow : ndjson
      if (settings.table) progress.print(tableHeader, process.stdout)
      const consume = outcomes.pipe(
        Stream.runForEachChunk((chunk) =>
          Effect.sync(() => {
            let text = ""
            for (const outcome of chunk) {
              tally.add(outcome)
              text += format(outcome)
            }
            if (!stdoutGone) progress.print(text, process.stdout)
          })
        )
      )
      // Raced once for the whole run (Stream.interruptWhen would fork a fiber per pull).
      yield* Effect.raceFirst(consume, Deferred.await(stdoutClosed))
      endedAt = clock.unsafeCurrentTimeMillis() // before the pool's sockets are closed
      progress.stop()
    })

    const result = yield* run.pipe(
      Effect.scoped,
      Effect.provide(Client.layer({
        connectionsPerOrigin: settings.connections,
        decompress: web.decompress,
        ...(web.proxy !== undefined ? { proxy: web.proxy } : {})
      })),
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

/**
 * The `fetch` subcommand.
 *
 * @since 0.1.0
 */
export const fetchCommand = Command.make("fetch", { FILE: file, ...options }, (config) =>
  Effect.suspend(() => {
    // -u is one more default header: an NDJSON line's own Authorization wins, as with -H.
    const auth = basicAuth(config.user).authorization
    const settings = resolveFlags(auth === undefined ? config : { ...config, header: [...config.header, `Authorization: ${auth}`] })
    if (typeof settings === "string") return usageError(settings)
    return Effect.matchEffect(resolveProxy(config.proxy), {
      onFailure: usageError,
      onSuccess: (proxy) =>
        Effect.matchEffect(Lines.checkReadable(settings.source), {
          onFailure: (error) => usageError(terminalSafe(error.message)),
          onSuccess: () => execute(settings, { proxy, decompress: !config.noCompressed })
        })
    })
  })).pipe(
    Command.withDescription(
      "Run many HTTP requests from a file (or - for stdin), bounded and timed; results as NDJSON or a table. " +
        "Exit 0: all ok, 1: some failed, 2: usage or input error (invalid lines are reported and skipped), 130: interrupted."
    )
  )
