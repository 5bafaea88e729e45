/**
 * The `pushback` suite's target: issue 19's three hosts, the `volley/testing` server models,
 * served on 127.0.0.1 under the live clock in a process of their own (so the client never
 * shares its event loop with them):
 *
 * - `/ratelimit/…`: `rateLimit`, 100 per 1 s window, the IETF headers, `429` + `Retry-After` past it;
 * - `/capacity/…`: `capacity`, 16 in service + 16 queued, 20 ms each, `503` at once beyond;
 * - `/down/…`: `outage`, always `503`.
 *
 * Sends `{ port }` once listening. Answers IPC: `{ op: "reset" }` makes fresh models (their
 * windows start again), `{ op: "stats", model }` sends back that model's `ServerStats`. Exits
 * when the parent disconnects. A model's reply is written as support/modelRoute.ts does for
 * the tests (whole bodies only: these models send nothing else); a client that goes away
 * interrupts its reply, so a capacity slot is freed.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as http from "node:http"
import type { Reply, ReplyFunction, ServerModel, TestRequest } from "../../src/Testing.js"
import * as Testing from "../../src/Testing.js"

const makeModels = (): Record<string, ServerModel> => ({
  ratelimit: Testing.rateLimit({ limit: 100, window: "1 second", headers: "ietf" }),
  capacity: Testing.capacity({ inService: 16, queue: 16, serviceTime: "20 millis" }),
  down: Testing.outage()
})
let models = makeModels()

const write = (res: http.ServerResponse, reply: Reply): void => {
  if ("fail" in reply) {
    if (reply.fail !== "Timeout") res.socket?.destroy()
    return
  }
  const body = reply.body === undefined && reply.json !== undefined ? JSON.stringify(reply.json) : reply.body ?? ""
  if (typeof body !== "string" && !(body instanceof Uint8Array)) throw new Error("pushbackServer: stepped bodies are not served")
  const bytes = Buffer.from(body)
  res.writeHead(reply.status ?? 200, { ...reply.headers, "content-length": bytes.length })
  res.end(bytes)
}

let calls = 0
const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://127.0.0.1")
  const model = models[url.pathname.split("/")[1] ?? ""]
  if (model === undefined) {
    res.writeHead(404).end()
    return
  }
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value
  }
  const request: TestRequest = { method: req.method ?? "GET", url, headers, body: undefined, bodyBytes: undefined, params: {}, call: calls, id: ++calls }
  const reply: ReplyFunction = model.reply
  const fiber = Effect.runFork(
    Effect.suspend(() => {
      const out = reply(request)
      return Effect.isEffect(out) ? out : Effect.succeed(out)
    }).pipe(Effect.map((r) => write(res, r)))
  )
  // 'close' also fires after a normal finish; interrupting a finished fiber does nothing.
  res.once("close", () => Effect.runFork(Fiber.interrupt(fiber)))
})
server.keepAliveTimeout = 60_000
server.maxRequestsPerSocket = 0

process.on("message", (message: { op: "reset" } | { op: "stats"; model: string }) => {
  if (message.op === "reset") {
    models = makeModels()
    process.send!({ op: "reset" })
  } else {
    void Effect.runPromise(models[message.model]!.stats).then((stats) => process.send!({ op: "stats", stats }))
  }
})
process.on("disconnect", () => process.exit(0))

server.listen(0, "127.0.0.1", () => {
  const address = server.address()
  process.send!({ port: typeof address === "object" && address !== null ? address.port : 0 })
})
