/**
 * The virtual transport's response bodies: each body's steps laid out on the clock when the
 * headers arrive, pulled with the same poll/wait/release rules as the undici transport, and
 * the network errors it simulates.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { BodySource, Timeout, TransportRequest } from "../../Transport.js"
import { NetworkError, type NetworkReason, type TimeoutPhase } from "../../Errors.js"
import type * as Testing from "../../Testing.js"
import { millisOr } from "../duration.js"
import { within } from "./timer.js"
import { drainLimit } from "./transport.js"

// ---- errors ------------------------------------------------------------------------------------

export const defaultCode = (reason: NetworkReason, phase: TimeoutPhase | undefined): string | undefined => {
  switch (reason) {
    case "ConnectionRefused":
      return "ECONNREFUSED"
    case "ConnectionReset":
      return "ECONNRESET"
    case "DnsLookup":
      return "ENOTFOUND"
    case "Tls":
      return "DEPTH_ZERO_SELF_SIGNED_CERT"
    case "Protocol":
      return "HPE_INVALID_CONSTANT"
    case "Aborted":
      return "UND_ERR_ABORTED"
    case "Timeout":
      return phase === "connect" ? "UND_ERR_CONNECT_TIMEOUT" : phase === "headers" ? "UND_ERR_HEADERS_TIMEOUT" : phase === "body" ? "UND_ERR_BODY_TIMEOUT" : undefined
    case "ContentDecoding":
      return "Z_DATA_ERROR"
    case "Proxy":
      return "UND_ERR_PRX_TLS"
    case "Other":
      return undefined
  }
}

export const networkError = (request: TransportRequest, reason: NetworkReason, phase: TimeoutPhase | undefined, code: string | undefined) => {
  const effectivePhase = reason === "Timeout" ? phase ?? "connect" : undefined
  return new NetworkError({
    reason,
    phase: effectivePhase,
    code: code ?? defaultCode(reason, effectivePhase),
    method: request.method,
    url: request.redactedUrl
  })
}

// ---- records ----

export type Mutable<T> = { -readonly [K in keyof T]: T[K] }
export type Entry = Mutable<Testing.RecordedRequest>
/** A latency or pause in ms: 0 when not given or not a positive, finite duration. */
export const toMs = (input: Duration.DurationInput | undefined): number => millisOr(input, 0) ?? 0

export const encoder = new TextEncoder()

// ---- response bodies -------------------------------------------------------------------------------

export type BodyEvent =
  | { readonly at: number; readonly kind: "chunk"; readonly data: Uint8Array }
  | { readonly at: number; readonly kind: "end" }
  | { readonly at: number; readonly kind: "stall" }
  | { readonly at: number; readonly kind: "fail"; readonly reason: NetworkReason; readonly code: string | undefined }

export const toBytes = (data: string | Uint8Array): Uint8Array => (typeof data === "string" ? encoder.encode(data) : data)

/** A whole body arrives at once, in socket-sized chunks as a real transport hands it over. */
export const wholeChunkSize = 64 * 1024
export const split = (whole: Uint8Array): Array<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  for (let offset = 0; offset < whole.length; offset += wholeChunkSize) chunks.push(whole.subarray(offset, offset + wholeChunkSize))
  return chunks
}

/** Lays the body's steps out on the clock, starting when the headers arrive. */
export const timeline = (steps: ReadonlyArray<Testing.BodyStep>, start: number): Array<BodyEvent> => {
  const events: Array<BodyEvent> = []
  let at = start
  for (const step of steps) {
    if (typeof step === "string" || step instanceof Uint8Array) {
      events.push({ at, kind: "chunk", data: toBytes(step) })
      continue
    }
    switch (step._tag) {
      case "Pause":
        at += toMs(step.duration)
        break
      case "Stall":
        events.push({ at, kind: "stall" })
        return events
      case "Fail":
        events.push({ at, kind: "fail", reason: step.reason, code: step.code })
        return events
    }
  }
  events.push({ at, kind: "end" })
  return events
}

export interface Recorder {
  readonly end: (entry: Entry, at: number) => void
}

// ---- shared sleeps -----------------------------------------------------------------------------

/** Suspends until the clock reads at least `at` (Clock milliseconds). */
export type SleepUntil = (clock: Clock.Clock, at: number) => Effect.Effect<void>

export interface Alarm {
  /** A fiber is sleeping on the clock for this instant on behalf of everyone. */
  driven: boolean
  /** The others, woken with `true` when the instant came, `false` when the sleeper left first. */
  readonly sleepers: Set<(reached: boolean) => void>
}

/**
 * Sleeps that share one Clock sleep per instant: the first exchange to wait for an instant
 * sleeps on the clock, and every other one waiting for the same instant waits for it.
 *
 * Why: `TestClock` fires its timers one at a time and lets the fibers settle between any
 * two (a few event-loop turns each), so 10,000 requests answering after the same latency
 * cost 10,000 of those pauses in wall time; shared, they cost one per distinct instant.
 * Nothing runs in the background: if the sleeping fiber is interrupted (its exchange timed
 * out), the others wake and one of them takes over the sleep, so an interruption still
 * reaches exactly the exchange it was meant for.
 */
export const makeSleepUntil = (): SleepUntil => {
  const byClock = new WeakMap<Clock.Clock, Map<number, Alarm>>()
  const sleepUntil: SleepUntil = (clock, at) =>
    Effect.suspend(() => {
      const delay = at - clock.unsafeCurrentTimeMillis()
      if (delay <= 0) return Effect.void
      let alarms = byClock.get(clock)
      if (alarms === undefined) {
        alarms = new Map()
        byClock.set(clock, alarms)
      }
      const table = alarms
      let alarm = table.get(at)
      if (alarm === undefined) {
        alarm = { driven: false, sleepers: new Set() }
        table.set(at, alarm)
      }
      const own = alarm
      if (!own.driven) {
        own.driven = true
        return Effect.onExit(clock.sleep(Duration.millis(delay)), (exit) =>
          Effect.sync(() => {
            if (table.get(at) === own) table.delete(at)
            const reached = Exit.isSuccess(exit)
            const woken = Array.from(own.sleepers)
            own.sleepers.clear()
            for (const wake of woken) wake(reached)
          }))
      }
      return Effect.flatMap(
        Effect.async<boolean>((resume) => {
          const wake = (reached: boolean) => resume(Effect.succeed(reached))
          own.sleepers.add(wake)
          return Effect.sync(() => {
            own.sleepers.delete(wake)
          })
        }),
        (reached) => (reached ? Effect.void : sleepUntil(clock, at))
      )
    })
  return sleepUntil
}

/**
 * A body that follows its timeline on `clock`, with the same poll/wait/release semantics as
 * the undici transport: `poll` hands out what has arrived (`null` at the end, `undefined`
 * when nothing has yet, or after a failure), `wait` suspends until the next step is due, and
 * `release` ends it once, drained when at most `drainLimit` bytes are still to come.
 */
export const makeBody = (
  entry: Entry,
  request: TransportRequest,
  events: ReadonlyArray<BodyEvent>,
  contentLength: number | undefined,
  clock: Clock.Clock,
  recorder: Recorder,
  sleepUntil: SleepUntil
): BodySource => {
  let index = 0
  let error: NetworkError | undefined
  let released = false
  let ended = false
  const now = () => clock.unsafeCurrentTimeMillis()
  const finish = (fate: Testing.BodyFate) => {
    if (ended) return
    ended = true
    entry.responseBody = fate
    recorder.end(entry, now())
  }
  const failWith = (event: Extract<BodyEvent, { kind: "fail" }>): NetworkError => {
    error = networkError(request, event.reason, "body", event.code)
    entry.error = error
    finish("failed")
    return error
  }
  const markInterrupted = Effect.sync(() => {
    entry.interrupted = true
  })
  const poll = (): Uint8Array | null | undefined => {
    if (released || error !== undefined) return undefined
    const event = events[index]
    if (event === undefined || event.at > now()) return undefined
    switch (event.kind) {
      case "chunk":
        index++
        entry.bytesRead += event.data.length
        return event.data
      case "end":
        finish("consumed")
        return null
      case "stall":
        return undefined
      case "fail":
        failWith(event)
        return undefined
    }
  }
  const arrival: Effect.Effect<void, NetworkError> = Effect.suspend(() => {
    if (error !== undefined) return Effect.fail(error)
    if (released || ended) return Effect.void
    const event = events[index]
    if (event === undefined) return Effect.void
    if (event.at > now()) return Effect.onInterrupt(sleepUntil(clock, event.at), () => markInterrupted)
    switch (event.kind) {
      case "chunk":
      case "end":
        return Effect.void
      case "stall":
        return Effect.onInterrupt(Effect.never, () => markInterrupted)
      case "fail":
        return Effect.fail(failWith(event))
    }
  })
  const release = (abort: boolean): void => {
    if (released) return
    released = true
    if (ended) return
    // What a real connection would still have to read: steps not yet arrived by now.
    const t = now()
    let remaining = 0
    let clean = true
    for (let i = index; i < events.length; i++) {
      const event = events[i]!
      if (event.kind === "chunk") {
        if (event.at > t) remaining += event.data.length
      } else if (event.kind !== "end") {
        clean = false
      }
    }
    finish(!abort && clean && remaining <= drainLimit ? "drained" : "aborted")
  }
  // Bounded as every wait is: by the client's timeout, on the clock's timer source.
  const wait = (timeout: Timeout | undefined): Effect.Effect<void, NetworkError> =>
    timeout === undefined ? arrival : within(arrival, timeout.ms, timeout.error, timeout.timer)
  return { contentLength, poll, wait, release }
}
