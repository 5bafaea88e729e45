/**
 * The server bench's throughput part side by side: `GET /health` and `POST /users` on the
 * example API (`Api.layer`) served by each build's own `serverRunner.js`, against the bare
 * @effect/platform server from this build, all three measured in the same alternating slices
 * (`alternate` in `server.ts`; `VOLLEY_BENCH_SERVER_SCALE` and `VOLLEY_BENCH_SERVER_SLICES`
 * apply). Figures are costs relative to bare: time per request (bare req/s / volley req/s),
 * p99, server CPU per request, peak RSS.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { alternate, CONNECTIONS, fastMailer, type Measured, rate, routes, SLICE_S, SLICES, withServers } from "./serverLoad.js"
import { type Build, scriptOf } from "./builds.js"
import { print, type Row } from "./compareTable.js"

export const compare = async (builds: readonly [Build, Build]): Promise<void> => {
  const runners = [scriptOf(builds[0], "internal/serverRunner.js"), scriptOf(builds[1], "internal/serverRunner.js")] as const
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "volley-bench-server-"))
  try {
    const rows: Array<Row> = []
    for (const [name, route] of [["GET /health", routes.health], ["POST /users", routes.users]] as const) {
      const slug = name.replace(/\W+/g, "-")
      await withServers([
        ["bare", fastMailer(tmp, `${slug}-bare`, { kind: "bare" })],
        [`${builds[0].label} volley`, fastMailer(tmp, `${slug}-0`, { kind: "volley" }), runners[0]],
        [`${builds[1].label} volley`, fastMailer(tmp, `${slug}-1`, { kind: "volley" }), runners[1]]
      ], async (servers) => {
        const [bare, b, c] = (await alternate(servers, route)) as [Measured, Measured, Measured]
        rows.push(
          { workload: `${name}: time/req x`, baseline: rate(bare) / rate(b), current: rate(bare) / rate(c) },
          { workload: `${name}: p99 x`, baseline: b.p99 / bare.p99, current: c.p99 / bare.p99 },
          { workload: `${name}: server CPU/req x`, baseline: b.cpuUs / bare.cpuUs, current: c.cpuUs / bare.cpuUs },
          { workload: `${name}: RSS x`, baseline: b.rssMiB / bare.rssMiB, current: c.rssMiB / bare.rssMiB }
        )
      })
    }
    print(
      `server side by side: volley Api.layer / bare @effect/platform; ${CONNECTIONS} connections, ${SLICES} alternating slices of ${SLICE_S} s`,
      builds,
      rows
    )
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}
