/**
 * One download, start to finish: preflight (is the destination already there?), stage (stream
 * the body into `<dest>.part`, hashing as it goes, resuming a `.part` left by an earlier
 * attempt when the server allows), and finalize (verify, fsync, rename into place).
 *
 * The `.part` file is only ever appended to by one writer, one batch in flight, so after any
 * crash it holds a clean prefix of the body; `<dest>.part.meta` (written before any data)
 * records (a hash of) the URL and the validator (ETag or Last-Modified) that the prefix belongs to.
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { createHash, type Hash } from "node:crypto"
import * as path from "node:path"
import { Client } from "../../Client.js"
import type { Checksum, DownloadError, DownloadResult, HashAlgorithm, Progress } from "../../Download.js"
import { type HttpError, NetworkError } from "../../Errors.js"
import * as Retry from "../../Retry.js"
import type { RequestOptions, Response } from "../../Client.js"
import { mustAbort } from "../client/attempt.js"
import { type Core, coreOf } from "../client/core.js"
import * as RetryPolicy from "../policy/retry.js"
import { originOfInput } from "../url.js"
import { forEachChunk } from "../client/hotPath.js"
import { ChecksumMismatch, DestinationExists, FileTooLarge } from "./errors.js"
import * as Fs from "./fs.js"
import * as Meta from "./meta.js"
import { makeTracker, type Tracker } from "./progress.js"
import { continues, discardPart, parseContentRange, resumeState, strongEtag } from "./resume.js"
import * as FileName from "./fileName.js"
import type { PlainGet } from "../client/request.js"

/** Everything one download needs, resolved from the public options. */
export interface Plan {
  readonly request: PlainGet
  /** The URL as given (href when it parses); its hash in the `.part.meta` matches a resume. */
  readonly url: string
  readonly redactedUrl: string
  /** The final path when known up front; `undefined` when the server's `Content-Disposition` names it. */
  readonly dest: string | undefined
  /** Folder for a `Content-Disposition` name. */
  readonly dir: string
  /** `<name>.part` */
  readonly part: string
  /** Where the file will end up, as progress reports show it: the destination, or its stand-in until the server names it. */
  readonly shownPath: string
  readonly expected: Checksum | undefined
  readonly algorithm: HashAlgorithm
  readonly maxBytes: number | undefined
  readonly resume: boolean
  readonly force: boolean
  readonly requestOptions: RequestOptions
  readonly retry: Retry.RetryPolicy
  readonly progressIntervalMs: number
  readonly onProgress: ((progress: Progress) => void) | undefined
  /** Most body bytes per second (`undefined`: no limit). */
  readonly limitRate: number | undefined
  /** Give the file the server's `Last-Modified` as its modification time. */
  readonly remoteTime: boolean
  /** Ask for an encoded transfer and store the decoded bytes; a `.part` is then never resumed. */
  readonly decompress: boolean
  /**
   * Run before anything changes the `.part` (each write session, a discard) or the destination
   * (the rename): a durable batch's check that this worker still holds the item's claim, which
   * stops the download when it does not.
   */
  readonly guard?: Effect.Effect<void> | undefined
  /**
   * Asked before each write (no I/O): false once the claim may be lost by the worker's own
   * clock (its renewals stalled); the write then waits for `guard`, which renews the claim or
   * stops the download. With a `guard` only.
   */
  readonly fence?: (() => boolean) | undefined
}

/** A complete, hashed body in its `.part` file, not yet verified or renamed. */
export interface Staged {
  readonly size: number
  readonly digest: string
  /** The sanitized name from `Content-Disposition`, when the plan asked for one and the server sent it. */
  readonly suggestedName: string | undefined
  readonly resumedFrom: number
  readonly transferred: number
  /** The response's `Last-Modified`, if any. */
  readonly lastModified: string | undefined
}

export const metaPath = Meta.metaPath

const tooLarge = (plan: Plan, size: number | undefined) =>
  new FileTooLarge({ url: plan.redactedUrl, path: plan.dest ?? plan.part, limit: plan.maxBytes ?? 0, size })

/** Received bytes allowed to wait for the disk while a write is in flight. */
const maxQueuedBytes = 4 * 1024 * 1024

const isTooLarge = (exit: Exit.Exit<unknown, DownloadError>): boolean =>
  Exit.isFailure(exit) && Option.exists(Cause.failureOption(exit.cause), (e) => e instanceof FileTooLarge)

const isOk = (status: number) => status >= 200 && status < 300

/** The marker an attempt returns when the server's answer means the `.part` must be thrown away. */
const restart = Symbol("restart")

/** Ms to wait after `n` more bytes so that the bytes so far arrive no faster than `rate` per second. */
const makePace = (clock: Clock.Clock, rate: number) => {
  let start: number | undefined
  let bytes = 0
  return (n: number): number => {
    const now = clock.unsafeCurrentTimeMillis()
    start ??= now
    bytes += n
    return start + (bytes * 1000) / rate - now
  }
}

/** Requests one download has sent: all but the first are retries, taken from the host's retry budget instead of counted in it. */
interface Sent {
  count: number
}

/**
 * One request of a transfer, through the client's step below its retry (the transfer is
 * retried as a whole, so that a retry resumes): its body released with the caller's scope.
 * The transfer's requests share a count, so only the first is a new one for the retry budget.
 */
const send = (
  core: Core,
  request: PlainGet,
  options: RequestOptions,
  sent: Sent
): Effect.Effect<Response, HttpError, Scope.Scope> =>
  core.prepared(request, options, (prepared, settings, host) =>
    core.attempts({ request: prepared, settings, host, started: sent.count++, deadlineAt: undefined }, (response, body) =>
      Effect.as(Effect.addFinalizer((exit) => Effect.sync(() => body.release(mustAbort(exit)))), response)))

/**
 * One request: resume from the `.part` when possible (and `fresh` is not set), or start it
 * over. Fails with the request's error, leaving the `.part` for the next attempt.
 */
const attempt = (
  plan: Plan,
  tracker: Tracker,
  fresh: boolean,
  sent: Sent
): Effect.Effect<Staged | typeof restart, DownloadError, Client | Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* Client
    if (plan.guard !== undefined) yield* plan.guard
    yield* Fs.mkdirp(path.dirname(plan.part))
    // Decoding: a Range of an encoded body cannot continue decoded bytes, so always start over.
    const state = fresh || !plan.resume || plan.decompress ? undefined : yield* resumeState(plan.part, plan.url)
    let hash: Hash = createHash(plan.algorithm)
    // Hash the bytes already on disk while the request is under way.
    const hasher = state === undefined ? undefined : yield* Effect.forkScoped(Fs.hashFile(plan.part, hash, state.offset))
    const request = state === undefined
      ? plan.request
      : plan.request.withHeaders({ range: `bytes=${state.offset}-`, "if-range": state.validator })
    const options: RequestOptions = {
      ...plan.requestOptions,
      accept: state === undefined ? isOk : (status) => isOk(status) || status === 416
    }
    const response: Response = yield* send(coreOf(client), request, options, sent)
    const suggestedName = plan.dest === undefined ? FileName.fromContentDisposition(response.headers["content-disposition"]) : undefined
    const etag = response.headers["etag"]
    const lastModified = response.headers["last-modified"]

    let offset = 0
    let total: number | undefined
    if (response.status === 416 && state !== undefined) {
      // Nothing past our offset: complete if the server's size is exactly what we hold.
      const range = parseContentRange(response.headers["content-range"])
      if (range?.total !== state.offset || (state.meta.total !== undefined && state.meta.total !== range.total)) return restart
      yield* Fiber.join(hasher!)
      tracker.start(state.offset, state.offset, state.offset)
      tracker.finish()
      return { size: state.offset, digest: hash.digest("hex"), suggestedName, resumedFrom: state.offset, transferred: 0, lastModified }
    }
    if (response.status === 206) {
      if (state === undefined) {
        return yield* new NetworkError({ reason: "Protocol", method: "GET", url: plan.redactedUrl, code: "UNEXPECTED_206" })
      }
      const range = parseContentRange(response.headers["content-range"])
      const changed = (state.meta.etag !== undefined && etag !== undefined && etag !== state.meta.etag) ||
        (strongEtag(state.meta.etag) === undefined && lastModified !== undefined && lastModified !== state.meta.lastModified)
      if (changed || !continues(range, state, response.contentLength)) return restart
      offset = state.offset
      // A short range (`500-599/1000`) is kept, but the file is not finished at its end: see below.
      total = range.total ?? state.meta.total ?? range.end + 1
      yield* Fiber.join(hasher!)
    } else {
      // A full body: the server ignored the range or the file changed. Start clean.
      if (hasher !== undefined) {
        yield* Fiber.interrupt(hasher)
        hash = createHash(plan.algorithm)
      }
      total = response.contentLength
      if (plan.maxBytes !== undefined && total !== undefined && total > plan.maxBytes) return yield* tooLarge(plan, total)
    }
    if (plan.maxBytes !== undefined && total !== undefined && total > plan.maxBytes) return yield* tooLarge(plan, total)

    if (plan.guard !== undefined) yield* plan.guard
    const { fd, writer } = yield* Effect.acquireRelease(
      Effect.map(Fs.openForWrite(plan.part, offset === 0), (fd) => ({ fd, writer: Fs.writeBehind(fd, plan.part) })),
      // Let the write and sync in flight land before the fd is closed (and its number reused).
      ({ fd, writer }) => Effect.ignore(Effect.zipRight(writer.settled, Fs.close(fd, plan.part)))
    )
    if (offset > 0) yield* Fs.truncate(fd, offset, plan.part) // a torn tail from a crash past `stat`
    else {
      // Before any data, bound to this new .part by its inode.
      const ino = yield* Fs.inode(fd, plan.part)
      yield* Meta.write(plan.part, Meta.make(plan.url, plan.redactedUrl, { etag, lastModified, total, decoded: plan.decompress }, ino))
    }
    tracker.start(offset, offset, total)
    const limit = plan.maxBytes ?? Infinity
    // `written`: bytes handed to the writer; `received`: hashed, possibly still queued.
    let written = offset
    let received = offset
    let queued: Array<Uint8Array> = []
    const startWrite = () => {
      writer.start(queued, written)
      written = received
      queued = []
    }
    // A durable batch's claim, when its fence says it may be lost: confirmed (renewed) by the
    // guard before more bytes go to the `.part`, or the download stops here.
    const fence = plan.guard === undefined ? undefined : plan.fence
    const fenced = (): boolean => fence === undefined || fence()
    const onChunk = (chunk: Uint8Array): Effect.Effect<void, DownloadError> | undefined => {
      if (fenced()) return accept(chunk)
      return Effect.flatMap(plan.guard!, () => accept(chunk) ?? Effect.void)
    }
    const accept = (chunk: Uint8Array): Effect.Effect<void, DownloadError> | undefined => {
      if (received + chunk.length > limit) return Effect.fail(tooLarge(plan, total))
      hash.update(chunk)
      queued.push(chunk)
      received += chunk.length
      tracker.advance(chunk.length)
      if (writer.busy()) {
        // Keep receiving while the disk catches up, up to a bound; then wait for it.
        if (received - written < maxQueuedBytes) return undefined
        return Effect.map(writer.flush, startWrite)
      }
      // The common case, the disk is idle: start the next write right away (no Effect needed).
      const failed = writer.takeError()
      if (failed !== undefined) return Effect.fail(failed)
      startWrite()
      return undefined
    }
    const drain = Effect.flatMap(writer.flush, () => {
      if (queued.length === 0) return Effect.void
      startWrite()
      return writer.flush
    })
    // --limit-rate: after each chunk, wait until the bytes so far are due (Clock time); the
    // transport's bounded buffer then holds the socket back. Each wait for the next chunk is
    // bounded by the client's idle timeout; time spent waiting for the disk or for the pace is
    // not a wait for the network, so it never counts as idle.
    const pace = plan.limitRate === undefined ? undefined : makePace(yield* Effect.clock, plan.limitRate)
    const paced = pace === undefined ? onChunk : (chunk: Uint8Array) => {
      const next = onChunk(chunk)
      const ms = pace(chunk.length)
      if (ms <= 0) return next
      const wait = Effect.sleep(Duration.millis(ms))
      return next === undefined ? wait : Effect.zipRight(next, wait)
    }
    yield* forEachChunk(response, paced).pipe(
      // Cut off (network error, Ctrl-C): keep what arrived, so the resume starts after it
      // (unless the claim may be lost: then the next holder's resume starts before it).
      Effect.onExit((exit) => Exit.isFailure(exit) && !isTooLarge(exit) && fenced() ? Effect.ignore(drain) : Effect.void)
    )
    if (!fenced()) yield* plan.guard!
    yield* drain
    const position = received
    yield* writer.fsync
    if (total !== undefined && position !== total) {
      // Short (or overlong) for the size announced: never a finished file. The .part stays, so
      // a retry resumes from what did arrive (a longer one is not resumed: see resume.ts).
      return yield* new NetworkError({ reason: "Protocol", method: "GET", url: plan.redactedUrl, code: "SIZE_MISMATCH" })
    }
    tracker.finish()
    return { size: position, digest: hash.digest("hex"), suggestedName, resumedFrom: offset, transferred: position - offset, lastModified }
  })

/**
 * Streams the body into the `.part` file, retrying transient failures by the plan's policy;
 * every retry resumes from what the previous one wrote. A server answer that invalidates the
 * `.part` (changed validator, wrong range) restarts it from zero, once per attempt.
 */
export const stage = (plan: Plan): Effect.Effect<Staged, DownloadError, Client> =>
  Effect.flatMap(Effect.zip(Effect.clock, Client), ([clock, client]) => {
    const tracker = makeTracker(clock, plan.progressIntervalMs, plan.redactedUrl, plan.shownPath, plan.onProgress)
    const sent: Sent = { count: 0 }
    const once = Effect.scoped(attempt(plan, tracker, false, sent)).pipe(
      Effect.flatMap((staged) =>
        staged === restart
          ? Effect.flatMap(Effect.zipRight(plan.guard ?? Effect.void, discardPart(plan.part)), () =>
            Effect.flatMap(Effect.scoped(attempt(plan, tracker, true, sent)), (second) =>
              second === restart
                ? Effect.fail(new NetworkError({ reason: "Protocol", method: "GET", url: plan.redactedUrl, code: "RANGE_MISMATCH" }))
                : Effect.succeed(second)))
          : Effect.succeed(staged)
      )
    )
    const { hosts } = coreOf(client)
    const origin = originOfInput(plan.url)
    const allow = () => origin === undefined ? Effect.succeed(true) : RetryPolicy.allowed(hosts, hosts.state(origin))
    return RetryPolicy.retry(plan.retry, "GET", undefined, once, allow).pipe(
      Effect.tapError((error) => error instanceof FileTooLarge ? discardPart(plan.part) : Effect.void)
    )
  })

/**
 * Checks the destination before any request: with an expected checksum an identical file is
 * a success with nothing to fetch; otherwise an existing file is an error unless `force`.
 */
export const preflight = (plan: Plan, dest: string): Effect.Effect<Option.Option<DownloadResult>, DownloadError> =>
  Effect.gen(function*() {
    const stats = yield* Fs.statOrUndefined(dest)
    if (stats === undefined) return Option.none()
    if (plan.expected !== undefined && stats.isFile()) {
      const hash = createHash(plan.expected.algorithm)
      const size = yield* Fs.hashFile(dest, hash)
      const digest = hash.digest("hex")
      if (digest === plan.expected.hex) {
        // A meta with no `.part` describes nothing (left by a crash, or by an older volley that
        // dropped it after the rename): the file it was for is this one, complete.
        if ((yield* Fs.statOrUndefined(plan.part)) === undefined) yield* Effect.ignore(Fs.remove(metaPath(plan.part)))
        return Option.some({
          url: plan.redactedUrl,
          path: dest,
          size,
          checksum: { algorithm: plan.expected.algorithm, hex: digest },
          verified: true,
          skipped: true,
          resumedFrom: 0,
          transferred: 0
        })
      }
    }
    if (plan.force) return Option.none()
    return yield* new DestinationExists({ url: plan.redactedUrl, path: dest })
  })

/**
 * Verifies the staged body and moves it into place: fsync (done when staging), drop the meta,
 * publish over `dest` (own-file check, the umask's mode, atomic rename), fsync the folder. The
 * meta goes first: a crash between the two then leaves a `.part` that starts over, never a meta
 * beside a finished file (seen: a `volley download --db` worker SIGKILLed in that window).
 * A mismatch removes the `.part` and leaves the destination untouched.
 */
export const finalize = (plan: Plan, staged: Staged, dest: string): Effect.Effect<DownloadResult, DownloadError> =>
  Effect.gen(function*() {
    if (plan.guard !== undefined) yield* plan.guard
    if (plan.expected !== undefined && staged.digest !== plan.expected.hex) {
      yield* discardPart(plan.part)
      return yield* new ChecksumMismatch({
        url: plan.redactedUrl,
        path: dest,
        algorithm: plan.expected.algorithm,
        expected: plan.expected.hex,
        actual: staged.digest
      })
    }
    if (plan.dest === undefined) {
      // The name came with the response: the destination check happens now.
      const existing = yield* preflight(plan, dest)
      if (Option.isSome(existing)) {
        yield* discardPart(plan.part)
        return existing.value
      }
    }
    const time = plan.remoteTime && staged.lastModified !== undefined ? new Date(staged.lastModified) : undefined
    yield* Effect.ignore(Fs.remove(metaPath(plan.part)))
    yield* Fs.publish(plan.part, dest, { mtime: time !== undefined && !Number.isNaN(time.getTime()) ? time : undefined })
    yield* Fs.fsyncDir(path.dirname(dest))
    return {
      url: plan.redactedUrl,
      path: dest,
      size: staged.size,
      checksum: { algorithm: plan.algorithm, hex: staged.digest },
      verified: plan.expected !== undefined,
      skipped: false,
      resumedFrom: staged.resumedFrom,
      transferred: staged.transferred
    }
  })
