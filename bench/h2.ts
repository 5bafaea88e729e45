/**
 * HTTP/2 against HTTP/1.1, same run, same https origin: 20,000 small GETs through volley's
 * `Batch.settle` at concurrency 64, once with `http2: true` (h2 by ALPN, streams multiplexed)
 * and once without (HTTP/1.1, up to 64 TLS connections), and undici alone both ways. Each
 * side runs in its own process (`internal/httpWorker.js`), alternating over
 * `VOLLEY_BENCH_ROUNDS` rounds (default 2); the table shows the best wall and CPU time and the
 * highest peak RSS, as ratios to volley over HTTP/1.1.
 * `VOLLEY_BENCH_H2_COUNT` shrinks the workload for a quick check.
 *
 *   npm run build && VOLLEY_BENCH=h2 node dist/bench/run.js
 */
import { keepBest, type Measured, measure, startServer } from "./http.js"

const serverPath = new URL("./internal/h2Target.js", import.meta.url)

const pad = (text: string, width: number, right = false) => (right ? text.padStart(width) : text.padEnd(width))

export const run = async (): Promise<void> => {
  const rounds = Math.max(1, Number(process.env["VOLLEY_BENCH_ROUNDS"] ?? "2"))
  const count = Math.max(1, Number(process.env["VOLLEY_BENCH_H2_COUNT"] ?? "20000"))
  const concurrency = 64
  const contenders = [
    { id: "volley-h1", label: "volley Batch.settle, HTTP/1.1 (TLS)" },
    { id: "volley-h2", label: "volley Batch.settle, h2 (http2: true)" },
    // undici alone on both protocols: tells undici's own h2 cost from volley's.
    { id: "undici-h1", label: "undici request + p-limit, HTTP/1.1" },
    { id: "undici-h2", label: "undici request + p-limit, h2 (allowH2)" }
  ] as const
  const { child: server, port } = await startServer(serverPath)
  try {
    const url = `https://127.0.0.1:${port}/small`
    const best = new Map<string, Measured>()
    for (let round = 0; round < rounds; round++) {
      for (const { id } of contenders) {
        const m = await measure(id, url, { count, concurrency })
        if (m.ok !== count) throw new Error(`${id}: ${m.ok} of ${count} requests succeeded`)
        best.set(id, keepBest(best.get(id), m))
      }
    }
    const baseline = best.get("volley-h1")!
    console.log(`\nh2: ${count.toLocaleString("en")} GETs of 128 B to one https origin, concurrency ${concurrency} — best of ${rounds}, ratios to HTTP/1.1`)
    console.log(`${pad("contender", 40)}${pad("wall ms", 10, true)}${pad("req/s", 8, true)}${pad("CPU ms", 9, true)}${pad("RSS MiB", 9, true)}${pad("time x", 8, true)}${pad("CPU x", 7, true)}${pad("RSS x", 7, true)}`)
    for (const { id, label } of contenders) {
      const m = best.get(id)!
      console.log(
        pad(label, 40) + pad(m.ms.toFixed(0), 10, true) + pad(((count * 1000) / m.ms).toFixed(0), 8, true) + pad(m.cpuMs.toFixed(0), 9, true) +
          pad(m.rss.toFixed(0), 9, true) + pad((m.ms / baseline.ms).toFixed(2), 8, true) + pad((m.cpuMs / baseline.cpuMs).toFixed(2), 7, true) +
          pad((m.rss / baseline.rss).toFixed(2), 7, true)
      )
    }
  } finally {
    server.disconnect()
  }
}
