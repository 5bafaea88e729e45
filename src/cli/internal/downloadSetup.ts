/**
 * What every `volley download` run needs before it starts, plain or `--db`: the flags checked
 * (each usage error reported, exit 2), the inputs read, the checksums file and CA read, and
 * the options and client layer the downloads run with.
 */
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Client from "../../Client.js"
import type * as Download from "../../Download.js"
import type { DownloadFlags } from "../download.js"
import * as Input from "./downloadInput.js"
import { readLists, readText } from "./downloadSources.js"
import { terminalSafe } from "./terminalText.js"
import { basicAuth, resolveProxy } from "./webFlags.js"

const stderr = (text: string) => Effect.sync(() => void process.stderr.write(text))

/** Reports usage errors and ends with exit code 2. */
export const usage = (messages: ReadonlyArray<string>): Effect.Effect<void> =>
  Effect.zipRight(
    stderr(messages.map((m) => `volley download: ${terminalSafe(m)}\n`).join("")),
    Effect.sync(() => void (process.exitCode = 2))
  )

/** The options of every download of the run (`Download.many`'s, less the callbacks). */
export type RunOptions = Omit<Download.ManyOptions, "onStart" | "onProgress" | "onOutcome">

export interface Prepared {
  /** The positional arguments and `-i`. */
  readonly sources: ReadonlyArray<string>
  readonly entries: ReadonlyArray<Input.Entry>
  /** Bad lines (of the lists and the checksums file), already reported; they make the exit code 2. */
  readonly lineErrors: ReadonlyArray<string>
  /** From `--checksums`, by file name. */
  readonly sums: ReadonlyMap<string, Download.Checksum>
  readonly options: RunOptions
  readonly layer: Layer.Layer<Client.Client>
}

/** Checks the flags and reads the inputs; `undefined` after a usage error was reported. */
export const prepare = (flags: DownloadFlags): Effect.Effect<Prepared | undefined> =>
  Effect.gen(function*() {
    // Flags are validated here (not by @effect/cli types) so every usage error exits with 2.
    const problems: Array<string> = []
    const positive = (name: string, n: number) => {
      if (!(Number.isSafeInteger(n) && n > 0)) problems.push(`--${name} must be a positive integer, got ${n}`)
      return Math.max(1, n)
    }
    const duration = (name: string, value: string) => {
      const ms = Input.parseDuration(value)
      if (ms === undefined) problems.push(`--${name} must be a duration like 30s or 500ms, got ${JSON.stringify(value)}`)
      return ms ?? 1
    }
    const concurrencyN = positive("concurrency", flags.concurrency)
    const perHostN = positive("per-host", flags.perHost)
    const retriesN = flags.retries >= 0 ? flags.retries : (problems.push(`--retries must be 0 or more, got ${flags.retries}`), 0)
    const connectMs = duration("connect-timeout", flags.connectTimeout)
    const idleMs = duration("idle-timeout", flags.idleTimeout)
    const deadlineMs = Option.map(flags.timeout, (t) => duration("timeout", t))
    const limitRate = Option.map(flags.limitRate, (s) => {
      const n = Input.parseSize(s)
      if (n === undefined) problems.push(`--limit-rate must be bytes per second like 500K or 2M, got ${JSON.stringify(s)}`)
      return n ?? 1
    })
    const maxBytes = Option.map(flags.maxSize, (s) => {
      const n = Input.parseSize(s)
      if (n === undefined) problems.push(`--max-size must be a size like 500M or 2GiB, got ${JSON.stringify(s)}`)
      return n ?? 0
    })
    const proxyOption = yield* Effect.either(resolveProxy(flags.proxy))
    if (proxyOption._tag === "Left") problems.push(proxyOption.left)
    if (problems.length > 0) return yield* Effect.as(usage(problems), undefined)

    const sources = [...flags.inputs, ...Option.toArray(flags.inputFile)]
    if (sources.length === 0) return yield* Effect.as(usage(["nothing to download: give URLs, -i FILE (one file per line), or - to read stdin"]), undefined)
    const read = yield* Effect.either(readLists(sources))
    if (read._tag === "Left") return yield* Effect.as(usage([read.left]), undefined)
    const list = read.right
    const lineErrors = [...list.errors]
    let sums: ReadonlyMap<string, Download.Checksum> = new Map()
    if (Option.isSome(flags.checksums)) {
      const sumsText = yield* Effect.either(readText(flags.checksums.value))
      if (sumsText._tag === "Left") return yield* Effect.as(usage([sumsText.left]), undefined)
      const parsed = Input.parseChecksums(sumsText.right)
      sums = parsed.sums
      lineErrors.push(...parsed.errors.map((e) => `${flags.checksums.pipe(Option.getOrElse(() => ""))}:${e.line}: ${e.message}`))
    }
    let caPem: string | undefined
    if (Option.isSome(flags.ca)) {
      const pem = yield* Effect.either(readText(flags.ca.value))
      if (pem._tag === "Left") return yield* Effect.as(usage([pem.left]), undefined)
      caPem = pem.right
    }
    if (lineErrors.length > 0) yield* stderr(lineErrors.map((e) => `${terminalSafe(e)} (skipped)\n`).join(""))
    if (list.entries.length === 0) return yield* Effect.as(usage([`no URLs in ${sources.join(", ")}`]), undefined)
    if (flags.insecure) {
      yield* stderr("volley download: WARNING: --insecure: TLS certificates are NOT verified; anyone on the path can read or alter these downloads\n")
    }

    const options: RunOptions = {
      dir: flags.dir,
      concurrency: concurrencyN,
      perHost: perHostN,
      force: flags.force,
      remoteTime: true,
      // Stored as served (no Accept-Encoding, nothing decoded) unless --compressed: see README.
      decompress: flags.compressed && !flags.noCompressed,
      // -u goes under each line's own header= options, which win.
      headers: basicAuth(flags.user),
      nameFrom: flags.contentDisposition ? "content-disposition" : "url",
      ...(Option.isSome(maxBytes) ? { maxBytes: maxBytes.value } : {}),
      ...(Option.isSome(deadlineMs) ? { deadline: deadlineMs.value } : {}),
      ...(Option.isSome(limitRate) ? { limitRate: limitRate.value } : {})
    }
    const layer = Client.layer({
      connectionsPerOrigin: perHostN,
      connectTimeout: connectMs,
      idleTimeout: idleMs,
      retry: { maxAttempts: retriesN + 1 },
      ...(caPem !== undefined ? { ca: caPem } : {}),
      ...(flags.insecure ? { insecureTls: true } : {}),
      ...(proxyOption._tag === "Right" && proxyOption.right !== undefined ? { proxy: proxyOption.right } : {})
    })
    return { sources, entries: list.entries, lineErrors, sums, options, layer }
  })

/** A failure another mirror may not have: not a local problem, not a file kept as it is. */
export const tryNext = (outcome: Download.Outcome, mirrors: ReadonlyArray<string>, mirror: number): boolean =>
  outcome._tag === "Failure" && mirror + 1 < mirrors.length &&
  outcome.error._tag !== "DestinationExists" && outcome.error._tag !== "FileSystemError"
