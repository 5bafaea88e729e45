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
