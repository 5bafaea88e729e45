/**
 * Shared by the server suites: a real loopback server as a scoped resource, a tiny node:http
 * client, a log capture, and waits on real time that stay out of the TestClock.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as TestClock from "effect/TestClock"
import * as http from "node:http"
import * as net from "node:net"

/** Listens on 127.0.0.1, port 0. */
export const listenOptions = { port: 0, host: "127.0.0.1" } as const

/** The plain platform server layer, for middleware tests that do not care about shutdown. */
export const plainServer = (): Layer.Layer<HttpServer.HttpServer, ServeError> =>
  NodeHttpServer.layerServer(() => http.createServer(), listenOptions)

/**
 * Serves `app` on `server` in the current scope and returns its base URL and context (the
 * server's output merged with `extra`'s, e.g. a JobPool). Closing the scope releases the serve
 * layer first, then `extra`, then the server: the order a real program has.
 */
export const serve = <E, R, SOut = never, ROut = never>(
  app: HttpApp.Default<E, R>,
  server: Layer.Layer<HttpServer.HttpServer | SOut, ServeError>,
  extra: Layer.Layer<ROut> = Layer.empty as Layer.Layer<ROut>
) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      HttpServer.serve(app).pipe(Layer.provideMerge(extra), Layer.provideMerge(server))
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
    return { url: `http://127.0.0.1:${address.port}`, port: address.port, context }
  })

export interface Reply {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

/** An HTTP request in flight: its reply, and a way to hang up on it. */
export interface Call {
  readonly reply: Promise<Reply>
  readonly destroy: () => void
}

/** Sends a request with node:http (no pooling unless an agent is given). */
export const call = (url: string, options: { readonly method?: string; readonly agent?: http.Agent } = {}): Call => {
  let destroy = () => {}
  const reply = new Promise<Reply>((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? "GET", agent: options.agent ?? false }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end()
    destroy = () => req.destroy()
  })
  return { reply, destroy }
}

/** `call` as an Effect; a transport error is a typed failure. */
export const fetchReply = (url: string, options: { readonly method?: string; readonly agent?: http.Agent } = {}) =>
  Effect.tryPromise(() => call(url, options).reply)

/** Whether a TCP connection to the port is accepted right now. */
export const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

/** Waits on the real event loop (for I/O), independent of the test's clock. */
export const realDelay = (ms: number): Effect.Effect<void> =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/** Polls (in real time, bounded) until `check` holds. */
export const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, what: string, timeoutMs = 2_000): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    const started = Date.now()
    while (!(yield* check)) {
      if (Date.now() - started > timeoutMs) return yield* Effect.dieMessage(`timed out waiting for: ${what}`)
      yield* realDelay(2)
    }
  })

/**
 * Waits until at least `count` fibers sleep on the TestClock, so a following
 * `TestClock.adjust` hits the timers under test instead of racing them.
 */
export const awaitSleepers = (count: number): Effect.Effect<void> =>
  eventually(Effect.map(TestClock.sleeps(), (sleeps) => sleeps.length >= count), `${count} sleeper(s) on the TestClock`)

export interface LogEntry {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
  readonly cause: string
}

/** A logger that records every entry (all levels) instead of printing it. */
export const captureLogs = () => {
  const entries: Array<LogEntry> = []
  const logger = Logger.make(({ annotations, cause, logLevel, message }) => {
    entries.push({
      level: logLevel.label,
      message: (Array.isArray(message) ? message : [message]).map(String).join(" "),
      annotations: Object.fromEntries(HashMap.toEntries(annotations)),
      cause: Cause.isEmpty(cause) ? "" : Cause.pretty(cause)
    })
  })
  return { entries, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/** The TCP sockets and listeners this process holds. */
export const tcpHandles = (): number =>
  process.getActiveResourcesInfo().filter((name) => name === "TCPSocketWrap" || name === "TCPServerWrap").length
