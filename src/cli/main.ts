/**
 * The `volley` command line. Each subcommand lives in its own module; this file wires them
 * and runs the program with Node's runtime (SIGINT/SIGTERM interrupt the main fiber).
 */
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { demoCommand } from "./demo.js"
import { downloadCommand } from "./download.js"
import { fetchCommand } from "./fetch.js"
import { serveCommand } from "./serve.js"

const volley = Command.make("volley", {}, () =>
  Console.log("volley: structured-concurrency HTTP for Effect. Run `volley --help` for the commands.")).pipe(
    Command.withDescription("Structured-concurrency HTTP toolkit: bounded fan-out, verified downloads, supervised servers."),
    Command.withSubcommands([fetchCommand, downloadCommand, serveCommand, demoCommand])
  )

const cli = Command.run(volley, { name: "volley", version: "0.1.0" })

cli(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
