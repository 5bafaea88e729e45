/**
 * `volley serve` (placeholder: being built).
 */
import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"

export const serveCommand = Command.make("serve", {}, () => Console.error("volley serve: not implemented yet"))
