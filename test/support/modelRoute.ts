/**
 * Runs a `volley/testing` route handler (a server model's `reply`) on the fault server's real
 * sockets, under the live clock: `mountModel(server, "/model/", model.reply)`. The same model
 * then answers real-socket tests and virtual-time tests alike.
 *
 * Test support only (not public): it is the bridge that lets volley's own loopback tests reuse
 * the models, and it leans on the fault server's plumbing (socket tracking, abort counting,
 * close). Unlike the rest of support it depends on the code under test, but only on the
 * models, never on the client.
 *
 * What a reply becomes on the wire: a response is sent after its `latency`, whole bodies with
 * `Content-Length`, stepped bodies chunk by chunk (`Pause` waits, `Stall` never ends, `Fail`
 * destroys the socket); a network failure destroys the socket (the client sees a reset), except
 * `Timeout`, which never answers. When the client goes away first, the reply's fiber is
 * interrupted, so a model frees what the request held. The request a model sees has no body.
 */
import { Duration, Effect, Fiber } from "effect"
import type { FailureSpec, Reply, ReplyFunction, ResponseSpec, TestRequest } from "../../src/Testing.js"
import type { FaultServer } from "./FaultServer.js"
import { type Ctx, send } from "./faultRoutes.js"

const isFailure = (reply: Reply): reply is FailureSpec => "fail" in reply

const headersOf = (ctx: Ctx): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(ctx.req.headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

const kill = (ctx: Ctx): Effect.Effect<void> =>
  Effect.sync(() => {
    ctx.markServerKilled()
    ctx.req.socket.destroy()
  })

const write = (ctx: Ctx, reply: Reply): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (reply.latency !== undefined) yield* Effect.sleep(Duration.decode(reply.latency))
    if (isFailure(reply)) return yield* reply.fail === "Timeout" ? Effect.never : kill(ctx)
    const spec: ResponseSpec = reply
    const status = spec.status ?? 200
    const headers = { ...spec.headers }
    if (spec.body === undefined && spec.json !== undefined) {
      return send(ctx, status, JSON.stringify(spec.json), { "content-type": "application/json", ...headers })
    }
    const body = spec.body ?? ""
    if (typeof body === "string" || body instanceof Uint8Array) return send(ctx, status, Buffer.from(body), headers)
    ctx.res.writeHead(status, headers)
    for (const step of body) {
      if (typeof step === "string" || step instanceof Uint8Array) {
        ctx.state.bytesSent += Buffer.byteLength(step)
        ctx.res.write(step)
      } else if (step._tag === "Pause") yield* Effect.sleep(Duration.decode(step.duration))
      else if (step._tag === "Stall") return yield* Effect.never
      else return yield* kill(ctx)
    }
    ctx.res.end()
  })

/**
 * Serves paths under `prefix` with `reply` until the returned function is called. Each request
 * gets its own fiber on the default runtime (the live clock).
 */
export const mountModel = (server: FaultServer, prefix: string, reply: ReplyFunction): () => void => {
  let calls = 0
  return server.mount(prefix, (ctx) =>
    new Promise<void>((resolve) => {
      const request: TestRequest = {
        method: ctx.req.method ?? "GET",
        url: new URL(ctx.req.url ?? "/", `http://${ctx.req.headers.host ?? "127.0.0.1"}`),
        headers: headersOf(ctx),
        body: undefined,
        bodyBytes: undefined,
        params: {},
        call: calls,
        id: ++calls
      }
      const answer = Effect.suspend(() => {
        const out = reply(request)
        return Effect.isEffect(out) ? out : Effect.succeed(out)
      })
      const fiber = Effect.runFork(Effect.flatMap(answer, (r) => write(ctx, r)))
      // 'close' also fires after a normal finish; interrupting a finished fiber does nothing.
      ctx.res.once("close", () => Effect.runFork(Fiber.interrupt(fiber)))
      fiber.addObserver(() => resolve())
    }))
}
