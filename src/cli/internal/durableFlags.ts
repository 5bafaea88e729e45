/**
 * The flags that make `volley fetch` durable: its list and outcomes in a database, shared by
 * every process given the same `--db`. Declared here so fetch.ts only spreads them in.
 */
import * as Options from "@effect/cli/Options"
import type * as Option from "effect/Option"

export const durableOptions = {
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
  ),
  order: Options.choice("order", ["input", "finished"]).pipe(
    Options.withDefault("input" as const),
    Options.withDescription("With --db: print records in input order (default) or as they finish")
  )
}

export interface DurableFlags {
  readonly db: Option.Option<string>
  readonly durable: boolean
  readonly batchName: Option.Option<string>
  readonly lease: Option.Option<string>
  readonly order: "input" | "finished"
}

/** The flags above, for the check before parsing (usage.ts). */
export const durableFlagTable = { "--db": "text", "--durable": "switch", "--batch": "text", "--lease": "text", "--order": "text" } as const
