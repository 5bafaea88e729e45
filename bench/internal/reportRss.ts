/**
 * Preloaded (`node --import`) into a benchmarked command: when the process exits, writes its
 * peak RSS in MiB to the file named by `VOLLEY_BENCH_RSS_FILE`. Only a process can read its
 * own peak; its parent sees nothing of it after exit.
 */
import * as fs from "node:fs"

const file = process.env["VOLLEY_BENCH_RSS_FILE"]
if (file !== undefined) {
  process.on("exit", () => fs.writeFileSync(file, String(process.resourceUsage().maxRSS / 1024)))
}
