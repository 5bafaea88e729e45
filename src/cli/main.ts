/**
 * The `volley` command line. Each subcommand lives in its own module; this file wires them
 * and runs the program with Node's runtime (SIGINT/SIGTERM interrupt the main fiber).
 */
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as ValidationError from "@effect/cli/ValidationError"
import type { Teardown } from "@effect/platform/Runtime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { demoCommand } from "./demo.js"
import { downloadCommand } from "./download.js"
import { fetchCommand } from "./fetch.js"
import { jobsCommand } from "./jobs.js"
import { serveCommand } from "./serve.js"

const volley = Command.make("volley", {}, () =>
  Console.log("volley: structured-concurrency HTTP for Effect. Run `volley --help` for the commands.")).pipe(
    Command.withDescription("Structured-concurrency HTTP toolkit: bounded fan-out, verified downloads, supervised servers."),
    Command.withSubcommands([fetchCommand, downloadCommand, serveCommand, jobsCommand, demoCommand])
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
  if (Exit.isSuccess(exit)) return onExit(requested)
  if (Cause.isInterruptedOnly(exit.cause)) return onExit(signal === "SIGINT" ? 130 : requested)
  onExit(1)
}

cli(process.argv).pipe(
  Effect.catchIf(ValidationError.isValidationError, () =>
    Effect.sync(() => {
      process.exitCode = 2
    })),
  Effect.provide(NodeContext.layer),
  (program) => NodeRuntime.runMain(program, { teardown })
)
