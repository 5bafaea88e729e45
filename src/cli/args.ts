/**
 * What the command line does before and around @effect/cli: flags anywhere (even after `-`,
 * which @effect/cli would otherwise stop at), and help text that is plain on a pipe and names
 * the whole command (`$ volley fetch`, where @effect/cli prints `$ fetch`).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

/**
 * Moves a lone `-` (stdin) that stands as a subcommand's argument to the end of the command
 * line, so flags after it are read as flags: `volley fetch - -c 8` becomes
 * `volley fetch -c 8 -`. A `-` that is a flag's value (`-H -`), or anything after `--`, stays.
 *
 * `valueFlags` lists, per subcommand, the flags that take a value (`--name=value` needs no
 * listing); every other flag is a switch.
 */
export const normalizeArgv = (
  argv: ReadonlyArray<string>,
  valueFlags: Readonly<Record<string, ReadonlySet<string>>>
): Array<string> => {
  const out = argv.slice(0, 2)
  let flags: ReadonlySet<string> | undefined
  let expectValue = false
  let ended = false
  let stdin = false
  for (const token of argv.slice(2)) {
    if (flags === undefined) {
      flags = valueFlags[token]
      out.push(token)
      continue
    }
    if (ended || expectValue) {
      expectValue = false
      out.push(token)
      continue
    }
    if (token === "--") ended = true
    else if (token === "-") {
      stdin = true
      continue
    } else if (token.startsWith("-") && !token.includes("=")) expectValue = flags.has(token) || builtInValueFlags.has(token)
    out.push(token)
  }
  if (stdin) {
    if (ended) out.splice(out.indexOf("--"), 0, "-")
    else out.push("-")
  }
  return out
}

/** @effect/cli's own flags that take a value. */
const builtInValueFlags: ReadonlySet<string> = new Set(["--log-level", "--completions"])

// eslint-disable-next-line no-control-regex
const sgr = /\x1b\[[0-9;]*m/g
const usageLine = /^\$ (?!volley\b)/gm

/**
 * Whether to colour a stream: only a terminal, and never with `NO_COLOR` set to anything
 * non-empty (no-color.org) or `TERM=dumb`.
 */
export const useColour = (stream: { readonly isTTY?: boolean }, env: Readonly<Record<string, string | undefined>>): boolean =>
  stream.isTTY === true && (env["NO_COLOR"] ?? "") === "" && env["TERM"] !== "dumb"

/** Help and messages as @effect/cli renders them, made plain (no escapes) when not colouring, with `$ volley …` usage lines. */
export const helpText = (text: string, colour: boolean): string =>
  (colour ? text : text.replace(sgr, "")).replace(usageLine, "$ volley ")

const mapArgs = (args: ReadonlyArray<unknown>, colour: boolean): Array<unknown> =>
  args.map((arg) => (typeof arg === "string" ? helpText(arg, colour) : arg))

/**
 * Wraps the current Console for the program: `log` and `error` (what @effect/cli prints help
 * and usage errors with) go through {@link helpText}.
 */
export const plainConsole = (
  streams: { readonly stdout: { readonly isTTY?: boolean }; readonly stderr: { readonly isTTY?: boolean } },
  env: Readonly<Record<string, string | undefined>>
) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Console.consoleWith((current) => {
    const out = useColour(streams.stdout, env)
    const err = useColour(streams.stderr, env)
    const wrapped: Console.Console = {
      ...current,
      log: (...args) => current.log(...mapArgs(args, out)),
      error: (...args) => current.error(...mapArgs(args, err)),
      unsafe: {
        ...current.unsafe,
        log: (...args) => current.unsafe.log(...mapArgs(args, out)),
        error: (...args) => current.unsafe.error(...mapArgs(args, err))
      }
    }
    return Console.withConsole(self, wrapped)
  })
