/**
 * `volley fetch` (placeholder: being built).
 */
import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"

export const fetchCommand = Command.make("fetch", {}, () => Console.error("volley fetch: not implemented yet"))
