/**
 * What `volley fetch --body` and `-O DIR` do with a response body: keep its first bytes for
 * the NDJSON record (JSON as a JSON value, text as a string, anything else as base64), and/or
 * stream it to a file named safely from its URL. The record field is built here as JSON text.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import type * as Client from "../../Client.js"
import * as Download from "../../Download.js"
import type { HttpError } from "../../Errors.js"
import type { FileSystemError } from "../../internal/download/errors.js"
import * as Fs from "../../internal/download/fs.js"
import { escapeJson, jsonSafe } from "./terminalText.js"

/** What the handler hands back for one response. */
export interface FetchedBody {
  readonly status: number
  readonly bytes: number
  /** `,"body":…,"bodyEncoding":…` (and `"bodyTruncated":true`), ready to splice into a record. */
  readonly bodyFields: string
  /** Where the body was saved (`-O`). */
  readonly file: string | undefined
  /** Time to first byte (and connect time) of the response, when the transport measured it. */
  readonly timing: Client.ResponseTiming | undefined
}

/** The file could not be written: reported on the item, the run goes on. */
export class SaveError extends Error {
  readonly _tag = "SaveError"
}

const jsonType = /^application\/(?:[\w.+-]*\+)?json\b|^text\/json\b/i
const textType = /^text\/|^application\/(?:[\w.+-]*\+)?xml\b|^application\/(?:javascript|x-www-form-urlencoded)\b/i
const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The record fields for a body's first bytes. */
export const bodyFields = (head: Uint8Array, truncated: boolean, contentType: string | undefined): string => {
  const cut = truncated ? `,"bodyTruncated":true` : ""
  let text: string | undefined
  try {
    text = utf8.decode(head)
  } catch {
    text = undefined // not UTF-8 (or cut inside a character): base64 below
  }
  const type = contentType ?? ""
  if (text !== undefined && !truncated && jsonType.test(type)) {
    try {
      // Re-serialized: one line whatever the server's formatting.
      return `,"body":${escapeJson(JSON.stringify(JSON.parse(text)))},"bodyEncoding":"json"${cut}`
    } catch {
      // Declared JSON but is not: kept as text.
    }
  }
  // eslint-disable-next-line no-control-regex
  if (text !== undefined && (textType.test(type) || jsonType.test(type) || (type === "" && !/[\x00-\x08\x0e-\x1f]/.test(text)))) {
    return `,"body":${jsonSafe(text)},"bodyEncoding":"text"${cut}`
  }
  return `,"body":${JSON.stringify(Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString("base64"))},"bodyEncoding":"base64"${cut}`
}

/** Collects the first `limit` bytes of a stream of chunks, counting them all. */
class Head {
  private readonly chunks: Array<Uint8Array> = []
  private kept = 0
  total = 0
  constructor(private readonly limit: number) {}
  add(chunk: Uint8Array): void {
    this.total += chunk.length
    if (this.kept >= this.limit) return
    const part = chunk.length <= this.limit - this.kept ? chunk : chunk.subarray(0, this.limit - this.kept)
    this.chunks.push(part)
    this.kept += part.length
  }
  get bytes(): Uint8Array {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)
  }
  get truncated(): boolean {
    return this.total > this.kept
  }
}

/** Nothing at `target`, not even a link (`existsSync` follows links and misses a dangling one). */
const absent = (target: string): boolean => {
  try {
    fs.lstatSync(target)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT"
  }
}

/**
 * Names files for `-O DIR`: each URL's safe name, unique within the run and never replacing a
 * file already in the folder (`name (1).ext` instead). One name per input line, kept across
 * that line's retries.
 */
export const makeNamer = (dir: string) => {
  const allocator = Download.makeNameAllocator()
  const byLine = new Map<number, string>()
  return (line: number, url: URL): string | undefined => {
    const known = byLine.get(line)
    if (known !== undefined) return known
    const wanted = Download.nameFromUrl(url.href)
    // The allocator knows this run's names; the folder may hold others (bounded: a claim never repeats).
    for (let tries = 0; tries < 10_000; tries++) {
      const full = Download.resolveInside(dir, allocator.claim(wanted))
      if (full === undefined) return undefined
      if (absent(full) && absent(`${full}.part`)) {
        byLine.set(line, full)
        return full
      }
    }
    return undefined
  }
}

/** Bodies announced at most this large are read in one piece; others are streamed and counted. */
const readWholeLimit = 64 * 1024

/**
 * The plain `handle` (no --body, no -O): reads and counts the body, as Batch's own handler
 * does, and keeps the response's timing for the record.
 */
export const countBody = (response: Client.Response): Effect.Effect<FetchedBody, HttpError> => {
  const length = response.contentLength
  const done = (bytes: number): FetchedBody => ({ status: response.status, bytes, bodyFields: "", file: undefined, timing: response.timing })
  return length !== undefined && length <= readWholeLimit
    ? Effect.map(response.bytes, (body) => done(body.length))
    : Effect.map(Stream.runFold(response.stream, 0, (n, chunk) => n + chunk.length), done)
}

/**
 * A `handle` for Batch: reads the body once, keeping its head when `limit` is set and
 * streaming it to `target()`'s file when given (written as `.part`, renamed when complete).
 */
export const readBody = (
  response: Client.Response,
  limit: number | undefined,
  target: string | undefined
): Effect.Effect<FetchedBody, HttpError | SaveError> => {
  const head = new Head(limit ?? 0)
  const contentType = response.headers["content-type"]
  const finish = (file: string | undefined): FetchedBody => ({
    status: response.status,
    bytes: head.total,
    bodyFields: limit === undefined ? "" : bodyFields(head.bytes, head.truncated, contentType),
    file,
    timing: response.timing
  })
  if (target === undefined) {
    return Effect.map(Stream.runForEach(response.stream, (chunk) => Effect.sync(() => head.add(chunk))), () => finish(undefined))
  }
  const part = `${target}.part`
  const cannot = (what: string, error: FileSystemError) => new SaveError(`cannot ${what}: ${error.code ?? error.reason}`)
  // Download's safe write path: the staging file is created exclusively and never through a
  // link (a planted `.part` is replaced), and published only as a regular file of its own.
  const write = Effect.acquireUseRelease(
    Effect.map(Fs.openForWrite(part, true), (fd) => ({ fd, writer: Fs.writeBehind(fd, part) })),
    ({ writer }) => {
      let position = 0
      const onChunk = (chunk: Uint8Array) => {
        head.add(chunk)
        return Effect.map(writer.flush, () => {
          writer.start([chunk], position)
          position += chunk.length
        })
      }
      return Effect.zipRight(Stream.runForEach(response.stream, onChunk), writer.flush)
    },
    // The write in flight lands before the fd is closed (and its number reused).
    ({ fd, writer }) => Effect.ignore(Effect.zipRight(writer.settled, Fs.close(fd, part)))
  )
  return write.pipe(
    Effect.mapError((error) => error._tag === "FileSystemError" ? cannot(`write ${part}`, error) : error),
    Effect.zipRight(Effect.mapError(Fs.publish(part, target), (error) => cannot(`save ${target}`, error))),
    Effect.map(() => finish(target)),
    Effect.onError(() => Effect.ignore(Fs.remove(part)))
  )
}
