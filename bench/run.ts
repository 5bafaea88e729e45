/**
 * `npm run bench`: every benchmark, in one process run, one after the other so they do not
 * compete for the two cores. Each prints its own table of ratios. `VOLLEY_BENCH=http` (or
 * `clientSteps`, `startup`, `h2`, `fetchCli`, `download`, `server`, `jobs`, `durable`, `pushback`) runs one of them, a
 * comma-separated list several.
 *
 * `VOLLEY_BENCH_BASELINE=<git ref>` (or `npm run bench:compare -- <git ref>`) benches a second
 * build side by side instead: the ref is built in a temporary git worktree, and each suite
 * that has a side-by-side mode (`clientSteps`, `http`, `fetchCli`, `download`, `server`) runs its volley contenders
 * for both builds in the same run, alternating, and prints baseline vs current (see
 * `internal/builds.ts`, `bench/README.md`). Each ends with issues 20 and 21's targets as ratios
 * (`internal/targets.ts`).
 */
import * as Builds from "./internal/builds.js"
import * as Targets from "./internal/targets.js"

const suites = ["./clientSteps.js", "./startup.js", "./http.js", "./h2.js", "./fetchCli.js", "./download.js", "./server.js", "./jobs.js", "./durable.js", "./pushback.js"] as const

/** The side-by-side mode of each suite that has one. */
const comparisons: Partial<Record<(typeof suites)[number], string>> = {
  "./clientSteps.js": "./internal/clientStepsCompare.js",
  "./http.js": "./internal/httpCompare.js",
  "./fetchCli.js": "./internal/fetchCliCompare.js",
  "./download.js": "./internal/downloadCompare.js",
  "./server.js": "./internal/serverCompare.js"
}

// A comma-separated list runs several (`VOLLEY_BENCH=http,fetchCli`).
const only = process.env["VOLLEY_BENCH"]?.split(",").filter((name) => name !== "")
const chosen = (suite: string) => only === undefined || only.length === 0 || only.some((name) => suite.includes(name))
const flag = process.argv.indexOf("--baseline")
const baseline = flag >= 0 ? process.argv[flag + 1] : process.env["VOLLEY_BENCH_BASELINE"]
if (flag >= 0 && baseline === undefined) throw new Error("--baseline needs a git ref (or a folder with a built volley)")

if (baseline === undefined || baseline === "") {
  for (const suite of suites) {
    if (!chosen(suite)) continue
    const mod = (await import(suite)) as { run: () => Promise<void> }
    await mod.run()
  }
  Targets.print()
} else {
  const { builds, dispose } = Builds.prepare(baseline)
  // Ctrl-C still removes the temporary worktree.
  const interrupted = () => {
    dispose()
    process.exit(130)
  }
  process.once("SIGINT", interrupted)
  try {
    for (const suite of suites) {
      if (!chosen(suite)) continue
      const comparison = comparisons[suite]
      if (comparison === undefined) {
        console.log(`\n${suite.slice(2, -3)}: no side-by-side mode, skipped`)
        continue
      }
      const mod = (await import(comparison)) as { compare: (builds: readonly [Builds.Build, Builds.Build]) => Promise<void> }
      // One suite failing still leaves the others' tables and the targets.
      await mod.compare(builds).catch((error: unknown) => {
        console.error(`\n${suite.slice(2, -3)} failed:`, error)
        process.exitCode = 1
      })
    }
    Targets.print(builds)
  } finally {
    process.off("SIGINT", interrupted)
    dispose()
  }
}
