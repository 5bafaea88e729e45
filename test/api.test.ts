/**
 * The example REST API as a user runs it: the real `volley serve` process on a free port,
 * real HTTP requests, SIGTERM at the end.
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { killAll, type Served, serve } from "./support/serve.js"

interface ApiServer extends Served {
  readonly outbox: string
}

afterEach(killAll)

/** `volley serve` with its own outbox and a fresh job database (the default, .volley/volley.db, would be shared). */
const serveApi = async (args: ReadonlyArray<string> = []): Promise<ApiServer> => {
  const outbox = fs.mkdtempSync(path.join(os.tmpdir(), "volley-outbox-"))
  const db = `file:${path.join(outbox, "..", `${path.basename(outbox)}.db`)}`
  return { ...(await serve(["--outbox", outbox, "--db", db, ...args])), outbox }
}

const postUser = (url: string, body: unknown) =>
  fetch(`${url}/users`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })

describe("volley serve (example REST API)", () => {
  it("POST /users answers 201 at once; the welcome email is sent after the response", async () => {
    const server = await serveApi()
    const started = Date.now()
    const response = await postUser(server.url, { name: "Ada", email: "ada@example.com" })
    expect(response.status).toBe(201)
    expect(await response.json()).toMatchObject({ id: 1, name: "Ada", welcomeEmail: expect.any(String) })
    // The mailer takes about a second: the response did not wait for it.
    expect(Date.now() - started).toBeLessThan(900)
    expect(fs.readdirSync(server.outbox)).toEqual([])
    const deadline = Date.now() + 10_000
    // Wait for the email itself: the mailer writes `.tmp` then renames, and a poll may see the `.tmp`.
    while (!fs.readdirSync(server.outbox).some((f) => f.endsWith(".eml")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(fs.readdirSync(server.outbox)).toEqual(["welcome-1.eml"])
    server.child.kill("SIGTERM")
    expect(await server.exited).toBe(0)
  })

  it("a bad body is a 400 naming the field", async () => {
    const server = await serveApi()
    const invalid = await postUser(server.url, { name: "Bo", email: "not-an-address" })
    expect(invalid.status).toBe(400)
    expect(await invalid.json()).toEqual({ error: "invalid body", fields: [{ field: "email", message: "email must look like an address" }] })
    const missing = await postUser(server.url, { email: "x@y.z" })
    expect(missing.status).toBe(400)
    expect(JSON.stringify(await missing.json())).toContain("\"field\":\"name\"")
    const garbage = await fetch(`${server.url}/users`, { method: "POST", body: "{nope" })
    expect(garbage.status).toBe(400)
  })

  it("GET /dashboard combines three upstreams and marks a slow one as failed", async () => {
    const server = await serveApi()
    const views: Array<{ complete: boolean; recommendations: { ok: boolean; error?: string } }> = []
    for (let i = 0; i < 4; i++) views.push(await (await fetch(`${server.url}/dashboard`)).json() as (typeof views)[number])
    expect(views.slice(0, 3).every((v) => v.complete)).toBe(true)
    // Every fourth recommendations call takes 2 s; its 300 ms deadline degrades the page instead.
    expect(views[3]!.complete).toBe(false)
    expect(views[3]!.recommendations.ok).toBe(false)
    expect(views[3]!.recommendations.error).toContain("timeout")
  })

  it("GET /health and GET /metrics (Prometheus text)", async () => {
    const server = await serveApi()
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
    await postUser(server.url, { name: "Cy", email: "cy@example.com" })
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    expect(metrics).toMatch(/# TYPE http_requests_total counter/)
    expect(metrics).toMatch(/http_requests_total\{route="POST \/users",status="201"\} 1/)
    expect(metrics).toMatch(/volley_jobs_queued/)
    // Request latency per route, as a Prometheus histogram.
    expect(metrics).toMatch(/# TYPE http_request_duration histogram/)
    expect(metrics).toMatch(/http_request_duration_bucket\{time_unit="milliseconds",route="POST \/users",le="\+Inf"\} 1/)
    expect(metrics).toMatch(/http_request_duration_count\{time_unit="milliseconds",route="POST \/users"\} 1/)
    // The welcome email runs (~1 s): then the job counters and the job latency histogram move.
    let after = ""
    for (let i = 0; i < 100 && !/volley_jobs_succeeded_total\{pool="email"\} 1/.test(after); i++) {
      await new Promise((r) => setTimeout(r, 50))
      after = await (await fetch(`${server.url}/metrics`)).text()
    }
    expect(after).toMatch(/volley_jobs_succeeded_total\{pool="email"\} 1/)
    expect(after).toMatch(/volley_jobs_running\{pool="email"\} 0/)
    expect(after).toMatch(/volley_job_duration_count\{time_unit="milliseconds",pool="email",job="welcome-email"\} 1/)
    expect(after).toMatch(/http_requests_total\{route="GET \/health",status="200"\} 1/)
  })

  it("SIGTERM drains: in-flight requests complete, every queued email is sent, exit 0", async () => {
    const server = await serveApi(["--workers", "2"])
    const users = 8
    const responses = await Promise.all(
      Array.from({ length: users }, (_, i) => postUser(server.url, { name: `u${i}`, email: `u${i}@example.com` }))
    )
    expect(responses.map((r) => r.status)).toEqual(Array(users).fill(201))
    // 8 emails, 2 workers, ~1 s each: most are still queued when the signal arrives.
    expect(fs.readdirSync(server.outbox).length).toBeLessThan(users)
    server.child.kill("SIGTERM")
    expect(await server.exited).toBe(0)
    expect(fs.readdirSync(server.outbox).filter((f) => f.endsWith(".eml")).sort()).toEqual(
      Array.from({ length: users }, (_, i) => `welcome-${i + 1}.eml`).sort()
    )
    expect(server.output()).toContain("shutting down")
  })

  it("SIGTERM with a response still streaming: the client gets every byte, then the process exits 0", async () => {
    const server = await serveApi()
    // The response has begun (headers are here) and the client is not reading: it is in flight.
    // 32 MiB, more than the kernel's socket buffers hold (4 MiB wouldn't be: under load the
    // server could hand it all to the kernel before the signal, leaving nothing in flight).
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`${server.url}/files/archive.bin`, resolve).on("error", reject))
    response.pause()
    expect(response.statusCode).toBe(200)
    server.child.kill("SIGTERM")
    await new Promise((r) => setTimeout(r, 300))
    const hash = crypto.createHash("sha256")
    let size = 0
    response.on("data", (chunk: Buffer) => {
      size += chunk.length
      hash.update(chunk)
    })
    await new Promise<void>((resolve) => {
      response.once("end", resolve)
      response.once("close", resolve)
      response.resume()
    })
    expect({ size, complete: response.complete }).toEqual({ size: 32 * 1024 * 1024, complete: true })
    // The example's file: byte i is (i * 31 + 7) % 251.
    const expected = Buffer.allocUnsafe(size)
    for (let i = 0; i < size; i++) expected[i] = (i * 31 + 7) % 251
    expect(hash.digest("hex")).toBe(crypto.createHash("sha256").update(expected).digest("hex"))
    expect(await server.exited).toBe(0)
    expect(server.output()).toContain("http server draining: 1 request(s) in flight")
  })

  it("a drain deadline too short for the queue interrupts the rest, names the job ids, and exits 1", async () => {
    const server = await serveApi(["--workers", "1", "--drain-timeout", "1"])
    for (let i = 0; i < 5; i++) await postUser(server.url, { name: `v${i}`, email: `v${i}@example.com` })
    server.child.kill("SIGTERM")
    const code = await server.exited
    const sent = fs.readdirSync(server.outbox).filter((f) => f.endsWith(".eml")).length
    expect(sent).toBeLessThan(5)
    // Names the jobs left over (`welcome-email:<user id>`); they stay stored for the next start.
    expect(server.output()).toMatch(/welcome-email:\d/)
    // Not a clean drain, so not exit 0.
    expect(code).toBe(1)
    expect(server.output()).toMatch(new RegExp(`${5 - sent} job\\(s\\) did not complete before the drain deadline; exiting 1`))
  })
})
