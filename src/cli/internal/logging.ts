/**
 * The command's log: one line per record on stderr, terminal-safe (records may quote a
 * server's text or a database's error). Effect's default logger, and the pretty one Node's
 * `runMain` puts in its place, write to stdout, where `volley fetch` prints its NDJSON and
 * bodies: a warning there (a lease renewal that failed) would be a line no reader can parse.
 */
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { terminalSafe } from "./terminalText.js"

/** One line per record, its control characters shown: what both of the loggers below print. */
const safeLines = Logger.stringLogger.pipe(Logger.map(terminalSafe))

/** The logger itself, so a command can replace it. */
export const stderrLogger: Logger.Logger<unknown, void> = Logger.withConsoleError(safeLines)

/** The same lines on stdout: `volley serve`'s log, as a server's log goes. */
export const stdoutLogger: Logger.Logger<unknown, void> = Logger.withConsoleLog(safeLines)

/** The default logger replaced by {@link stderrLogger}: for a program run with `disablePrettyLogger`. */
export const layer: Layer.Layer<never> = Logger.replace(Logger.defaultLogger, stderrLogger)
