/**
 * Each command's flags, for the checks before parsing (internal/usage.ts). They restate the
 * @effect/cli options of each command; test/cli-help.test.ts compares every table with the
 * command's own `--help all`, so a flag added to one and not the other fails there.
 */
import { downloadFlags } from "./download.js"
import { fetchFlags } from "./fetch.js"
import type { FlagTable } from "./internal/usage.js"

export const tables: Readonly<Record<string, FlagTable>> = {
  fetch: fetchFlags,
  download: downloadFlags,
  serve: {
    flags: {
      "--port": "int",
      "--host": "text",
      "--outbox": "text",
      "--drain-timeout": "int",
      "--workers": "int",
      "--db": "text",
      "--lease": "int",
      "--mail-latency": "int"
    },
    aliases: {}
  },
  "jobs list": { flags: { "--db": "text", "--queue": "text", "--state": "text", "--limit": "int", "--details": "switch" }, aliases: {} },
  "jobs retry": { flags: { "--db": "text", "--queue": "text" }, aliases: {} },
  "batch status": { flags: { "--db": "text" }, aliases: {} },
  "batch results": { flags: { "--db": "text", "--order": "text" }, aliases: {} },
  "batch retry": { flags: { "--db": "text", "--failed": "switch", "--unknown": "switch" }, aliases: {} },
  demo: { flags: {}, aliases: {} }
}

export const commandNames: ReadonlySet<string> = new Set(["fetch", "download", "serve", "jobs", "list", "retry", "batch", "status", "results", "demo"])
