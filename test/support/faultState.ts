/**
 * The fault server's state: what it recorded and counted, and the waiters that resolve when
 * a recorded fact appears (see `FaultServer.ts`).
 */
import type * as net from "node:net"
import type { RecordedRequest } from "./FaultServer.js"

// ---------------------------------------------------------------------------------------------
// State

interface Waiter {
  readonly check: () => boolean
  readonly timer: NodeJS.Timeout
  readonly reject: (error: Error) => void
}

/** A response once it closed: the bytes its socket took for it (headers included), and whether it ended. */
export interface ClosedResponse {
  readonly path: string
  readonly bytesWritten: number
  readonly finished: boolean
}

export interface State {
  readonly requests: Array<RecordedRequest>
  readonly closed: Array<ClosedResponse>
  readonly abortedPaths: Array<string>
  readonly flaky: Map<string, number>
  /** `/ratelimit`'s fixed windows, per `key` parameter: the window number and requests let through in it. */
  readonly rateLimits: Map<string, { window: number; used: number }>
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

export const makeState = (): State => ({
  requests: [],
  closed: [],
  abortedPaths: [],
  flaky: new Map(),
  rateLimits: new Map(),
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
export const notify = (state: State): void => {
  for (const waiter of state.waiters) {
    if (waiter.check()) {
      clearTimeout(waiter.timer)
      state.waiters.delete(waiter)
    }
  }
}

/** A promise settled by `poll` (returns a value when satisfied), or rejected after `timeoutMs`. */
export const waitFor = <A>(state: State, poll: () => A | undefined, timeoutMs: number, what: string): Promise<A> =>
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
