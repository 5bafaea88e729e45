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
  /** Resolves with the `count`-th request (default 1st) whose path starts with `pathPrefix`. */
  waitForRequest(pathPrefix: string, count?: number, timeoutMs?: number): Promise<RecordedRequest>
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

const CHUNK_SIZE = 64 * 1024
const MAX_RECORDED_BODY = 1024 * 1024
const DEFAULT_WAIT_MS = 10_000
const X_CHUNK = Buffer.alloc(CHUNK_SIZE, "x")

// ---------------------------------------------------------------------------------------------
// State

interface Waiter {
  readonly check: () => boolean
  readonly timer: NodeJS.Timeout
  readonly reject: (error: Error) => void
}

interface State {
  readonly requests: Array<RecordedRequest>
  readonly abortedPaths: Array<string>
  readonly flaky: Map<string, number>
  readonly maxInFlightByHost: Map<string, number>
  readonly inFlightByHost: Map<string, number>
  readonly sockets: Set<net.Socket>
  /** Every pending timer (trickle, slow), so close() leaves no handles behind. */
  readonly timers: Set<NodeJS.Timeout>
  readonly waiters: Set<Waiter>
  opened: number
  abortedByClient: number
  inFlight: number
  maxInFlight: number
  bytesSent: number
  closing: boolean
}

const makeState = (): State => ({
  requests: [],
  abortedPaths: [],
  flaky: new Map(),
  maxInFlightByHost: new Map(),
  inFlightByHost: new Map(),
  sockets: new Set(),
  timers: new Set(),
  waiters: new Set(),
  opened: 0,
  abortedByClient: 0,
  inFlight: 0,
  maxInFlight: 0,
  bytesSent: 0,
  closing: false
})

/** Re-evaluates pending waiters after anything they may be waiting on changed. */
const notify = (state: State): void => {
  for (const waiter of state.waiters) {
    if (waiter.check()) {
      clearTimeout(waiter.timer)
      state.waiters.delete(waiter)
    }
  }
}

/** A promise settled by `poll` (returns a value when satisfied), or rejected after `timeoutMs`. */
const waitFor = <A>(state: State, poll: () => A | undefined, timeoutMs: number, what: string): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const now = poll()
    if (now !== undefined) return resolve(now)
    const waiter: Waiter = {
      check: () => {
        const value = poll()
        if (value === undefined) return false
        resolve(value)
        return true
      },
      timer: setTimeout(() => {
        state.waiters.delete(waiter)
        reject(new Error(`FaultServer: timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs),
      reject
    }
    state.waiters.add(waiter)
  })

// ---------------------------------------------------------------------------------------------
// Small response helpers

interface Ctx {
  readonly req: http.IncomingMessage
  readonly res: http.ServerResponse
  readonly path: string
  readonly params: URLSearchParams
  readonly state: State
  /** The server cut this connection itself, so its close must not count as a client abort. */
  markServerKilled(): void
}

type Handler = (ctx: Ctx) => void | Promise<void>

const intParam = (params: URLSearchParams, name: string, fallback: number): number => {
  const raw = params.get(name)
  if (raw === null || raw === "") return fallback
  const n = Number(raw)
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : fallback
}

/** Sends a complete response with Content-Length, counting its body. */
const send = (ctx: Ctx, status: number, body: string | Buffer, headers: http.OutgoingHttpHeaders = {}): void => {
  // 204/304 must not carry a body or a length; a client would otherwise wait for bytes that never come.
  if (status === 204 || status === 304) return void ctx.res.writeHead(status, headers).end()
  const bytes = typeof body === "string" ? Buffer.from(body) : body
  ctx.res.writeHead(status, { "content-type": "text/plain", ...headers, "content-length": bytes.length })
  ctx.state.bytesSent += bytes.length
  ctx.res.end(bytes)
}

const sendJson = (ctx: Ctx, body: string): void => send(ctx, 200, body, { "content-type": "application/json" })

/** Runs `fn` after `ms` real milliseconds unless the response closed first (or the server closes). */
const later = (ctx: Ctx, ms: number, fn: () => void): void => {
  const timer = setTimeout(() => {
    ctx.state.timers.delete(timer)
    ctx.res.off("close", cancel)
    fn()
  }, ms)
  const cancel = () => {
    clearTimeout(timer)
    ctx.state.timers.delete(timer)
  }
  ctx.state.timers.add(timer)
  ctx.res.once("close", cancel)
}

/** Resolves on the next 'drain' or when the response closes (a gone client never drains). */
const drainedOrClosed = (res: http.ServerResponse): Promise<void> =>
  new Promise((resolve) => {
    const done = () => {
      res.off("drain", done)
      res.off("close", done)
      resolve()
    }
    res.on("drain", done)
    res.on("close", done)
  })

/** Writes `chunk`, resolving once it reached the socket (or the response closed). */
const writeFlushed = (res: http.ServerResponse, chunk: Buffer): Promise<void> =>
  new Promise((resolve) => {
    const done = () => {
      res.off("close", done)
      resolve()
    }
    res.on("close", done)
    res.write(chunk, done)
  })

/**
 * Streams `length` bytes made by `fill(offset, size)` in 64 KiB chunks, honouring backpressure.
 * The last chunk is awaited until flushed, so a following reset/destroy doesn't discard it.
 * Returns false when the client went away before everything was written.
 */
const pump = async (ctx: Ctx, length: number, fill: (offset: number, size: number) => Buffer): Promise<boolean> => {
  const { res, state } = ctx
  let offset = 0
  while (offset < length) {
    if (res.destroyed) return false
    const size = Math.min(CHUNK_SIZE, length - offset)
    const chunk = fill(offset, size)
    state.bytesSent += size
    offset += size
    if (offset >= length) await writeFlushed(res, chunk)
    else if (!res.write(chunk)) await drainedOrClosed(res)
  }
  return !res.destroyed
}

const xs = (_offset: number, size: number): Buffer => size === CHUNK_SIZE ? X_CHUNK : X_CHUNK.subarray(0, size)

/** The range-file's content: byte i is i % 251 (a prime, so chunk boundaries never line up). */
const pattern = (offset: number, size: number): Buffer => {
  const chunk = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) chunk[i] = (offset + i) % 251
  return chunk
}

/** Cuts the connection with a TCP RST where possible (TLS sockets can't, so they just close). */
const resetSocket = (ctx: Ctx): void => {
  ctx.markServerKilled()
  const socket = ctx.res.socket ?? ctx.req.socket
  try {
    socket.resetAndDestroy()
  } catch {
    socket.destroy()
  }
}

// ---------------------------------------------------------------------------------------------
// Routes

const ok: Handler = (ctx) => {
  const size = ctx.params.get("size")
  send(ctx, 200, size === null ? "ok" : Buffer.alloc(intParam(ctx.params, "size", 0), "x"))
}

const status: Handler = (ctx) => {
  const code = Number(ctx.path.slice("/status/".length))
  if (!Number.isInteger(code) || code < 200 || code > 599) return send(ctx, 400, "bad status code")
  const retryAfter = ctx.params.get("retryAfter")
  const headers: http.OutgoingHttpHeaders = retryAfter === null ? {} : { "retry-after": retryAfter }
  const bodySize = ctx.params.get("bodySize")
  const body = bodySize !== null
    ? Buffer.alloc(intParam(ctx.params, "bodySize", 0), "e")
    : ctx.params.get("body") ?? `status ${code}`
  send(ctx, code, body, headers)
}

/** Answers headers, a few body bytes, then neither ends nor closes. */
const hangBody: Handler = async (ctx) => {
  const size = intParam(ctx.params, "size", 100_000)
  ctx.res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size })
  ctx.res.flushHeaders() // headers go out even when no body bytes follow
  await pump(ctx, Math.min(intParam(ctx.params, "sent", 10), size), xs)
}

const reset: Handler = async (ctx) => {
  const size = intParam(ctx.params, "size", 100_000)
  ctx.res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size })
  ctx.res.flushHeaders() // headers go out even when no body bytes follow
  const sent = await pump(ctx, Math.min(intParam(ctx.params, "after", 1000), size), xs)
  if (sent) resetSocket(ctx)
}

const trickle: Handler = (ctx) => {
  const chunks = intParam(ctx.params, "chunks", 5)
  const interval = intParam(ctx.params, "interval", 50)
  const chunk = Buffer.alloc(intParam(ctx.params, "chunkSize", 10), "t")
  ctx.res.writeHead(200, { "content-type": "text/plain" }) // no length: chunked
  const tick = (remaining: number): void => {
    if (remaining === 0) return void ctx.res.end()
    ctx.state.bytesSent += chunk.length
    ctx.res.write(chunk)
    later(ctx, interval, () => tick(remaining - 1))
  }
  later(ctx, interval, () => tick(chunks))
}

const flaky: Handler = (ctx) => {
  const key = ctx.params.get("key") ?? ""
  const failures = intParam(ctx.params, "failures", 1)
  const calls = (ctx.state.flaky.get(key) ?? 0) + 1
  ctx.state.flaky.set(key, calls)
  if (calls > failures) return send(ctx, 200, `ok after ${failures}`)
  const code = intParam(ctx.params, "status", 503)
  const retryAfter = ctx.params.get("retryAfter")
  send(ctx, code, `failure ${calls} of ${failures}`, retryAfter === null ? {} : { "retry-after": retryAfter })
}

const redirectTo = (ctx: Ctx, location: string, code = 302): void => send(ctx, code, "", { location })

const redirect: Handler = (ctx) => redirectTo(ctx, ctx.params.get("to") ?? "/ok", intParam(ctx.params, "status", 302))

const chain: Handler = (ctx) => {
  const n = intParam(ctx.params, "n", 0)
  if (n <= 0) return send(ctx, 200, "end")
  redirectTo(ctx, `/chain?n=${n - 1}`)
}

/** Streams a big body (chunked, or with Content-Length) until done or the client leaves. */
const huge = (withLength: boolean): Handler => async (ctx) => {
  const size = intParam(ctx.params, "size", 256 * 1024 * 1024)
  ctx.res.writeHead(200, {
    "content-type": "application/octet-stream",
    ...(withLength ? { "content-length": size } : {})
  })
  if (await pump(ctx, size, xs)) ctx.res.end()
}

const slow: Handler = (ctx) => {
  const size = ctx.params.get("size")
  later(ctx, intParam(ctx.params, "ms", 100), () => {
    send(ctx, 200, size === null ? "ok" : Buffer.alloc(intParam(ctx.params, "size", 0), "x"))
  })
}

/** Parses `bytes=a-` / `bytes=a-b` into an inclusive range; undefined when absent or malformed. */
const parseRange = (header: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | undefined => {
  const match = header === undefined ? null : /^bytes=(\d+)-(\d*)$/.exec(header.trim())
  if (match === null) return undefined
  const start = Number(match[1])
  const end = match[2] === undefined || match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1)
  return start >= size || end < start ? "unsatisfiable" : { start, end }
}

const rangeFile: Handler = async (ctx) => {
  const size = intParam(ctx.params, "size", 100_000)
  const etag = `"${ctx.params.get("etag") ?? "v1"}"`
  const ifRange = ctx.req.headers["if-range"]
  const honour = ctx.params.get("ignoreRange") !== "1" && (ifRange === undefined || ifRange === etag)
  const range = honour ? parseRange(ctx.req.headers.range, size) : undefined
  const disposition = ctx.params.get("cd")
  const base = {
    "content-type": "application/octet-stream",
    etag,
    "accept-ranges": "bytes",
    ...(disposition !== null ? { "content-disposition": disposition } : {})
  }
  if (range === "unsatisfiable") return send(ctx, 416, "", { ...base, "content-range": `bytes */${size}` })
  if (range !== undefined) {
    const length = range.end - range.start + 1
    ctx.res.writeHead(206, { ...base, "content-length": length, "content-range": `bytes ${range.start}-${range.end}/${size}` })
    if (await pump(ctx, length, (offset, n) => pattern(range.start + offset, n))) ctx.res.end()
    return
  }
  ctx.res.writeHead(200, { ...base, "content-length": size })
  // resetAfter only applies to full responses, so a resumed (ranged) request can succeed.
  const cut = ctx.req.headers.range === undefined ? ctx.params.get("resetAfter") : null
  if (cut === null) {
    if (await pump(ctx, size, pattern)) ctx.res.end()
    return
  }
  if (await pump(ctx, Math.min(intParam(ctx.params, "resetAfter", 0), size), pattern)) {
    ctx.markServerKilled()
    ctx.res.socket?.destroy()
  }
}

const echo = (recorded: RecordedRequest): Handler => (ctx) =>
  sendJson(ctx, JSON.stringify({ method: recorded.method, path: recorded.path, headers: recorded.headers, body: recorded.body }))

const routes: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ["/ok", ok],
  ["/json", (ctx) => sendJson(ctx, `{"hello":"world","n":1}`)],
  ["/bad-json", (ctx) => sendJson(ctx, `{"hello":`)],
  ["/hang", () => {}], // never answers; the socket stays until someone closes it
  ["/hang-body", hangBody],
  ["/reset", reset],
  ["/trickle", trickle],
  ["/flaky", flaky],
  ["/redirect", redirect],
  ["/loop", (ctx) => redirectTo(ctx, "/loop2")],
  ["/loop2", (ctx) => redirectTo(ctx, "/loop")],
  ["/chain", chain],
  ["/huge", huge(false)],
  ["/huge-cl", huge(true)],
  ["/slow", slow],
  ["/range-file", rangeFile]
])

const route = (pathname: string, recorded: RecordedRequest): Handler | undefined => {
  if (pathname === "/echo") return echo(recorded)
  if (pathname.startsWith("/status/")) return status
  return routes.get(pathname)
}

// ---------------------------------------------------------------------------------------------
// Request lifecycle: in-flight accounting, abort detection, body recording

const trackInFlight = (state: State, req: http.IncomingMessage, res: http.ServerResponse, isServerKilled: () => boolean): void => {
  const host = req.headers.host ?? ""
  const hostCount = (state.inFlightByHost.get(host) ?? 0) + 1
  state.inFlightByHost.set(host, hostCount)
  state.maxInFlightByHost.set(host, Math.max(state.maxInFlightByHost.get(host) ?? 0, hostCount))
  state.inFlight += 1
  state.maxInFlight = Math.max(state.maxInFlight, state.inFlight)
  // 'close' fires once per response: after 'finish' normally, or when the socket died first.
  res.once("close", () => {
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

const handleRequest = async (state: State, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
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
  const handler = route(url.pathname, recorded)
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
  state.abortedPaths.length = 0
  state.flaky.clear()
  state.maxInFlightByHost.clear()
  state.opened = 0
  state.abortedByClient = 0
  state.maxInFlight = state.inFlight
  state.bytesSent = 0
}

export const startFaultServer = async (options?: { readonly tls?: boolean }): Promise<FaultServer> => {
  const tls = options?.tls === true
  const state = makeState()
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handleRequest(state, req, res).catch(() => res.destroy())
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
    waitForRequest: (pathPrefix, count = 1, timeoutMs = DEFAULT_WAIT_MS) =>
      waitFor(state, () => matching(pathPrefix)[count - 1], timeoutMs, `request #${count} to ${pathPrefix}`),
    reset: () => resetState(state),
    close: () => closeServer(state, server)
  }
}
