/**
 * `npm run bench`: every benchmark, in one process run, one after the other so they do not
 * compete for the two cores. Each prints its own table of ratios. `VOLLEY_BENCH=http` (or
 * `clientSteps`, `fetchCli`, `download`, `server`) runs one of them.
 */
const suites = ["./clientSteps.js", "./startup.js", "./http.js", "./fetchCli.js", "./download.js", "./server.js"] as const

const only = process.env["VOLLEY_BENCH"]
for (const suite of suites) {
  if (only !== undefined && !suite.includes(only)) continue
  const mod = (await import(suite)) as { run: () => Promise<void> }
  await mod.run()
}
