/**
 * The download bench side by side (same sizes and `VOLLEY_BENCH_DOWNLOAD_SCALE` as
 * `download.ts`): `Download.file` of one big file and `Download.many` of 32 files at
 * concurrency 8, each run from each build's own `downloadRunner.js`. References from this
 * build, in the same rounds: the hand-written undici `request` | hash | file pipeline for the
 * one file, `curl --parallel` (when installed) for the batch. Each round runs the reference,
 * then both builds back to back (which goes first swaps every round); best of
 * `VOLLEY_BENCH_ROUNDS` (default 3), peak RSS the highest seen.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { best, commandVsLibrary, type Measured, MiB, recordRss, runNode, runShell, sizes, startServer } from "../download.js"
import { type Build, scriptOf } from "./builds.js"
import { inTurn, print, type Row } from "./compareTable.js"

export const compare = async (builds: readonly [Build, Build]): Promise<void> => {
  const rounds = Math.max(1, Number(process.env["VOLLEY_BENCH_ROUNDS"] ?? "3"))
  const runners = builds.map((b) => scriptOf(b, "internal/downloadRunner.js"))
  const hasCurl = spawnSync("sh", ["-c", "command -v curl"]).status === 0
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "volley-bench-dl-"))
  const out = (name: string) => path.join(base, name)
  const clean = () => {
    for (const entry of fs.readdirSync(base)) fs.rmSync(path.join(base, entry), { recursive: true, force: true })
  }
  const server = await startServer()
  try {
    const runs = new Map<string, Array<Measured>>()
    const record = async (key: string, measure: () => Promise<Measured>) => {
      const m = await measure()
      clean()
      runs.set(key, [...(runs.get(key) ?? []), m])
    }
    const count = 32
    const oneUrl = `${server.url}/file?size=${sizes.one}`
    const manyUrl = `${server.url}/file?size=${sizes.each}`
    const many = (runner?: string) => () => {
      fs.mkdirSync(out("many"), { recursive: true })
      return runNode(["volley-many", manyUrl, out("many"), String(count), "8"], runner)
    }
    const curlMany = () => {
      fs.mkdirSync(out("many"), { recursive: true })
      const pairs = Array.from({ length: count }, (_, i) => `-o '${out(`many/c${i}.bin`)}' '${manyUrl}&i=${i}'`).join(" ")
      return runShell(`curl -s --no-progress-meter --parallel --parallel-max 8 ${pairs}`)
    }
    for (let round = 0; round < rounds; round++) {
      await record("undici", () => runNode(["undici", oneUrl, out("u.bin")]))
      for (const i of inTurn([0, 1] as const, round)) await record(`${builds[i].label} one`, () => runNode(["volley", oneUrl, out("v.bin")], runners[i]))
      if (hasCurl) await record("curl many", curlMany)
      for (const i of inTurn([0, 1] as const, round)) await record(`${builds[i].label} many`, many(runners[i]))
    }
    const get = (key: string) => best(runs.get(key)!)
    const reference = get("undici")
    const [b, c] = builds.map((build) => get(`${build.label} one`)) as [Measured, Measured]
    recordRss(b, reference, builds[0])
    recordRss(c, reference, builds[1])
    const one = `one ${sizes.one / MiB} MiB file, Download.file / undici | hash | file`
    const rows: Array<Row> = [
      { workload: `${one}, time x`, baseline: b.ms / reference.ms, current: c.ms / reference.ms },
      { workload: `${one}, CPU x`, baseline: b.cpuMs! / reference.cpuMs!, current: c.cpuMs! / reference.cpuMs! },
      { workload: `${one}, RSS x`, baseline: b.rssKiB / reference.rssKiB, current: c.rssKiB / reference.rssKiB }
    ]
    const [bm, cm] = builds.map((build) => get(`${build.label} many`)) as [Measured, Measured]
    const batch = `${count} x ${sizes.each / MiB} MiB, Download.many c=8`
    if (hasCurl) {
      const curl = get("curl many")
      rows.push(
        { workload: `${batch} / curl --parallel, time x`, baseline: bm.ms / curl.ms, current: cm.ms / curl.ms },
        { workload: `${batch} / curl --parallel, RSS x`, baseline: bm.rssKiB / curl.rssKiB, current: cm.rssKiB / curl.rssKiB }
      )
    } else {
      console.log("curl not found: the batch rows are absolute (install curl for ratios)")
      rows.push({ workload: `${batch}, wall s`, baseline: bm.ms / 1000, current: cm.ms / 1000 })
    }
    rows.push({ workload: `${batch}, CPU s`, baseline: bm.cpuMs! / 1000, current: cm.cpuMs! / 1000 })
    print(`download side by side, best of ${rounds}`, builds, rows)
    // The command against the library, each build's own (whole processes).
    for (const build of builds) await commandVsLibrary(oneUrl, sizes.one, out, clean, build)
  } finally {
    server.child.kill("SIGTERM")
    fs.rmSync(base, { recursive: true, force: true })
  }
}
