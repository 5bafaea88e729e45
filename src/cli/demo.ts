/**
 * `volley demo` (placeholder: being built).
 */
import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"

export const demoCommand = Command.make("demo", {}, () => Console.error("volley demo: not implemented yet"))
