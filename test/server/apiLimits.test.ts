/**
 * The example API's limits, in process on a real loopback server: the sign-up body is bounded
 * before it is read, its fields are bounded, the user store is bounded, a name cannot add a
 * mail header, and the Node server is built with slow-client limits.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import * as Api from "../../examples/api.js"
import * as Client from "../../src/Client.js"
import * as JobPool from "../../src/server/JobPool.js"
import { captureLogs, plainServer, serve } from "./helpers.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "volley-apilimits-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const serveApi = (users: Layer.Layer<Api.Users> = Api.UsersLive) =>
  Effect.gen(function*() {
    const outbox = yield* tempDir
    const extra = Layer.mergeAll(JobPool.layer({ name: "email", workers: 1, capacity: 100, drainTimeout: "10 millis" }), users).pipe(
      Layer.provideMerge(Layer.mergeAll(Api.MailerLive(outbox, "10 seconds"), Api.LocalUpstreams, Client.layer()))
    )
    return yield* serve(Api.router, plainServer(), extra)
  })

interface RawReply {
  readonly status: number
  readonly body: string
}

/**
 * POSTs headers, then `first` bytes of the body, and waits (at most `waitMs`) for an answer
 * without sending the rest: an answer proves the server decided before reading the body.
 */
const postPartial = (url: string, headers: http.OutgoingHttpHeaders, first: string, waitMs: number) =>
  Effect.promise(() =>
    new Promise<RawReply | "no answer">((resolve) => {
      const req = http.request(`${url}/users`, { method: "POST", headers, agent: false }, (res) => {
        let body = ""
        res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => {
          clearTimeout(timer)
          resolve({ status: res.statusCode ?? 0, body })
          req.destroy()
        })
      })
      req.on("error", () => {})
      const timer = setTimeout(() => {
        req.destroy()
        resolve("no answer")
      }, waitMs)
      req.write(first)
    })
  )

const postJson = (url: string, body: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${url}/users`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.text() }
  })

const postRaw = (url: string, body: string) =>
  Effect.promise(async () => {
    const res = await fetch(`${url}/users`, { method: "POST", headers: { "content-type": "application/json" }, body })
    return { status: res.status, body: await res.text() }
  })

describe("example API limits", () => {
  it.scopedLive("a body declared larger than the limit is refused with 413 before it is read", () =>
    Effect.gen(function*() {
      const { url } = yield* serveApi()
      const reply = yield* postPartial(url, { "content-type": "application/json", "content-length": String(30 * 1024 * 1024) }, "{\"name\":\"", 2_000)
      expect(reply).not.toBe("no answer")
      expect((reply as RawReply).status).toBe(413)
    }).pipe(Effect.provide(captureLogs().layer)))

  it.scopedLive("a body of unknown length (chunked) is refused with 411: the limit is checked before buffering", () =>
    Effect.gen(function*() {
      const { url } = yield* serveApi()
      const reply = yield* postPartial(url, { "content-type": "application/json", "transfer-encoding": "chunked" }, "{\"name\":\"", 2_000)
      expect(reply).not.toBe("no answer")
      expect((reply as RawReply).status).toBe(411)
    }).pipe(Effect.provide(captureLogs().layer)))

  it.scopedLive("a body within the limit but with an over-long field is a 400 naming the field", () =>
    Effect.gen(function*() {
      const { url } = yield* serveApi()
      const long = yield* postJson(url, { name: "x".repeat(Api.limits.nameLength + 1), email: "a@example.com" })
      expect(long.status).toBe(400)
      expect(long.body).toContain("\"field\":\"name\"")
      const longEmail = yield* postJson(url, { name: "Al", email: `${"a".repeat(Api.limits.emailLength)}@example.com` })
      expect(longEmail.status).toBe(400)
      expect(longEmail.body).toContain("\"field\":\"email\"")
      const control = yield* postJson(url, { name: "Bob\r\nBcc: victim@x", email: "bob@example.com" })
      expect(control.status).toBe(400)
      expect(control.body).toContain("\"field\":\"name\"")
      expect((yield* postJson(url, { name: "Zoë", email: "zoe@example.com" })).status).toBe(201)
    }).pipe(Effect.provide(captureLogs().layer)))

  it.scopedLive("deeply nested JSON (16 KB of [, or nested in a field) is a 400, not a 500 from a stack overflow", () =>
    Effect.gen(function*() {
      const { url } = yield* serveApi()
      const depth = 8_000
      for (const body of ["[".repeat(16 * 1024), `${"[".repeat(depth)}${"]".repeat(depth)}`, `{"name":${"[".repeat(depth)}${"]".repeat(depth)},"email":"a@example.com"}`]) {
        const reply = yield* postRaw(url, body)
        expect({ length: body.length, status: reply.status }).toEqual({ length: body.length, status: 400 })
      }
    }).pipe(Effect.provide(captureLogs().layer)))

  it.scopedLive("a full user store refuses with 507 and keeps what it has", () =>
    Effect.gen(function*() {
      const { url } = yield* serveApi(Api.usersLayer({ capacity: 2 }))
      expect((yield* postJson(url, { name: "a", email: "a@example.com" })).status).toBe(201)
      expect((yield* postJson(url, { name: "b", email: "b@example.com" })).status).toBe(201)
      const full = yield* postJson(url, { name: "c", email: "c@example.com" })
      expect(full.status).toBe(507)
    }).pipe(Effect.provide(captureLogs().layer)))

  it.scopedLive("the mailer: CR/LF in a name cannot add a header line", () =>
    Effect.gen(function*() {
      const outbox = yield* tempDir
      const mailer = yield* Effect.provide(Api.Mailer, Api.MailerLive(outbox, 0))
      yield* mailer.sendWelcome({ id: 7, name: "Bob\r\nBcc: victim@x", email: "bob@example.com" })
      const mail = fs.readFileSync(path.join(outbox, "welcome-7.eml"), "utf8")
      const headerLines = mail.split(/\r?\n\r?\n/)[0]!.split(/\r?\n|\r/)
      expect(headerLines.map((line) => line.split(":")[0]!.toLowerCase()).sort()).toEqual(["content-type", "mime-version", "subject", "to"])
      expect(mail).not.toMatch(/^bcc:/im)
      // An address with a line break is refused rather than written.
      const bad = yield* Effect.flip(mailer.sendWelcome({ id: 8, name: "Eve", email: "eve@example.com\r\nBcc: victim@x" }))
      expect(bad._tag).toBe("MailError")
      expect(fs.existsSync(path.join(outbox, "welcome-8.eml"))).toBe(false)
    }))

  it("the example's Node server has slow-client limits and a connection cap", () => {
    const server = Api.nodeServer()
    try {
      expect(server.headersTimeout).toBe(Api.serverLimits.headersTimeout)
      expect(server.headersTimeout).toBeLessThanOrEqual(10_000)
      expect(server.requestTimeout).toBe(Api.serverLimits.requestTimeout)
      expect(server.requestTimeout).toBeLessThanOrEqual(30_000)
      expect(server.keepAliveTimeout).toBe(Api.serverLimits.keepAliveTimeout)
      expect(server.maxConnections).toBe(Api.serverLimits.maxConnections)
      expect(Number.isFinite(server.maxConnections) && server.maxConnections > 0).toBe(true)
    } finally {
      server.close()
    }
  })

  it.live("slow headers are cut off at the headers timeout (real socket, short limits)", () =>
    Effect.promise(async () => {
      const server = Api.nodeServer({ headersTimeout: 300, requestTimeout: 600, connectionsCheckingInterval: 100 })
      server.on("request", (_req, res) => res.end("ok"))
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const port = (server.address() as import("node:net").AddressInfo).port
      const net = await import("node:net")
      const started = Date.now()
      const answer = await new Promise<string>((resolve) => {
        const socket = net.connect(port, "127.0.0.1", () => socket.write("POST /users HTTP/1.1\r\nHost: x\r\n"))
        let data = ""
        socket.setEncoding("utf8").on("data", (d: string) => (data += d))
        socket.on("close", () => resolve(data))
        socket.on("error", () => {})
        setTimeout(() => socket.destroy(), 5_000).unref()
      })
      server.close()
      expect(answer).toMatch(/^HTTP\/1\.1 408/)
      expect(Date.now() - started).toBeLessThan(2_000)
    }))
})
