/**
 * From the public options to one download's plan, where a download is staged (`<name>.part`,
 * the one place the suffix is written), and the steps of a download whose destination is known.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as path from "node:path"
import { Client } from "../../Client.js"
import type { Checksum, DownloadError, DownloadResult, Options, Progress, Url } from "../../Download.js"
import { redactUrl } from "../../Errors.js"
import * as Retry from "../../Retry.js"
import { coreOf } from "../client/core.js"
import { PlainGet } from "../client/request.js"
import { millisOr } from "../duration.js"
import { hrefOf } from "../url.js"
import * as Download from "./download.js"
import { FileSystemError } from "./errors.js"
import * as FileName from "./fileName.js"
import * as Hash from "./hash.js"

/**
 * The plan of one download from its public options. `target.name` is the file name the
 * download is staged under (`<name>.part`) and shown as until its final name is known.
 */
export const resolve = (
  url: Url,
  options: Options,
  target: { readonly dest: string | undefined; readonly dir: string; readonly name: string },
  onProgress: ((progress: Progress) => void) | undefined
): Effect.Effect<Download.Plan, never, Client> =>
  Effect.map(Client, (client) => {
    const { config } = coreOf(client)
    const idleTimeoutMs = millisOr(options.idleTimeout, config.idleTimeoutMs)
    let expected: Checksum | undefined
    if (options.checksum !== undefined) {
      const parsed = typeof options.checksum === "string" ? Hash.parseChecksum(options.checksum) : options.checksum
      if (typeof parsed === "string") throw new TypeError(`volley: ${parsed}`)
      expected = { algorithm: parsed.algorithm, hex: parsed.hex.toLowerCase() }
    }
    const href = hrefOf(url)
    const decompress = options.decompress ?? false
    const plan: Download.Plan = {
      request: new PlainGet(href, options.headers),
      url: href,
      redactedUrl: redactUrl(href),
      dest: target.dest,
      dir: target.dir,
      part: partPath(target.dir, target.name),
      shownPath: target.dest ?? path.join(target.dir, target.name),
      expected,
      algorithm: expected?.algorithm ?? options.algorithm ?? "sha256",
      maxBytes: options.maxBytes,
      resume: options.resume ?? true,
      force: options.force ?? false,
      requestOptions: {
        deadline: options.deadline ?? "none",
        idleTimeout: idleTimeoutMs === undefined ? "none" : Duration.millis(idleTimeoutMs),
        headersTimeout: options.headersTimeout ?? (idleTimeoutMs === undefined ? undefined : Duration.millis(idleTimeoutMs)),
        maxBodyBytes: Number.MAX_SAFE_INTEGER, // the download enforces its own limit, with the path in the error
        // Stored as served unless asked (the client's own default is to decode).
        decompress
      },
      retry: options.retry === false ? Retry.none : Retry.policy(options.retry ?? {}, config.retry),
      progressIntervalMs: millisOr(options.progressInterval, 100) ?? 0,
      onProgress,
      limitRate: options.limitRate,
      remoteTime: options.remoteTime ?? false,
      decompress
    }
    return plan
  })

/** A download named `name` is staged in `<name>.part` (with its `.part.meta`) beside it. */
export const partSuffix = FileName.partSuffix
export const partPath = (dir: string, name: string): string => path.join(dir, name + partSuffix)

export const outside = (dir: string, name: string) =>
  new FileSystemError({ reason: "PermissionDenied", operation: "resolve", path: path.join(dir, name), code: "EOUTSIDE" })

export const inside = (dir: string, name: string): Effect.Effect<string, FileSystemError> => {
  const full = FileName.resolveInside(dir, name)
  return full === undefined ? Effect.fail(outside(dir, name)) : Effect.succeed(full)
}

/** A plan whose destination is known: preflight, stage, finalize. */
export const runKnown = (plan: Download.Plan, dest: string): Effect.Effect<DownloadResult, DownloadError, Client> =>
  Effect.flatMap(Download.preflight(plan, dest), (existing) =>
    Option.isSome(existing)
      ? Effect.succeed(existing.value)
      : Effect.flatMap(Download.stage(plan), (staged) => Download.finalize(plan, staged, dest)))
