/**
 * Line input for the CLI: a file (or `-` for stdin) read as a stream of numbered lines, in
 * constant memory whatever its size, plus a fast count of a file's meaningful lines for
 * progress totals. Shared by the subcommands that take a list of inputs.
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import { TaggedError } from "../../Errors.js"

/** One line of input, numbered from 1, without its line terminator. */
export interface Line {
  readonly number: number
  readonly text: string
}

/** The input could not be opened or read. */
export class InputError extends TaggedError("InputError")<{
  readonly source: string
  readonly detail: string
}> {
  override get message(): string {
    return `cannot read ${this.source}: ${this.detail}`
  }
}

/** How a source is named in messages: the path, or `<stdin>` for `-`. */
export const displayName = (source: string): string => (source === "-" ? "<stdin>" : source)

const describeError = (error: unknown): string => {
  const code = (error as { code?: unknown }).code
  if (code === "ENOENT") return "no such file"
  if (code === "EACCES") return "permission denied"
  if (code === "EISDIR") return "is a directory"
  return error instanceof Error ? error.message : String(error)
}

/**
 * Fails with `InputError` unless `source` is `-` or a readable regular file: checked before
 * any work starts, so a typo is a usage error and not a half-run batch. Synchronous: two
 * system calls, once, where the promise API took two thread-pool round trips (each a wake-up
 * that a loaded machine makes slow) off a one-URL run's start.
 */
export const checkReadable = (source: string): Effect.Effect<void, InputError> =>
  source === "-"
    ? Effect.void
    : Effect.try({
      try: () => {
        const stat = fs.statSync(source)
        if (stat.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" })
        fs.accessSync(source, fs.constants.R_OK)
      },
      catch: (error) => new InputError({ source: displayName(source), detail: describeError(error) })
    })

/**
 * The lines of `source` (a path, or `-` for stdin), read lazily: only what the consumer pulls
 * is read, so a file of millions of lines runs in flat memory. `\n` and `\r\n` both end a line.
 */
export const read = (source: string): Stream.Stream<Line, InputError> =>
  (source !== "-" && isRegularFile(source) ? fileChunks(source) : readable(source)).pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.mapAccum(0, (n, text): [number, Line] => [n + 1, { number: n + 1, text }])
  )

const readable = (source: string): Stream.Stream<Uint8Array, InputError> =>
  NodeStream.fromReadable<InputError, Uint8Array>(
    () => (source === "-" ? process.stdin : fs.createReadStream(source)),
    (error) => new InputError({ source: displayName(source), detail: describeError(error) }),
    { closeOnDone: source !== "-" }
  )

const isRegularFile = (source: string): boolean => {
  try {
    return fs.statSync(source).isFile()
  } catch {
    return false // the stream reports why
  }
}

const chunkBytes = 64 * 1024

/**
 * A regular file's bytes, 64 KiB per pull, read synchronously: a read from a local file
 * returns at once, where a read stream costs a thread-pool round trip per chunk (and its
 * open and close). Pipes, terminals and stdin keep the stream, which never blocks.
 */
const fileChunks = (source: string): Stream.Stream<Uint8Array, InputError> => {
  const failed = (error: unknown) => new InputError({ source: displayName(source), detail: describeError(error) })
  return Stream.flatMap(
    Stream.acquireRelease(
      Effect.try({ try: () => fs.openSync(source, "r"), catch: failed }),
      (fd) => Effect.sync(() => fs.closeSync(fd))
    ),
    (fd) =>
      Stream.repeatEffectOption(Effect.suspend(() => {
        const buffer = Buffer.allocUnsafe(chunkBytes)
        let n: number
        try {
          n = fs.readSync(fd, buffer, 0, chunkBytes, null)
        } catch (error) {
          return Effect.fail(Option.some(failed(error)))
        }
        return n === 0 ? Effect.fail(Option.none()) : Effect.succeed(buffer.subarray(0, n))
      }))
  )
}

const NEWLINE = 0x0a
const HASH = 0x23

/**
 * Counts the lines of a file that are neither blank nor `#` comments, streaming it in
 * chunks. For a progress total; `undefined` for stdin or when the file cannot be read.
 */
export const countMeaningful = (source: string): Effect.Effect<number | undefined> =>
  source === "-"
    ? Effect.succeed(undefined)
    : Effect.promise(async () => {
      try {
        let count = 0
        // Per line: have we seen its first non-blank byte yet, and was it a '#'.
        let started = false
        for await (const chunk of fs.createReadStream(source) as AsyncIterable<Buffer>) {
          for (let i = 0; i < chunk.length; i++) {
            const byte = chunk[i]!
            if (byte === NEWLINE) {
              started = false
            } else if (!started && byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) {
              started = true
              if (byte !== HASH) count++
            }
          }
        }
        return count
      } catch {
        return undefined
      }
    })
