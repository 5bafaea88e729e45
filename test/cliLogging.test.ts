/**
 * The command's log: on stderr, one terminal-safe line per record, never on stdout, where
 * `volley fetch` prints its NDJSON (a warning there is a line no reader can parse).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as CliLog from "../src/cli/internal/logging.js"

/** What `effect` printed through the console's log (stdout) and error (stderr). */
const capture = <A>(effect: Effect.Effect<A>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const written = { stdout: "", stderr: "" }
      const { error, log } = console
      console.log = (...args: Array<unknown>) => void (written.stdout += `${args.join(" ")}\n`)
      console.error = (...args: Array<unknown>) => void (written.stderr += `${args.join(" ")}\n`)
      return { written, restore: () => ((console.log = log), (console.error = error)) }
    }),
    ({ written }) => Effect.as(effect, written),
    ({ restore }) => Effect.sync(restore)
  )

describe("volley's command log", () => {
  it.live("a warning goes to stderr as one line with its control characters shown, nothing to stdout", () =>
    Effect.gen(function*() {
      const written = yield* capture(Effect.logWarning("durable batch: lease renewal failed \u001b[2J\nforged").pipe(Effect.provide(CliLog.layer)))
      expect(written.stdout).toBe("")
      expect(written.stderr).toContain("level=WARN")
      expect(written.stderr).toContain("lease renewal failed \\x1b[2J\\nforged")
      expect(written.stderr.trimEnd().split("\n")).toHaveLength(1)
    }))
})
