/**
 * `volley demo`: the self-contained demo of `npm start` (examples/demo.ts): the example
 * server, a Batch fan-out, a verified Download, background jobs, a graceful drain. Loopback
 * only.
 */
import * as Command from "@effect/cli/Command"
import { program } from "../../examples/demo.js"

export const demoCommand = Command.make("demo", {}, () => program).pipe(
  Command.withDescription("Run the self-contained demo on 127.0.0.1: server, fan-out, verified download, background jobs, graceful shutdown.")
)
