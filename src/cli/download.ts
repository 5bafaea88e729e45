/**
 * `volley download` (placeholder: being built).
 */
import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"

export const downloadCommand = Command.make("download", {}, () => Console.error("volley download: not implemented yet"))
