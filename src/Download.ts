/**
 * Streaming, verified, resumable downloads over the shared client.
 *
 * A download streams the body into `<dest>.part` in constant memory, hashing as it goes;
 * only a verified, fsynced file is renamed to `<dest>` (atomically), so a failure never
 * leaves a partial file under the destination name. A `.part` left by a network failure,
 * Ctrl-C or `kill -9` is resumed with `Range` + `If-Range` (the validator is saved beside it
 * in `<dest>.part.meta`) when the server allows; otherwise it starts over cleanly.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import { Client } from "./Client.js"
import { redactUrl } from "./Errors.js"
import * as internal from "./internal/download.js"
import { FileSystemError } from "./internal/downloadErrors.js"
import type { Checksum, HashAlgorithm } from "./internal/downloadHash.js"
import * as Hash from "./internal/downloadHash.js"
import type { Progress } from "./internal/downloadProgress.js"
import * as FileName from "./internal/fileName.js"
import { PlainGet } from "./internal/request.js"
import * as Retry from "./Retry.js"

export type {
  /** @since 0.1.0 */
  DownloadError,
  /** @since 0.1.0 */
  DownloadResult
} from "./internal/download.js"
export {
  /** @since 0.1.0 */
  ChecksumMismatch,
  /** @since 0.1.0 */
  DestinationExists,
  /** @since 0.1.0 */
  FileSystemError,
  /** @since 0.1.0 */
  FileTooLarge
} from "./internal/downloadErrors.js"
export type {
  /** @since 0.1.0 */
  FileSystemReason
} from "./internal/downloadErrors.js"
export type {
  /** @since 0.1.0 */
  Checksum,
  /** @since 0.1.0 */
  HashAlgorithm
} from "./internal/downloadHash.js"
export type {
  /** @since 0.1.0 */
  Progress
} from "./internal/downloadProgress.js"

/**
 * The file name a download of `url` is saved under by default: the URL path's last segment,
 * sanitized (no path separators, control characters or bidi overrides, no leading dots, no
 * device names, at most 200 bytes); `download` when nothing usable is left.
 *
 * @since 0.1.0
 */
export const fileNameFromUrl = (url: Url): string => FileName.fromUrl(url)

/**
 * Makes any suggested name safe as one file name inside a folder (the rules of
 * {@link fileNameFromUrl}).
 *
 * @since 0.1.0
 */
export const sanitizeFileName = (name: string): string => FileName.sanitize(name)

/**
 * The absolute path of `name` directly inside `dir`, or `undefined` when it would land
 * anywhere else.
 *
 * @since 0.1.0
 */
export const resolveInside = (dir: string, name: string): string | undefined => FileName.resolveInside(dir, name)

/**
 * Hands out unique names within one run: the first claim of `name` keeps it, the next get
 * `name (1)`, `name (2)`… (case-insensitively, so also unique on case-insensitive disks).
 *
 * @since 0.1.0
 */
export const makeNameAllocator = (): { readonly claim: (name: string) => string } => FileName.makeAllocator()

/**
 * A checksum as text: `sha256:9f86…`.
 *
 * @since 0.1.0
 */
export const formatChecksum = (checksum: Checksum): string => Hash.formatChecksum(checksum)

/**
 * Parses `algorithm:hex` (`sha256:9f86…`, also sha512, sha1, md5) or bare hex whose length
 * implies the algorithm. `Left` carries what is wrong.
 *
 * @since 0.1.0
 */
export const parseChecksum = (input: string): Either.Either<Checksum, string> => {
  const parsed = Hash.parseChecksum(input)
  return typeof parsed === "string" ? Either.left(parsed) : Either.right(parsed)
}

/**
 * Where the file name comes from when only a folder is given: the URL's last path segment
 * (default), or the server's `Content-Disposition` (falling back to the URL). Sanitized
 * either way.
 *
 * @since 0.1.0
 */
export type NameSource = "url" | "content-disposition"

/**
 * Options shared by {@link file} and {@link many}.
 *
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
}

/**
 * Options of {@link file}: where the file goes, plus {@link Options}.
 *
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
 * @since 0.1.0
 */
export type Url = string | URL

const hrefOf = (url: Url): string => {
  try {
    return new URL(String(url)).href
  } catch {
    return String(url)
  }
}

const ms = (input: Duration.DurationInput | undefined, fallback: number): number =>
  input === undefined ? fallback : Duration.toMillis(Duration.decode(input))

const idleMs = (input: Duration.DurationInput | "none" | undefined, fallback: number | undefined): number | undefined => {
  if (input === undefined) return fallback
  if (input === "none") return undefined
  const n = Duration.toMillis(Duration.decode(input))
  return Number.isFinite(n) && n > 0 ? n : undefined
}

const resolvePlan = (
  url: Url,
  options: Options,
  target: { readonly dest: string | undefined; readonly dir: string; readonly part: string },
  onProgress: ((progress: Progress) => void) | undefined
): Effect.Effect<internal.Plan, never, Client> =>
  Effect.map(Client, (client) => {
    const idleTimeoutMs = idleMs(options.idleTimeout, client.config.idleTimeoutMs)
    let expected: Checksum | undefined
    if (options.checksum !== undefined) {
      const parsed = typeof options.checksum === "string" ? Hash.parseChecksum(options.checksum) : options.checksum
      if (typeof parsed === "string") throw new TypeError(`volley: ${parsed}`)
      expected = { algorithm: parsed.algorithm, hex: parsed.hex.toLowerCase() }
    }
    const href = hrefOf(url)
    const plan: internal.Plan = {
      request: new PlainGet(href, options.headers),
      url: href,
      redactedUrl: redactUrl(href),
      dest: target.dest,
      dir: target.dir,
      part: target.part,
      expected,
      algorithm: expected?.algorithm ?? options.algorithm ?? "sha256",
      maxBytes: options.maxBytes,
      resume: options.resume ?? true,
      force: options.force ?? false,
      requestOptions: {
        deadline: options.deadline ?? "none",
        // The body's idle timeout is enforced by the download (one watchdog, not a timer per chunk).
        idleTimeout: "none",
        headersTimeout: options.headersTimeout ?? (idleTimeoutMs === undefined ? undefined : Duration.millis(idleTimeoutMs)),
        retry: false, // retried around the whole transfer instead, so a retry resumes
        maxBodyBytes: Number.MAX_SAFE_INTEGER // the download enforces its own limit, with the path in the error
      },
      idleTimeoutMs,
      retry: options.retry === false ? Retry.none : Retry.policy(options.retry ?? {}, client.config.retry),
      progressIntervalMs: ms(options.progressInterval, 100),
      onProgress,
      limitRate: options.limitRate,
      remoteTime: options.remoteTime ?? false
    }
    return plan
  })

/** A download named `name` is staged in `<name>.part` (with its `.part.meta`) beside it. */
const partSuffix = ".part"
const partPath = (dir: string, name: string): string => path.join(dir, name + partSuffix)

const outside = (dir: string, name: string) =>
  new FileSystemError({ reason: "PermissionDenied", operation: "resolve", path: path.join(dir, name), code: "EOUTSIDE" })

const inside = (dir: string, name: string): Effect.Effect<string, FileSystemError> => {
  const full = FileName.resolveInside(dir, name)
  return full === undefined ? Effect.fail(outside(dir, name)) : Effect.succeed(full)
}

/** A plan whose destination is known: preflight, stage, finalize. */
const runKnown = (plan: internal.Plan, dest: string): Effect.Effect<internal.DownloadResult, internal.DownloadError, Client> =>
  Effect.flatMap(internal.preflight(plan, dest), (existing) =>
    Option.isSome(existing)
      ? Effect.succeed(existing.value)
      : Effect.flatMap(internal.stage(plan), (staged) => internal.finalize(plan, staged, dest)))

/**
 * Downloads one URL to a file: streamed to `<dest>.part` in constant memory, hashed on the
 * way, verified against `checksum` when given, fsynced and renamed into place. Resumes a
 * `.part` from an earlier attempt. With an expected checksum, a destination that already has
 * it is a success with nothing fetched (`skipped`); any other existing destination is a
 * `DestinationExists` unless `force`.
 *
 * @since 0.1.0
 */
export const file = (url: Url, options: FileOptions): Effect.Effect<internal.DownloadResult, internal.DownloadError, Client> =>
  Effect.suspend(() => {
    const href = hrefOf(url)
    let dest: string | undefined
    let dir: string
    let partName: string
    if ("path" in options) {
      dest = path.resolve(options.path)
      dir = path.dirname(dest)
      partName = path.basename(dest)
    } else {
      dir = path.resolve(options.dir)
      const name = options.name !== undefined ? FileName.sanitize(options.name) : FileName.fromUrl(href)
      const full = FileName.resolveInside(dir, name)
      if (full === undefined) return Effect.fail(outside(dir, name))
      partName = name
      dest = options.name === undefined && options.nameFrom === "content-disposition" ? undefined : full
    }
    const known = dest
    const target = { dest, dir, part: partPath(dir, partName) }
    return Effect.flatMap(resolvePlan(url, options, target, options.onProgress), (plan) =>
      known !== undefined
        ? runKnown(plan, known)
        : Effect.flatMap(internal.stage(plan), (staged) =>
          Effect.flatMap(inside(dir, staged.suggestedName ?? FileName.fromUrl(href)), (dest) => internal.finalize(plan, staged, dest))))
  })

/**
 * An event of {@link track}: a progress report, then one `Done` with the result.
 *
 * @since 0.1.0
 */
export type DownloadEvent =
  | { readonly _tag: "Progress"; readonly progress: Progress }
  | { readonly _tag: "Done"; readonly result: internal.DownloadResult }

/**
 * {@link file} as a stream of events: progress reports (bytes so far, total when known,
 * rate), then `Done` with the result; a failure fails the stream. Reports are throttled to
 * `progressInterval`, so the queue between the download and a slow consumer stays small.
 *
 * @since 0.1.0
 */
export const track = (url: Url, options: FileOptions): Stream.Stream<DownloadEvent, internal.DownloadError, Client> =>
  Stream.unwrapScoped(
    Effect.gen(function*() {
      const queue = yield* Effect.acquireRelease(
        Queue.unbounded<Exit.Exit<DownloadEvent, Option.Option<internal.DownloadError>>>(),
        Queue.shutdown
      )
      const onProgress = (progress: Progress) => queue.unsafeOffer(Exit.succeed({ _tag: "Progress", progress }))
      yield* file(url, { ...options, onProgress }).pipe(
        Effect.exit,
        Effect.flatMap((exit) =>
          Exit.isSuccess(exit)
            ? Queue.offerAll(queue, [Exit.succeed({ _tag: "Done" as const, result: exit.value }), Exit.fail(Option.none())])
            : Queue.offer(queue, Exit.failCause(Cause.map(exit.cause, Option.some)))
        ),
        Effect.forkScoped
      )
      return Stream.repeatEffectOption(Effect.flatten(Queue.take(queue)))
    })
  )

/**
 * One input of {@link many}: a URL, or a URL with its own name and checksum.
 *
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
 * @since 0.1.0
 */
export type Outcome =
  | { readonly _tag: "Success"; readonly index: number; readonly item: Item; readonly url: string; readonly value: internal.DownloadResult }
  | { readonly _tag: "Failure"; readonly index: number; readonly item: Item; readonly url: string; readonly error: internal.DownloadError }

/**
 * Options of {@link many}.
 *
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

const hostOf = (href: string): string => {
  try {
    return new URL(href).host
  } catch {
    return ""
  }
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
 * @since 0.1.0
 */
export const many = (
  items: Iterable<Item>,
  options: ManyOptions
): Effect.Effect<ReadonlyArray<Outcome>, never, Client> =>
  Effect.gen(function*() {
    const dir = path.resolve(options.dir)
    const fromServer = options.nameFrom === "content-disposition"
    // One allocator for staging and final names, each claim taking its side files too: a
    // file named `x.part` must not be another download's staging file.
    const names = FileName.makeAllocator([partSuffix, internal.metaPath(partSuffix)])
    const perHost = Math.max(1, options.perHost ?? 2)
    const hosts = new Map<string, Effect.Semaphore>()
    const semaphoreFor = (host: string): Effect.Semaphore => {
      let semaphore = hosts.get(host)
      if (semaphore === undefined) {
        semaphore = Effect.unsafeMakeSemaphore(perHost)
        hosts.set(host, semaphore)
      }
      return semaphore
    }

    // Claimed before anything runs, so names follow input order.
    const prepared = Array.from(items, (item, index) => {
      const input = typeof item === "string" || item instanceof URL ? { url: item } : item
      const href = hrefOf(input.url)
      const explicit = "name" in input && input.name !== undefined ? FileName.sanitize(input.name) : undefined
      const base = explicit ?? FileName.fromUrl(href)
      const final = fromServer && explicit === undefined ? undefined : names.claim(base)
      const partName = final ?? names.claim(base)
      const checksum = "checksum" in input && input.checksum !== undefined ? input.checksum : options.checksum
      const headers = "headers" in input && input.headers !== undefined ? { ...options.headers, ...input.headers } : options.headers
      return { index, item, href, url: redactUrl(href), partName, final, checksum, headers }
    })

    /** Done: a result. Staged: complete in its `.part`, waiting for its server-given name. */
    type Step =
      | { readonly _tag: "Done"; readonly result: internal.DownloadResult }
      | { readonly _tag: "Staged"; readonly plan: internal.Plan; readonly staged: internal.Staged }

    const onProgress = options.onProgress
    const transfer = (p: (typeof prepared)[number]): Effect.Effect<Step, internal.DownloadError, Client> =>
      Effect.gen(function*() {
        const dest = p.final === undefined ? undefined : yield* inside(dir, p.final)
        const target = { dest, dir, part: partPath(dir, p.partName) }
        const plan = yield* resolvePlan(
          p.href,
          { ...options, checksum: p.checksum, headers: p.headers },
          target,
          onProgress === undefined ? undefined : (progress) => onProgress(p.index, progress)
        )
        if (dest !== undefined) return { _tag: "Done", result: yield* runKnown(plan, dest) } as const
        return { _tag: "Staged", plan, staged: yield* internal.stage(plan) } as const
      })

    const toOutcome = (p: (typeof prepared)[number], result: Either.Either<internal.DownloadResult, internal.DownloadError>): Outcome =>
      Either.isRight(result)
        ? { _tag: "Success", index: p.index, item: p.item, url: p.url, value: result.right }
        : { _tag: "Failure", index: p.index, item: p.item, url: p.url, error: result.left }

    const steps = yield* Effect.forEach(prepared, () => Deferred.make<Either.Either<Step, internal.DownloadError>>())
    const transfers = Effect.forEach(
      prepared,
      (p) =>
        semaphoreFor(hostOf(p.href)).withPermits(1)(
          Effect.zipRight(Effect.sync(() => options.onStart?.(p.index, p.url)), Effect.either(transfer(p)))
        ).pipe(
          Effect.tap((step) => {
            // Completion order for what is already final; server-named files report when renamed.
            if (Either.isLeft(step)) options.onOutcome?.(toOutcome(p, Either.left(step.left)))
            else if (step.right._tag === "Done") options.onOutcome?.(toOutcome(p, Either.right(step.right.result)))
          }),
          Effect.flatMap((step) => Deferred.succeed(steps[p.index]!, step))
        ),
      { concurrency: Math.max(1, options.concurrency ?? 4), discard: true }
    )
    // In input order: the outcome of each input, claiming server-given names as it goes.
    const outcomes = Effect.forEach(prepared, (p) =>
      Effect.gen(function*() {
        const step = yield* Deferred.await(steps[p.index]!)
        if (Either.isLeft(step)) return toOutcome(p, Either.left(step.left))
        if (step.right._tag === "Done") return toOutcome(p, Either.right(step.right.result))
        const { plan, staged } = step.right
        const name = names.claim(staged.suggestedName ?? FileName.fromUrl(p.href))
        const result = yield* Effect.either(Effect.flatMap(inside(dir, name), (dest) => internal.finalize(plan, staged, dest)))
        const outcome = toOutcome(p, result)
        options.onOutcome?.(outcome)
        return outcome
      }))
    const [, result] = yield* Effect.all([transfers, outcomes], { concurrency: 2 })
    return result
  })
