/**
 * What `volley download` prints about its outcomes: a line per file as it completes, and the
 * per-file lines and counts of the final (or interrupted) report.
 */
import * as path from "node:path"
import * as Download from "../../Download.js"
import { redactUrl } from "../../Errors.js"
import { formatBytes } from "./downloadProgress.js"
import { terminalSafe } from "./terminalText.js"

/**
 * An outcome as reported: a download's, or one read back from a durable batch's store (whose
 * error keeps only its tag, message and path).
 */
export type Reported =
  | (Download.Outcome & { readonly _tag: "Success" })
  | {
    readonly _tag: "Failure"
    readonly index: number
    readonly item: Download.Item
    readonly url: string
    readonly error: { readonly _tag: string; readonly message: string; readonly path?: string | undefined }
  }

/** The error's message, prefixed by the URL unless it already names it. */
export const failureText = (outcome: Reported & { readonly _tag: "Failure" }): string =>
  terminalSafe(outcome.error.message.includes(outcome.url) ? outcome.error.message : `${outcome.url}: ${outcome.error.message}`)

/** The line of a file whose mirror failed, naming the URL tried next. */
export const mirrorNote = (outcome: Download.Outcome, next: string): string =>
  `mirror failed: ${outcome._tag === "Failure" ? failureText(outcome) : ""}; trying ${terminalSafe(redactUrl(next))}`

/** Relative to the working folder when inside it, absolute otherwise. */
const relative = (p: string): string => {
  const r = path.relative(process.cwd(), p)
  return r === "" || r.startsWith("..") || path.isAbsolute(r) ? p : r
}

/**
 * An existing file with no checksum to compare is kept, and a rerun (to resume after Ctrl-C)
 * must not call every finished file a failure; one that contradicts its checksum is a failure.
 */
export const isKept = (outcome: Reported): boolean => {
  if (outcome._tag !== "Failure" || outcome.error._tag !== "DestinationExists") return false
  const item = outcome.item
  return typeof item === "string" || item instanceof URL || item.checksum === undefined
}

export const describe = (outcome: Reported): string => {
  if (outcome._tag === "Failure") {
    if (isKept(outcome) && outcome.error.path !== undefined) {
      return `kept ${relative(outcome.error.path)} (already exists, no checksum to verify; --force replaces it)`
    }
    return `FAILED ${failureText(outcome)}`
  }
  const r = outcome.value
  if (r.skipped) return `ok ${relative(r.path)} (already present, ${r.checksum.algorithm} matches)`
  const resumed = r.resumedFrom > 0 ? `, resumed at ${formatBytes(r.resumedFrom)}` : ""
  return `ok ${relative(r.path)} ${formatBytes(r.size)}${resumed}${r.verified ? `, ${r.checksum.algorithm} verified` : ""}`
}

/** The per-file lines and the counts line of a (possibly partial) run. */
export const report = (outcomes: ReadonlyArray<Reported>, badLineCount: number) => {
  let ok = 0
  let skipped = 0
  let kept = 0
  let resumed = 0
  let failed = 0
  let received = 0
  const lines: Array<string> = []
  for (const outcome of outcomes) {
    if (outcome._tag === "Success") {
      const r = outcome.value
      ok++
      if (r.skipped) skipped++
      if (r.resumedFrom > 0) resumed++
      received += r.transferred
      lines.push(`ok      ${Download.formatChecksum(r.checksum)}  ${relative(r.path)}\n`)
    } else if (isKept(outcome) && outcome.error.path !== undefined) {
      kept++
      lines.push(`kept    ${relative(outcome.error.path)} (already exists)\n`)
    } else {
      failed++
      lines.push(`failed  ${failureText(outcome)}\n`)
    }
  }
  const notes = [skipped > 0 ? `${skipped} already present` : "", resumed > 0 ? `${resumed} resumed` : ""].filter((s) => s !== "")
  const keptText = kept > 0 ? `, ${kept} kept (already exist)` : ""
  const badLines = badLineCount > 0 ? `, ${badLineCount} bad line${badLineCount === 1 ? "" : "s"} skipped` : ""
  const summary = `${ok} ok${notes.length > 0 ? ` (${notes.join(", ")})` : ""}${keptText}, ${failed} failed${badLines}; ${formatBytes(received)} received`
  return { failed, lines, summary }
}

