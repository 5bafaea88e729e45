/**
 * The `--db` option shared by `volley serve` and `volley jobs`: a flag, else `VOLLEY_DB`, else
 * the SQLite file under the working folder. A bad URL is a usage error (exit 2) found before
 * anything is opened. The same rule picks a durable batch's database (durableFlags.ts).
 */
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"

export const dbOption = Options.text("db").pipe(
  Options.optional,
  Options.withDescription("Job database: file:PATH (SQLite) or postgres://user:pass@host:port/db (default: $VOLLEY_DB, else file:.volley/volley.db)")
)

/** The database URL `flag` (else `VOLLEY_DB`, else the default) names, checked; or why it is not one. */
export const databaseUrl = (flag: Option.Option<string>): Effect.Effect<Either.Either<string, string>> =>
  Effect.gen(function*() {
    const { defaultDatabaseUrl, parseDatabaseUrl } = yield* Effect.promise(() => import("../../server/DurableJobs.js"))
    const env = process.env["VOLLEY_DB"]
    const url = Option.getOrElse(flag, () => env !== undefined && env !== "" ? env : defaultDatabaseUrl)
    const parsed = yield* Effect.either(parseDatabaseUrl(url))
    return Either.isLeft(parsed) ? Either.left(parsed.left.message) : Either.right(url)
  })

/** The database URL to use and how to show it (password hidden), or undefined after a usage error. */
export const resolveDb = (command: string, flag: Option.Option<string>) =>
  Effect.gen(function*() {
    const url = yield* databaseUrl(flag)
    if (Either.isLeft(url)) {
      yield* Console.error(`volley ${command}: ${url.left}`)
      process.exitCode = 2
      return undefined
    }
    const { redact } = yield* Effect.promise(() => import("../../server/internal/jobDatabase.js"))
    return { url: url.right, display: redact(url.right) }
  })
