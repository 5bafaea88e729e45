/**
 * `volley serve` and `volley jobs` as a new user meets them (the built CLI in a child process):
 * the routes printed at start and answered on `GET /`, a busy port as one clean line, and
 * `jobs list` where there is no database.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { killAll, serve } from "./support/serve.js"
import { root, runNode } from "./support/spawn.js"

let dir: string
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-serve-"))
})
afterEach(killAll)
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

describe("volley serve", () => {
  it("prints its routes at start, and GET / lists them", async () => {
    const served = await serve(["--db", `file:${path.join(dir, "a.db")}`, "--outbox", path.join(dir, "outbox")])
    const routes = ["GET  /", "POST /users", "GET  /jobs", "GET  /health"]
    await new Promise((r) => setTimeout(r, 100))
    for (const route of routes) expect(served.output()).toContain(route)
    expect(served.output()).toContain(`try: curl ${served.url}/`)
    const index = await fetch(`${served.url}/`)
    expect(index.status).toBe(200)
    const body = (await index.json()) as { routes: Array<{ route: string }> }
    expect(body.routes.map((r) => r.route)).toEqual(expect.arrayContaining(routes))
  }, 90_000)

  it("a busy port is one line naming it, exit 1, no stack and no build path", async () => {
    const blocker = net.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))
    const port = (blocker.address() as net.AddressInfo).port
    try {
      const run = await runNode(["bin/volley.js", "serve", "--port", String(port), "--db", `file:${path.join(dir, "b.db")}`], { timeoutMs: 60_000 })
      expect(run.code).toBe(1)
      expect(run.stderr.trim()).toBe(
        `volley serve: cannot listen on 127.0.0.1:${port}: the port is in use (choose another with --port, or --port 0 for a free one)`
      )
      expect(run.stdout + run.stderr).not.toContain(root)
      expect(run.stdout + run.stderr).not.toMatch(/\n\s+at /)
    } finally {
      blocker.close()
    }
  }, 90_000)
})

describe("volley jobs list", () => {
  it("in a folder with no database says so, exit 2, and creates nothing", async () => {
    const db = path.join(dir, "nowhere", "volley.db")
    const run = await runNode(["bin/volley.js", "jobs", "list", "--db", `file:${db}`])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain(`volley jobs list: no job database at ${db}`)
    expect(fs.existsSync(path.dirname(db))).toBe(false)
  })
})
