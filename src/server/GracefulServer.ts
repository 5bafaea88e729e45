/**
 * A Node HTTP server that shuts down gracefully: a drop-in for `NodeHttpServer.layer`.
 *
 * What `NodeHttpServer` does on its own when its scope closes (checked in
 * @effect/platform-node 0.108): `HttpServer.serve`'s finalizer removes the `request`
 * listener, then `server.close()` is awaited. Node's `close` stops the listener and closes
 * idle sockets once, then waits for every other socket to end. So:
 * - in-flight requests are never interrupted: a hung handler holds shutdown forever;
 * - a keep-alive socket that served a request *after* `close` began stays open until the
 *   client's or the server's keep-alive timeout (seconds), and shutdown waits for it;
 * - a request arriving on such a socket after the listener was removed gets no answer;
 * - request fibers are root fibers (daemons), not children of any scope;
 * - Node's http `close` (Node 20) also destroys connections whose request was read even
 *   while their response is still being sent: a large answer to a slow reader is truncated.
 *
 * This module wraps `NodeHttpServer.make` and adds a drain to each `serve`, run when the
 * serving scope closes (so before the layers the app uses, e.g. a `JobPool`, are released):
 * 1. stop accepting: the net listener's close, which leaves open connections alone;
 * 2. let in-flight requests finish within `drainTimeout`, answering with `Connection: close`
 *    so their sockets end with the response;
 * 3. interrupt what is left (an interrupted handler answers 503) and give it
 *    `interruptTimeout` to finish;
 * 4. once every response is out, destroy the remaining (idle or stuck) sockets and wait for
 *    the server to close.
 * Each step is logged, with the requests that had to be interrupted.
 *
 * Interruption needs interruptible handlers: `HttpRouter` routes are, a raw `HttpApp` is not
 * (wrap it with `Middleware.interruptible`). An uninterruptible handler cannot hold shutdown
 * hostage either: after `interruptTimeout` its socket is destroyed and the drain moves on.
 *
 * @example
 * ```ts
 * import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
 * import { Layer } from "effect"
 * import * as http from "node:http"
 * import { GracefulServer, JobPool } from "volley/server"
 *
 * const app = HttpRouter.empty.pipe(HttpRouter.get("/health", HttpServerResponse.text("ok")))
 * const Main = HttpServer.serve(app).pipe(
 *   Layer.provide(JobPool.layer({ workers: 8 })), // released after the server drained
 *   Layer.provide(GracefulServer.layer(() => http.createServer(), { port: 8080, drainTimeout: "10 seconds" }))
 * )
 * // Run it with `NodeRuntime.runMain(main)`: SIGINT/SIGTERM close the scope: drain, then jobs.
 * export const main = Layer.launch(Main)
 * // $ curl http://127.0.0.1:8080/health
 * // ok
 * // $ kill -TERM <pid>    (requests in flight finish, then the job pool drains; exit 0)
 * ```
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as NodeContext from "@effect/platform-node/NodeContext"
import type * as Etag from "@effect/platform/Etag"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import type * as HttpPlatform from "@effect/platform/HttpPlatform"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type { LazyArg } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Http from "node:http"
import type * as Net from "node:net"
import { Server as NetServer } from "node:net"

/**
 * Shutdown deadlines.
 *
 * @category models
 * @since 0.1.0
 */
export interface GracefulOptions {
  /** How long in-flight requests get to finish once the listener is closed. Default 10 seconds. */
  readonly drainTimeout?: Duration.DurationInput
  /** How long interrupted requests get to run finalizers and answer 503. Default 1 second. */
  readonly interruptTimeout?: Duration.DurationInput
}

/**
 * The defaults of {@link GracefulOptions}.
 *
 * @category layers
 * @since 0.1.0
 */
export const defaults = {
  drainTimeout: Duration.seconds(10),
  interruptTimeout: Duration.seconds(1)
} as const

/**
 * Listens like `NodeHttpServer.make` and returns an `HttpServer` whose `serve` drains on
 * scope close (see the module docs).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  evaluate: LazyArg<Http.Server>,
  options: Net.ListenOptions & GracefulOptions
): Effect.Effect<HttpServer.HttpServer, ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    const { drainTimeout = defaults.drainTimeout, interruptTimeout = defaults.interruptTimeout, ...listen } = options
    const server = evaluate()
    const closed = yield* Deferred.make<void>()
    server.once("close", () => Deferred.unsafeDone(closed, Effect.void))
    const inner = yield* NodeHttpServer.make(() => server, listen)
    return HttpServer.make({
      address: inner.address,
      serve: (app, middleware) =>
        serveDraining(inner, server, closed, app, middleware, {
          drainTimeout: Duration.decode(drainTimeout),
          interruptTimeout: Duration.decode(interruptTimeout)
        })
    })
  })

/**
 * {@link make} as a Layer, with the same platform services as `NodeHttpServer.layer`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  evaluate: LazyArg<Http.Server>,
  options: Net.ListenOptions & GracefulOptions
): Layer.Layer<HttpServer.HttpServer | HttpPlatform.HttpPlatform | Etag.Generator | NodeContext.NodeContext, ServeError> =>
  Layer.merge(Layer.scoped(HttpServer.HttpServer, make(evaluate, options)), NodeHttpServer.layerContext)

const serveDraining = (
  inner: HttpServer.HttpServer,
  server: Http.Server,
  closed: Deferred.Deferred<void>,
  app: HttpApp.Default<unknown>,
  middleware: HttpMiddleware.HttpMiddleware | undefined,
  timeouts: { readonly drainTimeout: Duration.Duration; readonly interruptTimeout: Duration.Duration }
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    // Request fibers and their requests. A fiber leaves when it exits, which is after its
    // response was written (the platform writes it on the same fiber). The request is kept
    // as it is: its "METHOD path" label is only built for the drain's logs.
    const inflight = new Map<Fiber.RuntimeFiber<unknown, unknown>, HttpServerRequest.HttpServerRequest>()
    let draining = false

    // During the drain, answers end their connection, so keep-alive sockets close with the
    // response instead of idling until a keep-alive timeout. Set on Node's response, which the
    // platform's `writeHead` merges into the answer: a pre-response handler would do it too,
    // but costs every request a few effects, drain or not.
    const closeAfterAnswer = (request: HttpServerRequest.HttpServerRequest) => {
      const incoming = NodeHttpServerRequest.toIncomingMessage(request)
      // An upgrade (WebSocket) request has no response of its own: asking for it would make one.
      if (incoming.headers.upgrade !== undefined) return
      const response = NodeHttpServerRequest.toServerResponse(request)
      if (!response.headersSent) response.setHeader("connection", "close")
    }

    // Runs on every request, so it does the least it can: no FiberRef update, no string built.
    const tracked: HttpApp.Default<unknown> = Effect.withFiberRuntime((fiber) => {
      const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
      inflight.set(fiber, request)
      fiber.addObserver(() => inflight.delete(fiber))
      const incoming = NodeHttpServerRequest.toIncomingMessage(request)
      // An upgrade (WebSocket) request has no response of its own: asking for it would make one.
      if (incoming.headers.upgrade !== undefined) return app
      // Once the response closed (answered, or its connection gone) the request is no longer in
      // flight: a fiber still running then has no client to answer (the platform interrupts it).
      NodeHttpServerRequest.toServerResponse(request).once("close", () => inflight.delete(fiber))
      if (draining) closeAfterAnswer(request)
      // An answer with a body for a destroyed connection would park the fiber for good: the
      // platform waits for `end`'s callback, which Node never calls then (see
      // `Middleware.withDeadline`'s notes on upstream behaviour). Sent bodiless, it ends at once.
      return Effect.map(app, (response) => incoming.socket.destroyed ? HttpServerResponse.empty({ status: response.status }) : response)
    })

    // Interruptible on purpose: the drain runs as a finalizer (uninterruptible), and a timeout
    // can only stop a wait that can be interrupted.
    const awaitInflight: Effect.Effect<void> = Effect.interruptible(Effect.suspend(function loop(): Effect.Effect<void> {
      const next = inflight.keys().next()
      return next.done ? Effect.void : Effect.zipRight(Fiber.await(next.value), Effect.suspend(loop))
    }))

    const drain = Effect.gen(function*() {
      draining = true
      inflight.forEach(closeAfterAnswer)
      // Stop accepting. Not with `server.close()`: Node's http close also destroys every
      // connection whose request has been read, including one still sending its response (a
      // large answer to a slow reader is cut short). The net listener's close only stops
      // accepting; idle sockets stay until every response is out, then all are closed below.
      if (server.listening) NetServer.prototype.close.call(server)
      const started = inflight.size
      if (started > 0) yield* Effect.logInfo(`http server draining: ${started} request(s) in flight`)
      const finished = yield* awaitInflight.pipe(Effect.timeoutOption(timeouts.drainTimeout), Effect.map(Option.isSome))
      if (!finished) {
        const late = Array.from(inflight)
        yield* Effect.logWarning(
          `http drain deadline (${Duration.format(timeouts.drainTimeout)}) passed: interrupting ${late.length} request(s): ${
            late.map(([, request]) => describe(request)).join(", ")
          }`
        )
        const self = yield* Effect.fiberId
        yield* Effect.forEach(late, ([fiber]) => Fiber.interruptAsFork(fiber, self), { discard: true })
        const stopped = yield* awaitInflight.pipe(Effect.timeoutOption(timeouts.interruptTimeout), Effect.map(Option.isSome))
        if (!stopped) {
          yield* Effect.logError(
            `http drain: ${inflight.size} request(s) ignored interruption (uninterruptible handler?); closing their connections: ${
              Array.from(inflight.values(), describe).join(", ")
            }`
          )
        }
      }
      // Every response is out (a request fiber ends once Node has flushed its answer) or given
      // up on: what is left is idle or stuck.
      server.closeAllConnections()
      // Now http's own close too, for its cleanup (the listener is closed already).
      server.close()
      yield* Effect.interruptible(Deferred.await(closed)).pipe(Effect.timeoutOption(timeouts.interruptTimeout))
      if (started > 0) yield* Effect.logInfo(`http server drained (${finished ? "all requests completed" : "deadline passed"})`)
    })

    if (middleware === undefined) yield* inner.serve(tracked)
    else yield* inner.serve(tracked, middleware)
    // Added after `inner.serve`, so it runs before the platform removes the request listener:
    // a request that still arrives on an open socket during the drain gets an answer.
    yield* Effect.addFinalizer(() => drain)
  })

/** "METHOD path" for the logs: the path only, as a query string may carry secrets. */
const describe = (request: HttpServerRequest.HttpServerRequest): string => `${request.method} ${request.url.split("?")[0] ?? ""}`
