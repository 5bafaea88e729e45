import { describe, expect, it } from "vitest"
import { runNode } from "./support/spawn.js"

describe("examples", () => {
  it("request.ts: retries through two 503s, handles 404 and a refused connection by type", async () => {
    const run = await runNode(["dist/examples/request.js"])
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(run.stdout.trim().split("\n")).toEqual([
      "user 1: Ada",
      "user 2: not found",
      expect.stringMatching(/^network failure \(ConnectionRefused\): GET http:\/\/127\.0\.0\.1:1\/users\/3: connection refused/)
    ])
  })
})

describe("the package's entry points", () => {
  // Each export the README and docs/testing.md import, and a function it must provide.
  const entries: ReadonlyArray<readonly [string, string]> = [
    ["volley", "m.Client.layer"],
    ["volley", "m.Batch.settle"],
    ["volley/server", "m.JobPool.layer"],
    ["volley/server", "m.DurableJobs.layerSqlite"],
    ["volley", "m.DurableJobs.layerConfig"],
    ["volley/testing", "m.layer"],
    ["volley/testing", "m.capacity"],
    // One module at a time, so a client-only program never loads the server side.
    ["volley/Client", "m.layer"],
    ["volley/HttpClient", "m.layer"],
    ["volley/Observe", "m.withoutTracePropagation"],
    ["volley/Batch", "m.settle"],
    ["volley/Download", "m.file"],
    ["volley/Errors", "m.isTransient"],
    ["volley/Retry", "m.policy"]
  ]

  it("every entry resolves by package name and provides what the docs use", async () => {
    const script = `const checks = [${entries.map(([specifier, expr]) => `import('${specifier}').then((m) => typeof ${expr})`).join(", ")}]; ` +
      "console.log((await Promise.all(checks)).join(' '))"
    const run = await runNode(["--input-type=module", "-e", script])
    expect(run.stderr).toBe("")
    expect(run.stdout.trim()).toBe(entries.map(() => "function").join(" "))
  })
})

describe("npm start demo", () => {
  it("runs offline end to end: fan-out, verified download, sign-ups, every email drained, exit 0", async () => {
    const run = await runNode(["dist/examples/demo.js"], { timeoutMs: 60_000 })
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/requests\s+300 \(300 ok, 0 failed\)/)
    expect(run.stdout).toMatch(/checksum\s+sha256:[0-9a-f]{16}… verified/)
    expect(run.stdout).toMatch(/emails in the outbox\s+24 of 24/)
    expect(run.stdout).toContain("0 abandoned")
    // volley's request metrics (Observe.metrics) in the summary: every exchange counted and released.
    // (Beside the demo's own 326 requests, the API's /dashboard calls its upstreams through volley.)
    const exchanges = /exchanges\s+(\d+): ok (\d+).*\(GET (\d+), POST 24\)/.exec(run.stdout)
    expect(exchanges).not.toBeNull()
    const [total, ok, gets] = exchanges!.slice(1).map(Number) as [number, number, number]
    expect(total).toBe(gets + 24)
    expect(ok).toBeGreaterThanOrEqual(326)
    expect(run.stdout).toMatch(/duration\s+mean [\d.]+ ms, p50 ≤ [\d.]+ ms, p99 ≤ [\d.]+ ms, max [\d.]+ ms/)
    expect(run.stdout).toMatch(/in flight\s+0\n/)
  }, 70_000)
})
