/**
 * The `volley` command line. Each subcommand's flags live in its own module and its work in a
 * module loaded on use, so `volley --help` loads only @effect/cli and effect's core; this
 * file wires them and runs the program with Node's runtime (SIGINT/SIGTERM interrupt the
 * main fiber). Shipped as one bundled file (scripts/bundle-cli.mjs) for a fast start.
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import type { Teardown } from "@effect/platform/Runtime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { normalizeArgv, plainConsole } from "./args.js"
import { batchCommand } from "./batch.js"
import { demoCommand } from "./demo.js"
import { downloadCommand, downloadValueFlags } from "./download.js"
import { fetchCommand, fetchValueFlags } from "./fetch.js"
import { commandNames, tables } from "./flagTables.js"
import { shortHelp } from "./help.js"
import * as CliLog from "./internal/logging.js"
import * as Usage from "./internal/usage.js"
import { jobsCommand } from "./jobs.js"
import { serveCommand } from "./serve.js"

const volley = Command.make("volley", {}, () =>
  Console.log("volley: structured-concurrency HTTP for Effect. Run `volley --help` for the commands.")).pipe(
    Command.withDescription("Structured-concurrency HTTP toolkit: bounded fan-out, verified downloads, supervised servers."),
    Command.withSubcommands([fetchCommand, downloadCommand, serveCommand, jobsCommand, batchCommand, demoCommand])
  )

const cli = Command.run(volley, { name: "volley", version: "0.1.0" })

// Which signal ended the program: Ctrl-C exits 130 (the shell convention), SIGTERM exits 0
// once the graceful shutdown it asked for has completed.
let signal: "SIGINT" | "SIGTERM" | undefined
process.once("SIGINT", () => (signal ??= "SIGINT"))
process.once("SIGTERM", () => (signal ??= "SIGTERM"))

/**
 * Exit codes shared by every command: 0 ok; what the command set in `process.exitCode`
 * (1: some items failed, 2: bad input); 2 for a usage error (@effect/cli has printed it);
 * 130 after Ctrl-C; 1 for an unexpected failure.
 */
const teardown: Teardown = (exit, onExit) => {
  const requested = typeof process.exitCode === "number" ? process.exitCode : 0
  const code = Exit.isSuccess(exit) ? requested : Cause.isInterruptedOnly(exit.cause) ? (signal === "SIGINT" ? 130 : requested) : 1
  onExit(code)
  // The work is over (the client's pool is closed by now): exit as soon as the output is
  // flushed, rather than idling until every unref'd timer and closing handle is gone
  // (measured: 0.3-0.7 s after a one-URL fetch).
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)))
}

// What @effect/cli needs (files for config, paths, the terminal for prompts); the full
// NodeContext would also load the command executor and worker modules.
const platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)


/**
 * Answers what @effect/cli would answer less well: short help, the version, an unknown flag
 * (with a suggestion) or a bad number (naming its flag). `undefined`: hand over to @effect/cli.
 */
const answered = (args: ReadonlyArray<string>): { readonly out?: string; readonly error?: string } | undefined => {
  const asked = Usage.request(args, commandNames)
  if (asked._tag === "Version") return { out: "0.1.0\n" }
  if (asked._tag === "Help") return asked.all ? undefined : { out: shortHelp(asked.path) ?? shortHelp([asked.path[0] ?? ""]) ?? "" }
  const path = args[0] === "jobs" || args[0] === "batch" ? args.slice(0, 2).join(" ") : args[0] ?? ""
  const table = tables[path]
  if (table === undefined) return undefined
  const problem = Usage.check(args.slice(path.split(" ").length), table)
  return problem === undefined ? undefined : { error: `volley ${path}: ${problem}\nRun \`volley ${path} --help\` for its flags.\n` }
}

const early = answered(process.argv.slice(2))
if (early?.out !== undefined) {
  process.stdout.write(early.out)
} else if (early?.error !== undefined) {
  process.stderr.write(early.error)
  process.exitCode = 2
} else {
  // `--help all`: @effect/cli's full reference.
  const args = process.argv.filter((a, i) => !(a === "all" && (process.argv[i - 1] === "--help" || process.argv[i - 1] === "-h")))
  run(normalizeArgv(args, { fetch: fetchValueFlags, download: downloadValueFlags }))
}

function run(argv: Array<string>): void {
  cli(argv).pipe(
  Effect.catchIf(ValidationError.isValidationError, () =>
    Effect.sync(() => {
      process.exitCode = 2
    })),
  plainConsole(process, process.env),
  Effect.provide(Layer.merge(platform, CliLog.layer)),
  // Its pretty logger writes to stdout: logs go to stderr (CliLog).
  (program) => NodeRuntime.runMain(program, { teardown, disablePrettyLogger: true })
  )
}
