/**
 * `volley demo`: the self-contained demo of `npm start` (examples/demo.ts): the example
 * server, a Batch fan-out, a verified Download, background jobs, a graceful drain. Loopback
 * only.
 */
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"

export const demoCommand = Command.make("demo", {}, () =>
  // Loaded on use: the demo pulls in the server, which would slow every other command's start.
  Effect.flatMap(Effect.promise(() => import("../../examples/demo.js")), (demo) => demo.program)).pipe(
  Command.withDescription("Run the self-contained demo on 127.0.0.1: server, fan-out, verified download, background jobs, graceful shutdown.")
)
