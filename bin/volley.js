#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm ci` (the package's `prepare` script).
import("../dist/src/cli/main.js").catch((error) => {
  if (error && error.code === "ERR_MODULE_NOT_FOUND") {
    process.stderr.write("volley: not built yet; run `npm run build` (npm ci does it for you)\n")
    process.exit(2)
  }
  throw error
})
