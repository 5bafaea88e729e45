/**
 * What `volley download` reads: its positional arguments and `-i` (URLs, list files, `-` for
 * stdin) and the files its flags name (checksums, CA), with read errors worded as `fetch`'s.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as Input from "./downloadInput.js"

/** Why a file could not be read, as `fetch` says it. */
const readError = (error: unknown): string => {
  const code = (error as NodeJS.ErrnoException).code
  return code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : code ?? String(error)
}

export const readText = (source: string): Effect.Effect<string, string> =>
  Effect.try({
    try: () => fs.readFileSync(source === "-" ? 0 : source, "utf8"),
    catch: (error) => {
      const hint = readError(error) === "no such file" && /^[\w.-]+\.[a-z]{2,}(\/|$)/i.test(source) ? " (a URL needs its scheme: http:// or https://)" : ""
      return `cannot read ${source === "-" ? "<stdin>" : source}: ${readError(error)}${hint}`
    }
  })

/**
 * The positional arguments and `-i`: a URL (`scheme://`) is one entry, anything else a list
 * to read (`-`: stdin). Bad lines are named `SOURCE:LINE`.
 */
export const readLists = (sources: ReadonlyArray<string>): Effect.Effect<{ entries: Array<Input.Entry>; errors: Array<string> }, string> =>
  Effect.reduce(sources, { entries: [] as Array<Input.Entry>, errors: [] as Array<string> }, (acc, source, i) => {
    const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(source)
    return Effect.map(isUrl ? Effect.succeed(source) : readText(source), (text) => {
      const list = Input.parseList(text)
      const name = isUrl ? `argument ${i + 1}` : source === "-" ? "<stdin>" : source
      acc.entries.push(...list.entries)
      acc.errors.push(...list.errors.map((e) => (isUrl ? `${name}: ${e.message}` : `${name}:${e.line}: ${e.message}`)))
      return acc
    })
  })

