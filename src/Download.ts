/**
 * Streaming, verified, resumable downloads over the shared client.
 *
 * A download streams the body into `<dest>.part` in constant memory, hashing as it goes;
 * only a verified, fsynced file is renamed to `<dest>` (atomically), so a failure never
 * leaves a partial file under the destination name. A `.part` left by a network failure,
 * Ctrl-C or `kill -9` is resumed with `Range` + `If-Range` (the validator is saved beside it
 * in `<dest>.part.meta`) when the server allows; otherwise it starts over cleanly.
 *
 * Bytes are stored as served: no `Accept-Encoding` is sent and nothing is decoded, unless
 * `decompress` asks for it (see {@link Options}).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Client } from "./Client.js"
import type { Checksum, HashAlgorithm } from "./DownloadChecksum.js"
import type { HttpError } from "./Errors.js"
import { type ChecksumMismatch, type DestinationExists, FileSystemError, type FileTooLarge } from "./internal/download/errors.js"
import * as File from "./internal/download/file.js"
import * as FileName from "./internal/download/fileName.js"
import * as Many from "./internal/download/many.js"
import * as Retry from "./Retry.js"

export {
  /**
   * The file's digest did not match the expected one; nothing is left at the destination.
   *
   * @category downloading
   * @since 0.1.0
   */
  ChecksumMismatch,
  /**
   * The destination exists and `force` is not set.
   *
   * @category downloading
   * @since 0.1.0
   */
  DestinationExists,
  /**
   * A disk operation failed (`reason`: no space, read-only, permission, ...), naming the path.
   *
   * @category downloading
   * @since 0.1.0
   */
  FileSystemError,
  /**
   * The file is larger than announced or allowed; never buffered.
   *
   * @category downloading
   * @since 0.1.0
   */
  FileTooLarge
} from "./internal/download/errors.js"
export type {
  /**
   * Why a disk operation failed.
   *
   * @category downloading
   * @since 0.1.0
   */
  FileSystemReason
} from "./internal/download/errors.js"

/**
 * Checksums: the `Checksum` and `HashAlgorithm` models and {@link parseChecksum},
 * `formatChecksum`, `algorithmForLength`, declared in `DownloadChecksum.ts`.
 *
 * @category downloading
 * @since 0.1.0
 */
export * from "./DownloadChecksum.js"

/**
 * Every way a download can fail.
 *
 * @category models
 * @since 0.1.0
 */
export type DownloadError = HttpError | ChecksumMismatch | FileTooLarge | DestinationExists | FileSystemError

/**
 * What a finished download reports.
 *
 * @category models
 * @since 0.1.0
 */
export interface DownloadResult {
  /** The URL (redacted). */
  readonly url: string
  /** The absolute path of the file. */
  readonly path: string
  /** Its size in bytes. */
  readonly size: number
  /** Its digest, computed while it streamed (or while checking an existing file). */
  readonly checksum: Checksum
  /** An expected checksum was given and matched. */
  readonly verified: boolean
  /** The destination already had the expected content: nothing was fetched. */
  readonly skipped: boolean
  /** Bytes reused from a `.part` file left by an earlier attempt. */
  readonly resumedFrom: number
  /** Body bytes received by this call. */
  readonly transferred: number
}

/**
 * One progress report.
 *
 * @category models
 * @since 0.1.0
 */
export interface Progress {
  /** The URL (redacted). */
  readonly url: string
  /** Where the file will end up. */
  readonly path: string
  /** Bytes in the file so far, resumed bytes included. */
  readonly bytes: number
  /** The full size, when the server announced it. */
  readonly total: number | undefined
  /** Bytes that were already in a `.part` file from an earlier attempt. */
  readonly resumedFrom: number
  /** Bytes per second over the last couple of seconds (0 until there is a sample). */
  readonly rate: number
  /** Milliseconds since this transfer started. */
  readonly elapsedMs: number
  /** The last report of this download: the body is complete. */
  readonly done: boolean
}

/**
 * The absolute path of `name` directly inside `dir`, or `undefined` when it would land
 * anywhere else.
 *
 * @category downloading
 * @since 0.1.0
 */
export const resolveInside = (dir: string, name: string): string | undefined => FileName.resolveInside(dir, name)

/**
 * Hands out unique names within one run: the first claim of `name` keeps it, the next get
 * `name (1)`, `name (2)`… (case-insensitively, so also unique on case-insensitive disks).
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeNameAllocator = (): { readonly claim: (name: string) => string } => FileName.makeAllocator()

/**
 * The file name a download of `url` gets when none is given: its last path segment, sanitized.
 *
 * @category downloading
 * @since 0.1.0
 */
export const nameFromUrl: (url: string) => string = FileName.fromUrl

/**
 * A file name made safe to create inside the download folder (no separators, no `..`, no
 * control, format or line-separator characters, no reserved names, never a `.part` or
 * `.part.meta` side file's name), as every name a download is given is.
 *
 * @category downloading
 * @since 0.1.0
 */
export const sanitizeName: (name: string) => string = FileName.sanitize

/**
 * Where the file name comes from when only a folder is given: the URL's last path segment
 * (default), or the server's `Content-Disposition` (falling back to the URL). Sanitized
 * either way.
 *
 * @category models
 * @since 0.1.0
 */
export type NameSource = "url" | "content-disposition"

/**
 * Options shared by {@link file} and {@link many}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * Expected digest, as a {@link Checksum} or `"sha256:hex"`, verified before the file
   * appears. A malformed string is a defect (a programming error): check untrusted input with
   * {@link parseChecksum} first.
   */
  readonly checksum?: Checksum | string | undefined
  /** Digest computed when no checksum is given (default `sha256`). */
  readonly algorithm?: HashAlgorithm | undefined
  /** Overwrite an existing destination that does not match the expected checksum. */
  readonly force?: boolean | undefined
  /** Continue a `.part` left by an earlier attempt (default true). */
  readonly resume?: boolean | undefined
  /** Largest file accepted, checked against the announced size and while streaming. */
  readonly maxBytes?: number | undefined
  /** Extra request headers (e.g. authorization). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /**
   * Deadline of one attempt. Default `"none"`: a big file legitimately takes long, and the
   * idle timeout catches a stalled transfer.
   */
  readonly deadline?: Duration.DurationInput | "none" | undefined
  /** Longest gap between body chunks (default: the client's, 30 s). */
  readonly idleTimeout?: Duration.DurationInput | "none" | undefined
  /**
   * Longest wait for the response headers (default: the idle timeout). With no deadline, a
   * server that accepts the connection and never answers must still fail, not hang.
   */
  readonly headersTimeout?: Duration.DurationInput | "none" | undefined
  /**
   * Retry policy (default: the client's). Unlike plain requests, a failure mid-body is retried
   * too, and each retry resumes where the last one stopped. `false`: one attempt.
   */
  readonly retry?: Retry.RetryOptions | false | undefined
  /** Least time between two progress reports of one download (default 100 ms). */
  readonly progressInterval?: Duration.DurationInput | undefined
  /** Most body bytes per second, per download (default: no limit). Timed on the Clock. */
  readonly limitRate?: number | undefined
  /** Give the file the server's `Last-Modified` as its modification time (curl's `--remote-time`). */
  readonly remoteTime?: boolean | undefined
  /**
   * Ask for a compressed transfer (`Accept-Encoding: gzip, deflate, br`) and store the
   * **decoded** bytes (curl's `--compressed`). Default `false`: no `Accept-Encoding` is sent
   * and the file is stored exactly as served (a `.tar.gz` stays gzip), so `checksum` and
   * `maxBytes` refer to the bytes as served and a `.part` resumes with `Range`.
   *
   * With `true`, `checksum` and `maxBytes` refer to the decoded file. A `.part` is never
   * resumed: a `Range` of an encoded body cannot continue decoded bytes, so every attempt
   * (a retry, a rerun) starts the file over; a `.part` it leaves behind is marked as decoded
   * and is not resumed by a later download without `decompress` either.
   */
  readonly decompress?: boolean | undefined
}

/**
 * Options of {@link file}: where the file goes, plus {@link Options}.
 *
 * @category models
 * @since 0.1.0
 */
export type FileOptions = Options & (
  | {
    /** The destination path. */
    readonly path: string
  }
  | {
    /** The destination folder (created if missing). */
    readonly dir: string
    /** The file name inside it (sanitized); by default from `nameFrom`. */
    readonly name?: string | undefined
    readonly nameFrom?: NameSource | undefined
  }
) & {
  /** Called with each progress report (throttled to `progressInterval`, plus one at the end). */
  readonly onProgress?: ((progress: Progress) => void) | undefined
}

/**
 * What {@link file} and {@link many} accept as a URL.
 *
 * @category models
 * @since 0.1.0
 */
export type Url = string | URL

/**
 * Downloads one URL to a file: streamed to `<dest>.part` in constant memory, hashed on the
 * way, verified against `checksum` when given, fsynced and renamed into place. Resumes a
 * `.part` from an earlier attempt. With an expected checksum, a destination that already has
 * it is a success with nothing fetched (`skipped`); any other existing destination is a
 * `DestinationExists` unless `force`.
 *
 * @category downloading
 * @since 0.1.0
 */
export const file = (url: Url, options: FileOptions): Effect.Effect<DownloadResult, DownloadError, Client> =>
  File.file(url, options)

/**
 * An event of {@link track}: a progress report, then one `Done` with the result.
 *
 * @category models
 * @since 0.1.0
 */
export type DownloadEvent =
  | { readonly _tag: "Progress"; readonly progress: Progress }
  | { readonly _tag: "Done"; readonly result: DownloadResult }

/**
 * {@link file} as a stream of events: progress reports (bytes so far, total when known,
 * rate), then `Done` with the result; a failure fails the stream. Reports are throttled to
 * `progressInterval`, so the queue between the download and a slow consumer stays small.
 *
 * @category downloading
 * @since 0.1.0
 */
export const track = (url: Url, options: FileOptions): Stream.Stream<DownloadEvent, DownloadError, Client> =>
  File.track(url, options)

/**
 * One input of {@link many}: a URL, or a URL with its own name and checksum.
 *
 * @category models
 * @since 0.1.0
 */
export type Item = Url | {
  readonly url: Url
  /** File name inside the folder (sanitized). Default: from the URL or `Content-Disposition`. */
  readonly name?: string | undefined
  readonly checksum?: Checksum | string | undefined
  /** Request headers for this URL, over `headers` of the options. */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/**
 * The outcome of one input of {@link many}: its input position and the input itself, the
 * (redacted) URL, and the result or the typed error.
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome =
  | { readonly _tag: "Success"; readonly index: number; readonly item: Item; readonly url: string; readonly value: DownloadResult }
  | { readonly _tag: "Failure"; readonly index: number; readonly item: Item; readonly url: string; readonly error: DownloadError }

/**
 * Options of {@link many}.
 *
 * @category models
 * @since 0.1.0
 */
export interface ManyOptions extends Options {
  /** The folder every file goes to (created if missing). */
  readonly dir: string
  readonly nameFrom?: NameSource | undefined
  /** Downloads in flight at once (default 4). */
  readonly concurrency?: number | undefined
  /** Downloads in flight per host (default 2). */
  readonly perHost?: number | undefined
  /** Progress of the download at `index`. */
  readonly onProgress?: ((index: number, progress: Progress) => void) | undefined
  /** Called as each download starts (after waiting for its permits). */
  readonly onStart?: ((index: number, url: string) => void) | undefined
  /** Called with each outcome as it is known (completion order). */
  readonly onOutcome?: ((outcome: Outcome) => void) | undefined
}

/**
 * Downloads many URLs into one folder with bounded concurrency (overall and per host) and one
 * outcome per input, in input order; one failure does not stop the others.
 *
 * Names: explicit and URL-derived names are assigned up front, in input order; inputs wanting
 * the same name get `name`, `name (1)`, `name (2)`… (compared case-insensitively). With
 * `nameFrom: "content-disposition"` the server's names are claimed the same way, in input
 * order, once each body is complete: the `.part` lives under the URL-derived name until then,
 * and the claim happens outside the concurrency slot, so a slow earlier download delays only
 * the later renames, never the later transfers.
 *
 * @example
 * ```ts
 * import { Console, Effect } from "effect"
 * import * as fs from "node:fs"
 * import * as os from "node:os"
 * import * as path from "node:path"
 * import { Download } from "volley"
 * import * as Testing from "volley/Testing"
 *
 * const dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-example-"))
 *
 * const program = Effect.gen(function*() {
 *   const outcomes = yield* Download.many(["https://files.test/a.txt", "https://files.test/b.txt"], {
 *     dir,
 *     concurrency: 4,
 *     onProgress: (index, p) => console.log(`#${index} ${p.bytes}/${p.total ?? "?"} bytes`),
 *     onOutcome: (o) => console.log(o._tag === "Success" ? `ok ${path.basename(o.value.path)}` : `failed ${o.url}: ${o.error.message}`)
 *   })
 *   yield* Console.log(`${outcomes.filter((o) => o._tag === "Success").length} downloaded`)
 * })
 *
 * // Here against the test kit's routes; in a program, `Client.layer()`.
 * Effect.runPromise(program.pipe(Effect.provide(Testing.layer({
 *   "/:name": (request) => Testing.text(`the file ${request.params["name"]}\n`)
 * }))))
 * // ok a.txt, ok b.txt (in completion order), then: 2 downloaded
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const many = (items: Iterable<Item>, options: ManyOptions): Effect.Effect<ReadonlyArray<Outcome>, never, Client> =>
  Many.run(items, options)
