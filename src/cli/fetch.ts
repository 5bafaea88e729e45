/**
 * `volley fetch FILE`: run every request in a file (or `-` for stdin) through `Batch.stream`,
 * bounded and timed, printing one result per request as it completes. This module declares
 * the flags; the work is in `fetchRun.ts`, loaded when the command runs (a fast `--help`).
 *
 * Input: one URL per line, or NDJSON `{"url", "method", "headers", "body"}` lines; blank lines
 * and `#` comments are skipped. The input is streamed (never read whole), so a file of a
 * million lines runs in flat memory with results written as they complete.
 *
 * Output: NDJSON on stdout (default) or a table (`--output table`); a live progress line on
 * stderr when it is a terminal (nothing otherwise); a summary at the end, on stderr in NDJSON
 * mode and on stdout after the table (`--summary json` for a machine-readable one).
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
import * as Effect from "effect/Effect"
import { durableFlagTable, durableOptions } from "./internal/durableFlags.js"
import { type FlagTable, valueFlags } from "./internal/usage.js"
import { proxyFlag, userFlag } from "./internal/webOptions.js"

const inputs = Args.text({ name: "URL|FILE" }).pipe(
  Args.withDescription("URLs to fetch, or lists of them (one URL or NDJSON request per line); - reads stdin"),
  Args.repeated
)

const options = {
  inputFile: Options.text("input-file").pipe(
    Options.withAlias("i"),
    Options.optional,
    Options.withDescription("A list of requests: one URL per line, or NDJSON {\"url\",\"method\",\"headers\",\"body\"}; - reads stdin")
  ),
  data: Options.text("data").pipe(
    Options.withAlias("d"),
    Options.optional,
    Options.withDescription("Request body for URL lines (@FILE reads a file); POST unless -X; form content-type unless -H")
  ),
  json: Options.text("json").pipe(
    Options.optional,
    Options.withDescription("JSON request body (@FILE reads a file), with JSON content-type and accept; POST unless -X")
  ),
  verbose: Options.boolean("verbose").pipe(
    Options.withAlias("v"),
    Options.withDescription("Trace each attempt on stderr: method, URL, attempt, status or error, time")
  ),
  showQuery: Options.boolean("show-query").pipe(
    Options.withDescription("Show query values in records and the table (secret-looking names and credentials stay masked)")
  ),
  outputFile: Options.text("output-file").pipe(
    Options.optional,
    Options.withDescription("Write every response body to FILE (in completion order), as curl -o does for one URL")
  ),
  concurrency: Options.integer("concurrency").pipe(
    Options.withAlias("c"),
    Options.withDefault(16),
    Options.withDescription("Requests in flight at once")
  ),
  perHost: Options.text("per-host").pipe(
    Options.optional,
    Options.withDescription("Requests in flight at once to one host, or `adaptive`: a limit per host found from its 429/503s and latency")
  ),
  rate: Options.float("rate").pipe(Options.optional, Options.withDescription("Most request starts per second (retries included)")),
  timeout: Options.text("timeout").pipe(
    Options.optional,
    Options.withDescription("Deadline of each attempt: 500ms, 10s, 2m, or seconds (default 30s)")
  ),
  maxTime: Options.text("max-time").pipe(
    Options.optional,
    Options.withDescription("Deadline of each request as a whole: its attempts and the waits between them (default: none)")
  ),
  retries: Options.integer("retries").pipe(
    Options.withDefault(2),
    Options.withDescription("Retries of a transient failure (idempotent requests), with backoff; Retry-After is honoured")
  ),
  method: Options.text("method").pipe(
    Options.withAlias("X"),
    Options.optional,
    Options.withDescription("Method for plain URL lines (default GET, POST with -d/--json)")
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
  body: Options.boolean("body").pipe(
    Options.withDescription("Put each response body in its NDJSON record: JSON as a value, text as a string, else base64")
  ),
  bodyLimit: Options.text("body-limit").pipe(
    Options.withDefault("1M"),
    Options.withDescription("Largest body --body records whole (e.g. 64K, 1M); longer ones are cut, with \"bodyTruncated\": true")
  ),
  outputDir: Options.text("output-dir").pipe(
    Options.withAlias("O"),
    Options.optional,
    Options.withDescription("Save each body to a file in DIR, named safely from its URL as `volley download` does")
  ),
  summary: Options.choice("summary", ["text", "json"]).pipe(
    Options.withDefault("text" as const),
    Options.withDescription("The final summary as text (default) or one JSON object")
  ),
  summaryFile: Options.text("summary-file").pipe(
    Options.optional,
    Options.withDescription("Write the summary to this file instead of stderr")
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
  ),
  ...durableOptions
}

/** Every flag, for checking a command line before parsing it (see internal/usage.ts). */
export const fetchFlags: FlagTable = {
  flags: {
    "--input-file": "text",
    "--data": "text",
    "--json": "text",
    "--verbose": "switch",
    "--show-query": "switch",
    "--output-file": "text",
    "--concurrency": "int",
    "--per-host": "text",
    "--rate": "float",
    "--timeout": "text",
    "--max-time": "text",
    "--retries": "int",
    "--method": "text",
    "--header": "text",
    "--output": "text",
    "--body": "switch",
    "--body-limit": "text",
    "--output-dir": "text",
    "--summary": "text",
    "--summary-file": "text",
    "--fail-fast": "switch",
    "--proxy": "text",
    "--user": "text",
    "--compressed": "switch",
    "--no-compressed": "switch",
    ...durableFlagTable
  },
  aliases: { "-i": "--input-file", "-d": "--data", "-v": "--verbose", "-c": "--concurrency", "-X": "--method", "-H": "--header", "-o": "--output", "-O": "--output-dir", "-u": "--user" }
}

/** The flags that take a value, for reading flags after `-` (see args.ts). */
export const fetchValueFlags: ReadonlySet<string> = valueFlags(fetchFlags)

/**
 * The `fetch` subcommand.
 *
 * @since 0.1.0
 */
export const fetchCommand = Command.make("fetch", { inputs, ...options }, (flags) =>
  Effect.flatMap(Effect.promise(() => import("./fetchRun.js")), (run) => run.fetch(flags))).pipe(
    Command.withDescription(
      "Run many HTTP requests from a file (or - for stdin), bounded and timed; results as NDJSON or a table. " +
        "Exit 0: all ok, 1: some failed, 2: usage or input error (invalid lines are reported and skipped), 130: interrupted."
    )
  )
