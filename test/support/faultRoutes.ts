/**
 * The fault server's routes: each path misbehaves in one way (hangs, resets, trickles,
 * redirects in loops, fails N times, serves huge or ranged bodies). See `FaultServer.ts`.
 */
import type * as http from "node:http"
import type { RecordedRequest } from "./FaultServer.js"
import type { State } from "./faultState.js"

const CHUNK_SIZE = 64 * 1024
const X_CHUNK = Buffer.alloc(CHUNK_SIZE, "x")

// ---------------------------------------------------------------------------------------------
// Small response helpers

export interface Ctx {
  readonly req: http.IncomingMessage
  readonly res: http.ServerResponse
  readonly path: string
  readonly params: URLSearchParams
  readonly state: State
  /** The server cut this connection itself, so its close must not count as a client abort. */
  markServerKilled(): void
}

export type Handler = (ctx: Ctx) => void | Promise<void>

const intParam = (params: URLSearchParams, name: string, fallback: number): number => {
  const raw = params.get(name)
  if (raw === null || raw === "") return fallback
  const n = Number(raw)
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : fallback
}

/** Sends a complete response with Content-Length, counting its body. */
export const send = (ctx: Ctx, status: number, body: string | Buffer, headers: http.OutgoingHttpHeaders = {}): void => {
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
export const pattern = (offset: number, size: number): Buffer => {
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
  // Headers go out now, as a trickling server's do: else Node holds them until the first chunk
  // (one interval later), and a loaded test process may see a headers timeout, not a slow body.
  ctx.res.flushHeaders()
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

/** The first request per `key` hangs (a hedge's stuck loser); every later one answers "fast". */
const hangFirst: Handler = (ctx) => {
  const key = `hang-first:${ctx.params.get("key") ?? ""}`
  const calls = (ctx.state.flaky.get(key) ?? 0) + 1
  ctx.state.flaky.set(key, calls)
  if (calls > 1) send(ctx, 200, "fast")
}

/** The first request per `key` answers "slow" after `ms`; every later one (a hedge that lost) hangs. */
const hangLater: Handler = (ctx) => {
  const key = `hang-later:${ctx.params.get("key") ?? ""}`
  const calls = (ctx.state.flaky.get(key) ?? 0) + 1
  ctx.state.flaky.set(key, calls)
  if (calls === 1) later(ctx, intParam(ctx.params, "ms", 150), () => send(ctx, 200, "slow"))
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
    // Inconsistent 206s: badEnd sends one byte past the total, badLength a Content-Range one byte short of its body.
    const end = ctx.params.get("badEnd") === "1" ? size : range.end
    const length = end - range.start + 1
    const claimedEnd = ctx.params.get("badLength") === "1" ? end - 1 : end
    ctx.res.writeHead(206, { ...base, "content-length": length, "content-range": `bytes ${range.start}-${claimedEnd}/${size}` })
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

/**
 * An API that allows `limit` requests per `window` seconds (fixed windows on the real clock)
 * and says so on every answer, as the IETF draft's `RateLimit-Policy` / `RateLimit` (or, with
 * `style=x`, `X-RateLimit-*`); beyond it, 429 with `Retry-After` until the window ends.
 */
const rateLimit: Handler = (ctx) => {
  const limit = intParam(ctx.params, "limit", 100)
  const windowMs = intParam(ctx.params, "window", 1) * 1000
  const key = ctx.params.get("key") ?? ""
  const now = Date.now()
  const window = Math.floor(now / windowMs)
  let counter = ctx.state.rateLimits.get(key)
  if (counter === undefined || counter.window !== window) {
    counter = { window, used: 0 }
    ctx.state.rateLimits.set(key, counter)
  }
  const over = counter.used >= limit
  if (!over) counter.used++
  const reset = Math.max(1, Math.ceil(((window + 1) * windowMs - now) / 1000))
  const remaining = limit - counter.used
  const headers: http.OutgoingHttpHeaders = ctx.params.get("style") === "x"
    ? { "x-ratelimit-limit": String(limit), "x-ratelimit-remaining": String(remaining), "x-ratelimit-reset": String(reset) }
    : { "ratelimit-policy": `${limit};w=${windowMs / 1000}`, "ratelimit": `limit=${limit}, remaining=${remaining}, reset=${reset}` }
  if (over) send(ctx, 429, "rate limited", { ...headers, "retry-after": String(reset) })
  else send(ctx, 200, "ok", headers)
}

const echo = (recorded: RecordedRequest): Handler => (ctx) =>
  sendJson(ctx, JSON.stringify({ method: recorded.method, path: recorded.path, headers: recorded.headers, body: recorded.body }))

const routes: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ["/ok", ok],
  ["/json", (ctx) => sendJson(ctx, `{"hello":"world","n":1}`)],
  ["/health", (ctx) => sendJson(ctx, `{"status":"ok"}`)], // what `volley serve` answers, for the README's Quick start
  ["/bad-json", (ctx) => sendJson(ctx, `{"hello":`)],
  ["/hang", () => {}], // never answers; the socket stays until someone closes it
  ["/hang-body", hangBody],
  ["/reset", reset],
  ["/trickle", trickle],
  ["/flaky", flaky],
  ["/hang-first", hangFirst],
  ["/hang-later", hangLater],
  ["/redirect", redirect],
  ["/loop", (ctx) => redirectTo(ctx, "/loop2")],
  ["/loop2", (ctx) => redirectTo(ctx, "/loop")],
  ["/chain", chain],
  ["/huge", huge(false)],
  ["/huge-cl", huge(true)],
  ["/slow", slow],
  ["/range-file", rangeFile],
  ["/ratelimit", rateLimit]
])

/**
 * `/files/NAME?size=N&ms=M`: a file per name for download lists (the `/range-file` body, ETag
 * and ranges), its answer held back `ms` (default 0) so that downloads overlap.
 */
const files: Handler = (ctx) => later(ctx, intParam(ctx.params, "ms", 0), () => void rangeFile(ctx))

export const route = (pathname: string, recorded: RecordedRequest): Handler | undefined => {
  if (pathname === "/echo") return echo(recorded)
  if (pathname.startsWith("/files/")) return files
  if (pathname.startsWith("/status/")) return status
  return routes.get(pathname)
}
