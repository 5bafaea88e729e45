/**
 * `npm run bench`: every benchmark, in one process run, one after the other so they do not
 * compete for the two cores. Each prints its own table of ratios.
 */
const suites = ["./http.js", "./download.js", "./server.js"] as const

for (const suite of suites) {
  const only = process.env["VOLLEY_BENCH"]
  if (only !== undefined && !suite.includes(only)) continue
  try {
    const mod = (await import(suite)) as { run: () => Promise<void> }
    await mod.run()
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_MODULE_NOT_FOUND") continue
    throw error
  }
}
