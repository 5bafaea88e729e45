/**
 * `volley download FILE --dir OUT`: downloads every file listed in FILE (`URL [MIRROR...]
 * [algo:HEX] [out=NAME] [checksum=...] [header=...] [NAME]` per line, aria2-style indented
 * option lines too) into OUT, concurrently, verified, resumable, mirrors tried in turn, each
 * file's mtime from its `Last-Modified`. This module declares the
 * flags; the work is in `downloadRun.ts`, loaded when the command runs.
 *
 * Files are stored as served (`--no-compressed`, the default, as in curl and wget);
 * `--compressed` asks for an encoded transfer and stores the decoded file, never resuming.
 *
 * Exit codes: 0 all downloaded, 1 some failed, 2 usage or input errors (a bad line is
 * reported as `FILE:LINE` and skipped, the rest still run), 130 interrupted (Ctrl-C). After
 * an interruption or a crash, the same command resumes from the `.part` files.
 *
 * `--db file:PATH|postgres://…` keeps the list and each file's outcome in a database: a rerun
 * skips the files already done, and several processes given the same list and folder share
 * it, each file downloaded by the one worker that claimed it.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import { type DurableListFlags, durableListFlagTable, durableListOptions } from "./internal/durableFlags.js"
import { type FlagTable, valueFlags } from "./internal/usage.js"
import { proxyFlag, userFlag } from "./internal/webOptions.js"

const inputs = Args.text({ name: "URL|FILE" }).pipe(
  Args.withDescription("URLs to download, or lists of them (see --input-file); `-` reads a list from stdin."),
  Args.repeated
)
const inputFile = Options.text("input-file").pipe(
  Options.withAlias("i"),
  Options.optional,
  Options.withDescription(
    "A list, one file per line: URL [MIRROR-URL...] [sha256:HEX] [out=NAME] [checksum=ALGO=HEX] [header=Name:value] [NAME]; " +
      "an indented `key=value` line adds an option to the line above (aria2 style). Mirrors are tried in turn. `-` reads stdin."
  )
)
const dir = Options.text("dir").pipe(Options.withAlias("d"), Options.withDefault("."), Options.withDescription("Folder to download into (created if missing)."))
const checksums = Options.text("checksums").pipe(
  Options.optional,
  Options.withDescription("A sha256sum-style file (`HEX  name` / `HEX *name`) matched by file name.")
)
const concurrency = Options.integer("concurrency").pipe(Options.withAlias("c"), Options.withDefault(4), Options.withDescription("Downloads at once."))
const perHost = Options.integer("per-host").pipe(Options.withDefault(2), Options.withDescription("Downloads at once per host."))
const retries = Options.integer("retries").pipe(Options.withDefault(3), Options.withDescription("Retries per download after a transient failure; each resumes."))
const connectTimeout = Options.text("connect-timeout").pipe(Options.withDefault("10s"), Options.withDescription("e.g. 10s, 500ms."))
const idleTimeout = Options.text("idle-timeout").pipe(Options.withDefault("30s"), Options.withDescription("Longest stall between body chunks."))
const timeout = Options.text("timeout").pipe(Options.optional, Options.withDescription("Deadline of one download attempt (default: none)."))
const maxSize = Options.text("max-size").pipe(Options.optional, Options.withDescription("Largest file accepted, e.g. 500M, 2GiB."))
const limitRate = Options.text("limit-rate").pipe(
  Options.optional,
  Options.withDescription("Most bytes per second per download, e.g. 500K, 2M (K/M/G are binary).")
)
const force = Options.boolean("force").pipe(Options.withDescription("Replace existing files that do not match."))
const contentDisposition = Options.boolean("content-disposition").pipe(
  Options.withDescription("Name files as the server suggests (sanitized) instead of by URL.")
)
// Off by default, as in curl and wget: the file is stored as served (a .tar.gz stays gzip),
// checksums refer to those bytes and a .part resumes with Range. (Two flags, not a negation:
// @effect/cli's boolean defaults to false when absent.)
const compressed = Options.boolean("compressed").pipe(
  Options.withDescription(
    "Ask for gzip/deflate/br and store the decoded file (checksums then refer to it); a .part is not resumed, each attempt starts over"
  )
)
const noCompressed = Options.boolean("no-compressed").pipe(
  Options.withDescription("Store files as served, no Accept-Encoding (the default; wins over --compressed)")
)
const ca = Options.text("ca").pipe(Options.optional, Options.withDescription("Extra trusted CA certificate(s), PEM file."))
const insecure = Options.boolean("insecure").pipe(Options.withDescription("Do NOT verify TLS certificates (test servers only)."))

/** The flags as @effect/cli parsed them. */
export interface DownloadFlags extends DurableListFlags {
  /** Positional: URLs, list files, `-` for stdin. */
  readonly inputs: ReadonlyArray<string>
  readonly inputFile: Option.Option<string>
  readonly dir: string
  readonly checksums: Option.Option<string>
  readonly concurrency: number
  readonly perHost: number
  readonly retries: number
  readonly connectTimeout: string
  readonly idleTimeout: string
  readonly timeout: Option.Option<string>
  readonly maxSize: Option.Option<string>
  readonly limitRate: Option.Option<string>
  readonly force: boolean
  readonly contentDisposition: boolean
  readonly ca: Option.Option<string>
  readonly insecure: boolean
  readonly proxy: Option.Option<string>
  readonly user: Option.Option<string>
  readonly compressed: boolean
  readonly noCompressed: boolean
}

/** Every flag, for checking a command line before parsing it (see internal/usage.ts). */
export const downloadFlags: FlagTable = {
  flags: {
    "--input-file": "text",
    "--dir": "text",
    "--checksums": "text",
    "--concurrency": "int",
    "--per-host": "int",
    "--retries": "int",
    "--connect-timeout": "text",
    "--idle-timeout": "text",
    "--timeout": "text",
    "--max-size": "text",
    "--limit-rate": "text",
    "--force": "switch",
    "--content-disposition": "switch",
    "--compressed": "switch",
    "--no-compressed": "switch",
    "--ca": "text",
    "--insecure": "switch",
    "--proxy": "text",
    "--user": "text",
    ...durableListFlagTable
  },
  aliases: { "-i": "--input-file", "-d": "--dir", "-c": "--concurrency", "-u": "--user" }
}

/** The flags that take a value, for reading flags after `-` (see args.ts). */
export const downloadValueFlags: ReadonlySet<string> = valueFlags(downloadFlags)

export const downloadCommand = Command.make(
  "download",
  { inputs, inputFile, dir, checksums, concurrency, perHost, retries, connectTimeout, idleTimeout, timeout, maxSize, limitRate, force, contentDisposition, compressed, noCompressed, ca, insecure, proxy: proxyFlag, user: userFlag, ...durableListOptions },
  (flags) => Effect.flatMap(Effect.promise(() => import("./downloadRun.js")), (run) => run.download(flags))
).pipe(Command.withDescription("Download the URLs listed in FILE into a folder: concurrent, checksum-verified, resumable."))
