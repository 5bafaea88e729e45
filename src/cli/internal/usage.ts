/**
 * The command line as a user types it, checked before @effect/cli parses it: an unknown flag is
 * named with the nearest known one, a number flag's bad value names the flag, and `--help`,
 * `--help all` and `--version` are answered here (short help, see help.ts). @effect/cli still
 * parses what passes, and renders the full reference for `--help all`.
 */

/** How a flag takes its value. */
export type Kind = "switch" | "text" | "int" | "float"

/** A command's flags: long name (with its dashes) to kind, and short aliases to long names. */
export interface FlagTable {
  readonly flags: Readonly<Record<string, Kind>>
  readonly aliases: Readonly<Record<string, string>>
}

/** Flags @effect/cli adds to every command. */
const builtIn: Readonly<Record<string, Kind>> = { "--help": "switch", "--version": "switch", "--wizard": "switch", "--completions": "text", "--log-level": "text" }

/** The flags that take a value (long names and aliases), for reading flags after `-` (args.ts). */
export const valueFlags = (table: FlagTable): ReadonlySet<string> =>
  new Set([
    ...Object.entries(table.flags).filter(([, kind]) => kind !== "switch").map(([name]) => name),
    ...Object.entries(table.aliases).filter(([, long]) => table.flags[long] !== "switch").map(([alias]) => alias)
  ])

/** Levenshtein distance, for suggestions. */
export const distance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = row
  }
  return previous[b.length]!
}

/** The known flag nearest to `flag`, if it is near enough to be what was meant. */
export const suggest = (flag: string, table: FlagTable): string | undefined => {
  const bare = flag.replace(/^-+/, "")
  let best: string | undefined
  let bestDistance = Infinity
  for (const name of Object.keys(table.flags)) {
    const d = distance(bare, name.slice(2))
    if (d < bestDistance) {
      best = name
      bestDistance = d
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(bare.length / 3)) ? best : undefined
}

const isInt = (value: string): boolean => /^-?\d+$/.test(value)
const isFloat = (value: string): boolean => /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(value)

/**
 * The first problem with a command's arguments (flags only: what remains is positional), or
 * `undefined`. Flags are known by `table` and @effect/cli's own; values of number flags must
 * be numbers. `--name=value` is checked as `--name value`.
 */
export const check = (args: ReadonlyArray<string>, table: FlagTable): string | undefined => {
  for (let i = 0; i < args.length; i++) {
    const token = args[i]!
    if (token === "--") return undefined
    if (token === "-" || !token.startsWith("-") || /^-\d/.test(token)) continue
    const eq = token.indexOf("=")
    const written = eq > 0 ? token.slice(0, eq) : token
    const name = table.aliases[written] ?? (written === "-h" ? "--help" : written)
    const kind = table.flags[name] ?? builtIn[name]
    if (kind === undefined) {
      const near = suggest(written, table)
      return `unknown flag '${written}'${near === undefined ? "" : ` (did you mean ${near}?)`}`
    }
    if (kind === "switch") continue
    const value = eq > 0 ? token.slice(eq + 1) : args[++i]
    if (value === undefined) return `${name} needs a value`
    if (kind === "int" && !isInt(value)) return `${name}: '${value}' is not an integer`
    if (kind === "float" && !isFloat(value)) return `${name}: '${value}' is not a number`
  }
  return undefined
}

/** What the first arguments ask for: help (short or all), the version, or a run. */
export type Request =
  | { readonly _tag: "Help"; readonly path: ReadonlyArray<string>; readonly all: boolean }
  | { readonly _tag: "Version" }
  | { readonly _tag: "Run" }

/**
 * Reads `--help` / `-h` (with `all` after it: the full reference) and `--version` anywhere
 * before `--`; `path` is the subcommand path before the flag (`["fetch"]`, `["jobs", "list"]`).
 */
export const request = (args: ReadonlyArray<string>, commands: ReadonlySet<string>): Request => {
  const end = args.indexOf("--")
  const head = end < 0 ? args : args.slice(0, end)
  const help = head.findIndex((a) => a === "--help" || a === "-h")
  const path: Array<string> = []
  for (const a of head) {
    if (!commands.has(a)) break
    path.push(a)
  }
  if (help >= 0) return { _tag: "Help", path, all: head[help + 1] === "all" }
  if (head.length === 1 && head[0] === "--version") return { _tag: "Version" }
  return { _tag: "Run" }
}
