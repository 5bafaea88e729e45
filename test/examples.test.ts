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
  it("volley, volley/server and volley/testing resolve by name (the names README and docs/testing.md import)", async () => {
    const script = [
      "const [main, server, testing] = await Promise.all([import('volley'), import('volley/server'), import('volley/testing')])",
      "console.log([typeof main.Client.layer, typeof main.Batch.settle, typeof server.JobPool.layer, typeof testing.layer].join(' '))"
    ].join(";")
    const run = await runNode(["--input-type=module", "-e", script])
    expect(run.stderr).toBe("")
    expect(run.stdout.trim()).toBe("function function function function")
  })

  it("each client-side module has its own entry (volley/Client, …), so a program loads only what it uses", async () => {
    const script = [
      "const names = ['Client', 'Batch', 'Download', 'Errors', 'Retry']",
      "const mods = await Promise.all(names.map((n) => import('volley/' + n)))",
      "console.log(mods.map((m) => typeof (m.layer ?? m.settle ?? m.file ?? m.isTransient ?? m.policy)).join(' '))"
    ].join(";")
    const run = await runNode(["--input-type=module", "-e", script])
    expect(run.stderr).toBe("")
    expect(run.stdout.trim()).toBe("function function function function function")
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
  }, 70_000)
})
