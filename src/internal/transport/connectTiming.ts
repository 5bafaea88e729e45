/**
 * How long a new connection took to open, for the request that opened it, from undici's
 * diagnostics channels (`undici:client:beforeConnect` / `connected` / `sendHeaders`): the
 * handler API never sees the socket. Channels are subscribed once, on first use; when
 * nothing here can be matched (another undici version), requests simply carry no connect time.
 *
 * The request is matched to its exchange by order, not through undici's request object: the
 * handler undici holds is a wrapper (undici wraps handlers of the current API; a composed
 * interceptor wraps them again), so the exchange announces itself (`starting`) from
 * `onRequestStart`, which undici calls in the same synchronous step that writes the headers and
 * publishes `sendHeaders` (HTTP/1.1 and HTTP/2).
 */
import * as diagnostics from "node:diagnostics_channel"

/** What the undici transport's exchange exposes to be told its connect time. */
export interface ConnectTimed {
  connectMs: number | undefined
}

let installed = false
/** The exchange whose headers undici is writing now (set by `starting`, taken by sendHeaders). */
let current: ConnectTimed | undefined

/** Called by an exchange as undici starts writing its request. */
export const starting = (exchange: ConnectTimed): void => {
  current = exchange
}

/** Subscribes to undici's channels (idempotent). */
export const install = (): void => {
  if (installed) return
  installed = true
  // Connects started, per host:port, oldest first: undici passes a fresh params object to
  // each channel, so a connect is matched to the oldest one pending for its origin (exact
  // unless two connects to one origin finish out of order; then each is off by the gap).
  const started = new Map<string, Array<number>>()
  const key = (params: { host?: unknown; hostname?: unknown; port?: unknown } | undefined) =>
    params === undefined ? "" : `${String(params.hostname ?? params.host)}:${String(params.port)}`
  // A new socket's connect time, until its first request is sent.
  const fresh = new WeakMap<object, number>()
  type Params = { host?: unknown; hostname?: unknown; port?: unknown }
  diagnostics.subscribe("undici:client:beforeConnect", (message) => {
    const k = key((message as { connectParams?: Params }).connectParams)
    const pending = started.get(k)
    if (pending === undefined) started.set(k, [performance.now()])
    else pending.push(performance.now())
  })
  const settle = (message: unknown, socket: object | undefined) => {
    const k = key((message as { connectParams?: Params }).connectParams)
    const pending = started.get(k)
    const at = pending?.shift()
    if (pending !== undefined && pending.length === 0) started.delete(k)
    if (at !== undefined && socket !== undefined) fresh.set(socket, performance.now() - at)
  }
  diagnostics.subscribe("undici:client:connected", (message) => settle(message, (message as { socket?: object }).socket))
  diagnostics.subscribe("undici:client:connectError", (message) => settle(message, undefined))
  diagnostics.subscribe("undici:client:sendHeaders", (message) => {
    // Taken even when unused: a stale exchange (aborted before its headers were written) must
    // not receive the time of another dispatcher's request.
    const exchange = current
    current = undefined
    const { socket } = message as { socket?: object }
    if (socket === undefined) return
    const ms = fresh.get(socket)
    if (ms === undefined) return
    fresh.delete(socket)
    if (exchange !== undefined) exchange.connectMs = ms
  })
}
