/**
 * The flags that make `volley fetch` and `volley download` durable: the list and its outcomes
 * in a database, shared by every process given the same `--db`. Declared and checked here so
 * each command only spreads them in.
 */
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { databaseUrl } from "./db.js"

/** The flags both commands take. */
export const durableListOptions = {
  db: Options.text("db").pipe(
    Options.optional,
    Options.withDescription(
      "Keep the list and its outcomes in a database, file:PATH (SQLite) or postgres://user:pass@host:port/db: a rerun " +
        "resumes where a crash stopped, and several processes given the same list share it"
    )
  ),
  durable: Options.boolean("durable").pipe(
    Options.withDescription("As --db, with the database from $VOLLEY_DB (else file:.volley/volley.db)")
  ),
  batchName: Options.text("batch").pipe(
    Options.optional,
    Options.withDescription("With --db: the batch's name (default: derived from the list's content; required for stdin)")
  ),
  lease: Options.text("lease").pipe(
    Options.optional,
    Options.withDescription("With --db: how long a worker's claim lasts without renewal; a stopped worker's items are taken over after it (default 30s)")
  )
}

/** `volley fetch`'s: the shared ones and the order its records are printed in. */
export const durableOptions = {
  ...durableListOptions,
  order: Options.choice("order", ["input", "finished"]).pipe(
    Options.withDefault("input" as const),
    Options.withDescription("With --db: print records in input order (default) or as they finish")
  )
}

export interface DurableListFlags {
  readonly db: Option.Option<string>
  readonly durable: boolean
  readonly batchName: Option.Option<string>
  readonly lease: Option.Option<string>
}

export interface DurableFlags extends DurableListFlags {
  readonly order: "input" | "finished"
}

/** The flags above, for the check before parsing (usage.ts). */
export const durableListFlagTable = { "--db": "text", "--durable": "switch", "--batch": "text", "--lease": "text" } as const
export const durableFlagTable = { ...durableListFlagTable, "--order": "text" } as const

/** Whether the flags ask for a durable run. */
export const isDurable = (flags: DurableListFlags): boolean => Option.isSome(flags.db) || flags.durable

/** What the durable flags resolve to. */
export interface Durable {
  /** `--db`, else `VOLLEY_DB`, else the default SQLite file. */
  readonly url: string
  readonly lease: number
  readonly name: string | undefined
}

/**
 * Checks the durable flags, before anything is opened: the database URL (as DurableJobs
 * parses it), the lease and the name; a message for a usage error (exit 2) otherwise.
 */
export const resolveDurable = (flags: DurableListFlags, readsStdin: boolean): Effect.Effect<Durable | string> =>
  Effect.gen(function*() {
    const { parseDuration } = yield* Effect.promise(() => import("./fetchInput.js"))
    const chosen = yield* databaseUrl(flags.db)
    if (Either.isLeft(chosen)) return chosen.left
    const url = chosen.right
    const leaseFlag = Option.getOrUndefined(flags.lease)
    const lease = leaseFlag === undefined ? 30_000 : parseDuration(leaseFlag)
    if (lease === undefined) return `invalid --lease ${JSON.stringify(leaseFlag)} (e.g. 500ms, 10s, 2m)`
    const name = Option.getOrUndefined(flags.batchName)
    if (name !== undefined && name.trim() === "") return "--batch needs a name"
    if (readsStdin && name === undefined) return "reading stdin with --db needs --batch NAME (a list read once cannot be named by its content)"
    return { url, lease, name }
  })
