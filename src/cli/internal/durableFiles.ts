/**
 * The items of `volley download --db`: what is stored per file, the names every worker gives
 * them, one file's download under its claim, and the stored outcome read back for the report.
 *
 * Names are part of the stored item, allocated over the whole list in input order (as a plain
 * download allocates them), so every worker saves an item under the same name whichever
 * worker claims it and in whatever order: two items wanting one name get `name`, `name (1)`…
 * by their place in the list.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as path from "node:path"
import type { Client } from "../../Client.js"
import type * as Download from "../../Download.js"
import type { Failure, Record } from "../../DurableBatch.js"
import { redactUrl } from "../../Errors.js"
import type { Limited } from "../../internal/batch/limits.js"
import * as FileName from "../../internal/download/fileName.js"
import { formatChecksum } from "../../internal/download/hash.js"
import * as Plan from "../../internal/download/plan.js"
import type { Done } from "../../internal/durableBatch/each.js"
import { toFailure } from "../../internal/durableBatch/records.js"
import { hostOf } from "../../internal/url.js"
import type { Entry } from "./downloadInput.js"
import type { Display } from "./downloadProgress.js"
import { describe, mirrorNote, type Reported } from "./downloadReport.js"
import { type RunOptions, tryNext } from "./downloadSetup.js"

/** One file as stored: only what its list line says (flags such as `-u` apply when it runs). */
export interface StoredFile {
  /** Every URL of the line, mirrors after the first. */
  readonly urls: ReadonlyArray<string>
  /** The file name in the folder: sanitized, unique in the list. */
  readonly name: string
  /** The line's own `out=` name, as given (the key of `--checksums`). */
  readonly out?: string | undefined
  readonly checksum?: Download.Checksum | undefined
  readonly headers?: Readonly<globalThis.Record<string, string>> | undefined
}

/** A name given to a later item than the one it would have had. */
export interface Renamed {
  readonly index: number
  readonly wanted: string
  readonly name: string
  /** The earlier item holding the wanted name. */
  readonly holder: number
}

/**
 * The stored items of a list, named in input order with the rules of `Download.many`
 * (case-insensitive, a name's `.part` side files taken with it).
 */
export const storedFiles = (entries: ReadonlyArray<Entry>): { readonly files: ReadonlyArray<StoredFile>; readonly renamed: ReadonlyArray<Renamed> } => {
  const names = FileName.makeAllocator([Plan.partSuffix, Plan.partSuffix + FileName.metaSuffix])
  const holders = new Map<string, number>()
  const renamed: Array<Renamed> = []
  const files = entries.map((entry, index): StoredFile => {
    const wanted = lookupName(entry.name, entry.url)
    const name = names.claim(wanted)
    const key = wanted.toLowerCase()
    if (name !== wanted) renamed.push({ index, wanted, name, holder: holders.get(key) ?? index })
    if (!holders.has(key)) holders.set(key, index)
    return {
      urls: entry.mirrors,
      name,
      ...(entry.name !== undefined ? { out: entry.name } : {}),
      ...(entry.checksum !== undefined ? { checksum: entry.checksum } : {}),
      ...(entry.headers !== undefined ? { headers: entry.headers } : {})
    }
  })
  return { files, renamed }
}

/** The name `--checksums` knows a file by, as a plain download looks it up. */
const lookupName = (out: string | undefined, url: string): string => out !== undefined ? FileName.sanitize(out) : FileName.fromUrl(url)

/** What a worker needs to download files. */
export interface Worker {
  readonly options: RunOptions
  readonly sums: ReadonlyMap<string, Download.Checksum>
  readonly limited: Limited
  readonly display: Display
  /** This worker's outcomes as they complete, for the summary after Ctrl-C. */
  readonly finished: Array<Download.Outcome>
}

const itemOf = (sums: ReadonlyMap<string, Download.Checksum>, file: StoredFile, url: string): Exclude<Download.Item, string | URL> => ({
  url,
  name: file.name,
  checksum: file.checksum ?? sums.get(lookupName(file.out, file.urls[0]!)),
  headers: file.headers
})

/**
 * One file, its mirrors tried in turn, each download run with the claim's `guard` (checked
 * before each write session on its `.part` and before the rename) and `fence` (asked before
 * each write); what is stored of it.
 */
export const downloadFile = (w: Worker, file: StoredFile, index: number, guard: Effect.Effect<void>, fence: () => boolean): Effect.Effect<Done, never, Client> =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const dir = path.resolve(w.options.dir)
    for (let mirror = 0;; mirror++) {
      const item = itemOf(w.sums, file, file.urls[mirror]!)
      const url = redactUrl(String(item.url))
      const headers = file.headers === undefined ? w.options.headers : { ...w.options.headers, ...file.headers }
      const once = Effect.gen(function*() {
        const dest = yield* Plan.inside(dir, file.name)
        const plan = yield* Plan.resolve(item.url, { ...w.options, checksum: item.checksum, headers }, { dest, dir, name: file.name }, (p) => w.display.progress(index, p))
        return yield* Plan.runKnown({ ...plan, guard, fence }, dest)
      })
      const result = yield* w.limited(hostOf(String(item.url)), Effect.zipRight(Effect.sync(() => w.display.start(index, url)), Effect.either(once)))
      const outcome: Download.Outcome = Either.isRight(result)
        ? { _tag: "Success", index, item, url, value: result.right }
        : { _tag: "Failure", index, item, url, error: result.left }
      if (tryNext(outcome, file.urls, mirror)) {
        w.display.outcome(outcome, mirrorNote(outcome, file.urls[mirror + 1]!))
        continue
      }
      w.finished.push(outcome)
      w.display.outcome(outcome, describe(outcome))
      const now = yield* Clock.currentTimeMillis
      return doneOf(outcome, started, now, mirror + 1)
    }
  })

/** What the store keeps of a failure: the usual fields, and the URL and path it concerns. */
type StoredFailure = Failure & { readonly url?: string; readonly path?: string }

const doneOf = (outcome: Download.Outcome, started: number, now: number, attempts: number): Done => {
  const base = { status: undefined, startAt: started, durationMs: now - started, attempts }
  if (outcome._tag === "Success") {
    return { ...base, outcome: "succeeded", error: null, value: JSON.stringify(outcome.value), bytes: outcome.value.size }
  }
  const e = outcome.error
  const failure: StoredFailure = { ...toFailure(e), url: outcome.url, ...("path" in e && typeof e.path === "string" ? { path: e.path } : {}) }
  return { ...base, outcome: "failed", error: JSON.stringify(failure), value: null, bytes: 0 }
}

/** A stored record as the report shows it. */
export const reportedOf = (sums: ReadonlyMap<string, Download.Checksum>, record: Record<StoredFile, unknown>): Reported => {
  const file = record.item
  const item = itemOf(sums, file, file.urls[0]!)
  if (Either.isRight(record.result)) {
    const value = record.result.right as Download.DownloadResult
    return { _tag: "Success", index: record.index, item, url: value.url, value }
  }
  const failure = record.result.left as StoredFailure
  const url = failure.url ?? redactUrl(file.urls[0]!)
  return { _tag: "Failure", index: record.index, item, url, error: { _tag: failure._tag, message: failure.message, path: failure.path } }
}

/** Whether a stored item is a file of `volley download --db` (not a `volley fetch --db` line). */
export const isStoredFile = (item: unknown): item is StoredFile =>
  typeof item === "object" && item !== null && !Array.isArray(item) && Array.isArray((item as StoredFile).urls)

/**
 * A stored file's record as one NDJSON line (`volley batch results`): its place in the list,
 * the URL, and the file (path, size, checksum and whether it was verified) or the error.
 */
export const fileRecordJson = (record: Record<StoredFile, unknown>): string => {
  const common = { item: record.index + 1, name: record.item.name }
  const timing = { ms: Math.round(record.durationMs * 100) / 100, attempts: record.attempts, worker: record.worker }
  if (Either.isRight(record.result)) {
    const r = record.result.right as Download.DownloadResult
    return JSON.stringify({
      ...common,
      url: r.url,
      ok: true,
      path: r.path,
      size: r.size,
      checksum: formatChecksum(r.checksum),
      verified: r.verified,
      skipped: r.skipped,
      resumedFrom: r.resumedFrom,
      transferred: r.transferred,
      ...timing
    }) + "\n"
  }
  const f = record.result.left as StoredFailure
  return JSON.stringify({
    ...common,
    url: f.url ?? redactUrl(record.item.urls[0]!),
    ok: false,
    error: f._tag,
    ...(f.reason !== undefined ? { reason: f.reason } : {}),
    message: f.message,
    ...(f.path !== undefined ? { path: f.path } : {}),
    ...timing
  }) + "\n"
}
