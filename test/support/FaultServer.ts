/**
 * A real loopback HTTP(S) server that misbehaves on demand: hangs, stalls, resets, trickles,
 * redirects in loops, fails N times before succeeding. Transport tests run the client against
 * it so timeouts, aborts and retries are exercised over genuine sockets, and its counters
 * (open sockets, client aborts, bytes sent, in-flight peaks) prove what the client did.
 *
 * Plain Node on purpose: test support should not depend on the code under test.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import type * as net from "node:net"
import { type Ctx, type Handler, route, send } from "./faultRoutes.js"
import { type ClosedResponse, makeState, notify, type State, waitFor } from "./faultState.js"

export interface RecordedRequest {
  readonly method: string
  /** Path including the query string, exactly as sent. */
  readonly path: string
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly body: string
  /** Date.now() when the request (with its body) had fully arrived. */
  readonly at: number
}

export interface FaultServer {
  /** "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT", no trailing slash. */
  readonly url: string
  readonly port: number
  /** Every request, in the order their bodies completed (bodies recorded up to 1 MiB). */
  readonly requests: ReadonlyArray<RecordedRequest>
  /** Sockets currently open / ever opened / requests cut by the peer before the response finished. */
  readonly stats: {
    readonly open: number
    readonly opened: number
    readonly abortedByClient: number
    readonly maxInFlight: number
    readonly inFlight: number
    readonly bytesSent: number
  }
  /** Per Host header value: the most concurrent in-flight requests seen. */
  readonly maxInFlightByHost: ReadonlyMap<string, number>
  /** Resolves once a request whose path starts with `pathPrefix` was closed by the client mid-response. */
  waitForClientAbort(pathPrefix: string, timeoutMs?: number): Promise<void>
  /**
   * Resolves once the first response to a path starting with `pathPrefix` closed (finished or
   * cut off), with the bytes its socket took for it: what the server really wrote.
   */
  waitForResponseClosed(pathPrefix: string, timeoutMs?: number): Promise<ClosedResponse>
  /** Resolves with the `count`-th request (default 1st) whose path starts with `pathPrefix`. */
  waitForRequest(pathPrefix: string, count?: number, timeoutMs?: number): Promise<RecordedRequest>
  /**
   * Serves paths starting with `prefix` with `handler`, ahead of the built-in routes, until the
   * returned function is called: for route logic that lives elsewhere (support/modelRoute.ts
   * mounts the test kit's server models).
   */
  mount(prefix: string, handler: Handler): () => void
  /** Clears recorded requests, counters and flaky state (live `open`/`inFlight` stay accurate). */
  reset(): void
  /** Closes the listener and destroys every open socket. */
  close(): Promise<void>
}

/** PEM strings of the self-signed test CA/cert (CN=localhost, SAN IP:127.0.0.1, DNS:localhost). */
export const testCertificate: { readonly cert: string; readonly key: string } = {
  cert: fs.readFileSync(new URL("./certs/cert.pem", import.meta.url), "utf8"),
  key: fs.readFileSync(new URL("./certs/key.pem", import.meta.url), "utf8")
}

const MAX_RECORDED_BODY = 1024 * 1024
const DEFAULT_WAIT_MS = 10_000

// ---------------------------------------------------------------------------------------------
// Request lifecycle: in-flight accounting, abort detection, body recording

const trackInFlight = (state: State, req: http.IncomingMessage, res: http.ServerResponse, isServerKilled: () => boolean): void => {
  const host = req.headers.host ?? ""
  const hostCount = (state.inFlightByHost.get(host) ?? 0) + 1
  state.inFlightByHost.set(host, hostCount)
  state.maxInFlightByHost.set(host, Math.max(state.maxInFlightByHost.get(host) ?? 0, hostCount))
  state.inFlight += 1
  state.maxInFlight = Math.max(state.maxInFlight, state.inFlight)
  // The socket's count at the start: a kept-alive socket serves its requests one after another.
  const socket = req.socket
  const writtenBefore = socket.bytesWritten
  // 'close' fires once per response: after 'finish' normally, or when the socket died first.
  res.once("close", () => {
    state.closed.push({ path: req.url ?? "", bytesWritten: socket.bytesWritten - writtenBefore, finished: res.writableFinished })
    notify(state)
    state.inFlight -= 1
    state.inFlightByHost.set(host, (state.inFlightByHost.get(host) ?? 1) - 1)
    if (!res.writableFinished && !isServerKilled() && !state.closing) {
      state.abortedByClient += 1
      state.abortedPaths.push(req.url ?? "")
      notify(state)
    }
  })
}

/** Reads the whole request body, keeping at most 1 MiB of it for the record. */
const readBody = (req: http.IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    const parts: Array<Buffer> = []
    let kept = 0
    req.on("data", (chunk: Buffer) => {
      if (kept >= MAX_RECORDED_BODY) return
      const slice = chunk.subarray(0, MAX_RECORDED_BODY - kept)
      parts.push(slice)
      kept += slice.length
    })
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")))
    // An aborted upload never ends; the abort is counted via the response's 'close'.
    req.on("error", () => {})
  })

const handleRequest = async (
  state: State,
  mounts: ReadonlyMap<string, Handler>,
  req: http.IncomingMessage,
  res: http.ServerResponse
): Promise<void> => {
  let serverKilled = false
  trackInFlight(state, req, res, () => serverKilled)
  const path = req.url ?? "/"
  const body = await readBody(req)
  const recorded: RecordedRequest = { method: req.method ?? "GET", path, headers: { ...req.headers }, body, at: Date.now() }
  state.requests.push(recorded)
  notify(state)
  if (res.destroyed) return
  const url = new URL(path, "http://127.0.0.1")
  const ctx: Ctx = { req, res, path: url.pathname, params: url.searchParams, state, markServerKilled: () => void (serverKilled = true) }
  const handler = [...mounts].find(([prefix]) => url.pathname.startsWith(prefix))?.[1] ?? route(url.pathname, recorded)
  if (handler === undefined) return send(ctx, 404, "not found")
  await handler(ctx)
}

// ---------------------------------------------------------------------------------------------
// Server

const trackSockets = (state: State, socket: net.Socket): void => {
  state.opened += 1
  state.sockets.add(socket)
  socket.once("close", () => state.sockets.delete(socket))
}

const listen = (server: http.Server): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject)
      const address = server.address()
      if (address === null || typeof address === "string") return reject(new Error("FaultServer: no TCP address"))
      resolve(address.port)
    })
  })

const closeServer = (state: State, server: http.Server): Promise<void> => {
  state.closing = true
  for (const timer of state.timers) clearTimeout(timer)
  state.timers.clear()
  for (const waiter of state.waiters) {
    clearTimeout(waiter.timer)
    waiter.reject(new Error("FaultServer: closed while waiting"))
  }
  state.waiters.clear()
  const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()))
  // Wait for each socket's own 'close' too: the listener's callback can beat them, and callers
  // check stats.open (or the process's handles) right after close() resolves.
  const socketsClosed = [...state.sockets].map((socket) =>
    new Promise<void>((resolve) => {
      socket.once("close", () => resolve())
      socket.destroy()
    })
  )
  return Promise.all([listenerClosed, ...socketsClosed]).then(() => undefined)
}

const resetState = (state: State): void => {
  state.requests.length = 0
  state.closed.length = 0
  state.abortedPaths.length = 0
  state.flaky.clear()
  state.rateLimits.clear()
  state.maxInFlightByHost.clear()
  state.opened = 0
  state.abortedByClient = 0
  state.maxInFlight = state.inFlight
  state.bytesSent = 0
}

export const startFaultServer = async (options?: { readonly tls?: boolean }): Promise<FaultServer> => {
  const tls = options?.tls === true
  const state = makeState()
  const mounts = new Map<string, Handler>()
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handleRequest(state, mounts, req, res).catch(() => res.destroy())
  }
  const server = tls ? https.createServer({ cert: testCertificate.cert, key: testCertificate.key }, onRequest) : http.createServer(onRequest)
  server.keepAliveTimeout = 5000
  // For https this is the raw TCP socket, so destroying it also tears down its TLS session.
  server.on("connection", (socket: net.Socket) => trackSockets(state, socket))
  const port = await listen(server)
  const matching = (prefix: string) => state.requests.filter((r) => r.path.startsWith(prefix))
  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    get requests() {
      return state.requests
    },
    get stats() {
      return {
        open: state.sockets.size,
        opened: state.opened,
        abortedByClient: state.abortedByClient,
        maxInFlight: state.maxInFlight,
        inFlight: state.inFlight,
        bytesSent: state.bytesSent
      }
    },
    maxInFlightByHost: state.maxInFlightByHost,
    waitForClientAbort: (pathPrefix, timeoutMs = DEFAULT_WAIT_MS) =>
      waitFor(state, () => state.abortedPaths.some((p) => p.startsWith(pathPrefix)) ? true : undefined, timeoutMs, `a client abort of ${pathPrefix}`)
        .then(() => undefined),
    waitForResponseClosed: (pathPrefix, timeoutMs = DEFAULT_WAIT_MS) =>
      waitFor(state, () => state.closed.find((r) => r.path.startsWith(pathPrefix)), timeoutMs, `the response to ${pathPrefix} to close`),
    waitForRequest: (pathPrefix, count = 1, timeoutMs = DEFAULT_WAIT_MS) =>
      waitFor(state, () => matching(pathPrefix)[count - 1], timeoutMs, `request #${count} to ${pathPrefix}`),
    mount: (prefix, handler) => {
      mounts.set(prefix, handler)
      return () => void mounts.delete(prefix)
    },
    reset: () => resetState(state),
    close: () => closeServer(state, server)
  }
}
