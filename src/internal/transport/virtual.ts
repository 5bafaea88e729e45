/**
 * The simulated transport behind `volley/testing`: route matching, replies in virtual time,
 * pull-based bodies that follow a timeline on the Clock, and the request log.
 *
 * Bodies are computed, not pushed: at the moment the headers are handed back, each body step
 * gets the Clock time at which it "arrives". `poll` hands out what is due by now and `wait`
 * sleeps until the next step is due. Nothing runs in the background, so a released body
 * stops by construction and nothing can leak past a test.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { NetworkError } from "../../Errors.js"
import type * as Testing from "../../Testing.js"
import { compilePattern, compileRoutes, type CompiledRoute, isFailure, type Params, resolveReply, type Target } from "./virtualRoutes.js"
import { type Entry, makeBody, makeSleepUntil, networkError, type Recorder, split, timeline, toBytes, toMs } from "./virtualBody.js"
import { within } from "./timer.js"
import type { Timeout, Transport, TransportBody, TransportRequest, TransportResponse } from "../../Transport.js"

// ---- records -------------------------------------------------------------------------------------


const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8")


interface RequestBody {
  readonly bytes: Uint8Array
  readonly streamed: boolean
}

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

/** Reads the request body as a server would; a one-shot stream is consumed here. */
const readRequestBody = (request: TransportRequest, body: TransportBody | undefined): Effect.Effect<RequestBody | undefined, NetworkError> => {
  if (body === undefined) return Effect.succeed(undefined)
  if (typeof body === "string") return Effect.succeed({ bytes: encoder.encode(body), streamed: false })
  if (body instanceof Uint8Array) return Effect.succeed({ bytes: body, streamed: false })
  return Effect.tryPromise({
    try: async (signal) => {
      const chunks: Array<Uint8Array> = []
      for await (const chunk of body) {
        if (signal.aborted) break
        chunks.push(typeof chunk === "string" ? encoder.encode(chunk) : chunk)
      }
      return { bytes: concat(chunks), streamed: true }
    },
    catch: (cause) => new NetworkError({ reason: "Other", method: request.method, url: request.redactedUrl, cause })
  })
}

// ---- the transport -------------------------------------------------------------------------------

const snapshot = (entry: Entry): Testing.RecordedRequest => Object.freeze({ ...entry })

/** A record as patterns see it: its URL parsed once, a fresh copy for each predicate call. */
const targetOf = (entry: Entry, url: URL): Target => ({
  method: entry.method,
  url,
  info: () => ({ method: entry.method, url: new URL(entry.url), headers: entry.headers, body: entry.body })
})

const lowerCase = (headers: Readonly<Record<string, string>> | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  if (headers !== undefined) for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value
  return out
}

/** Builds the transport and its log over a route table. */
export const make = (routes: Testing.Routes): Testing.TestTransportService => {
  const compiled = compileRoutes(routes)
  const routeList = compiled.length > 0 ? ` (routes: ${compiled.map((r) => r.name).join(", ")})` : " (no routes)"
  const sleepUntil = makeSleepUntil()
  let entries: Array<Entry> = []
  /** Each record's URL, parsed once (index for index with `entries`), for log queries. */
  let targets: Array<Target> = []
  /** Arrivals (+1) and ends (-1) in order, for in-flight maxima over any subset. */
  let events: Array<{ readonly id: number; readonly delta: 1 | -1 }> = []
  let nextId = 1
  let inFlight = 0
  let maxInFlight = 0
  /** `awaitRequests` callers, fewest requests awaited first: an arrival looks only at the head. */
  let waiters: Array<{ readonly count: number; readonly resume: () => void }> = []

  const recorder: Recorder = {
    end: (entry, at) => {
      if (entry.endedAt !== undefined) return
      entry.endedAt = at
      inFlight--
      events.push({ id: entry.id, delta: -1 })
    }
  }

  const arrive = (request: TransportRequest, at: number): Entry => {
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    const entry: Entry = {
      id: nextId++,
      method: request.method,
      url: request.url.href,
      path: request.url.pathname + request.url.search,
      headers: { ...request.headers },
      body: undefined,
      streamedBody: false,
      route: undefined,
      at,
      respondedAt: undefined,
      endedAt: undefined,
      status: undefined,
      error: undefined,
      interrupted: false,
      responseBody: "none",
      bytesRead: 0,
      concurrent: inFlight
    }
    entries.push(entry)
    targets.push(targetOf(entry, new URL(entry.url)))
    events.push({ id: entry.id, delta: 1 })
    let ready = 0
    while (ready < waiters.length && waiters[ready]!.count <= entries.length) ready++
    if (ready > 0) for (const waiter of waiters.splice(0, ready)) waiter.resume()
    return entry
  }

  const unmatchedReply = (request: TransportRequest): Testing.ResponseSpec => ({
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8", "x-volley-testing": "unmatched" },
    body: `volley/testing: no route matches ${request.method} ${request.redactedUrl}${routeList}`
  })

  const respond = (entry: Entry, request: TransportRequest, spec: Testing.ResponseSpec, clock: Clock.Clock): TransportResponse => {
    const at = clock.unsafeCurrentTimeMillis()
    const status = spec.status ?? 200
    const headers = lowerCase(spec.headers)
    let steps: ReadonlyArray<Testing.BodyStep>
    if (spec.body !== undefined && typeof spec.body !== "string" && !(spec.body instanceof Uint8Array)) {
      steps = spec.body
    } else {
      const whole = spec.body !== undefined ? toBytes(spec.body) : spec.json !== undefined ? encoder.encode(JSON.stringify(spec.json)) : new Uint8Array(0)
      if (spec.body === undefined && spec.json !== undefined) headers["content-type"] ??= "application/json"
      headers["content-length"] ??= String(whole.length)
      steps = split(whole)
    }
    // A HEAD response announces a length but carries no body.
    if (request.method.toUpperCase() === "HEAD") steps = []
    const declared = headers["content-length"] === undefined ? NaN : Number(headers["content-length"])
    const contentLength = Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined
    entry.respondedAt = at
    entry.status = status
    entry.responseBody = "open"
    return { status, headers, body: makeBody(entry, request, timeline(steps, at), contentLength, clock, recorder, sleepUntil) }
  }

  const send = (
    request: TransportRequest,
    timeout: Timeout | undefined,
    received?: (response: TransportResponse) => void
  ): Effect.Effect<TransportResponse, NetworkError> =>
    timeout === undefined ? exchange(request, received) : within(exchange(request, received), timeout.ms, timeout.error, timeout.timer)

  const exchange = (request: TransportRequest, received?: (response: TransportResponse) => void): Effect.Effect<TransportResponse, NetworkError> =>
    Effect.clockWith((clock) => {
      const entry = arrive(request, clock.unsafeCurrentTimeMillis())
      let answered = false
      const work = Effect.gen(function*() {
        const body = yield* readRequestBody(request, request.body)
        entry.body = body === undefined ? undefined : decoder.decode(body.bytes)
        entry.streamedBody = body?.streamed ?? false
        const info: Testing.RequestInfo = { method: request.method, url: new URL(request.url.href), headers: entry.headers, body: entry.body }
        const target: Target = { method: info.method, url: info.url, info: () => info }
        let reply: Testing.Reply
        let latency: Duration.DurationInput | undefined
        let route: CompiledRoute | undefined
        let params: Params | undefined
        for (const candidate of compiled) {
          params = candidate.matcher.match(target)
          if (params !== undefined) {
            route = candidate
            break
          }
        }
        if (route === undefined || params === undefined) {
          reply = unmatchedReply(request)
        } else {
          entry.route = route.name
          const call = route.calls++
          reply = yield* resolveReply(route.handler, { ...info, bodyBytes: body?.bytes, params, call, id: entry.id })
          latency = route.latency
        }
        const wait = toMs(reply.latency ?? latency)
        if (wait > 0) yield* sleepUntil(clock, clock.unsafeCurrentTimeMillis() + wait)
        if (isFailure(reply)) {
          const error = networkError(request, reply.fail, reply.phase, reply.code)
          entry.error = error
          recorder.end(entry, clock.unsafeCurrentTimeMillis())
          return yield* Effect.fail(error)
        }
        answered = true
        const response = respond(entry, request, reply, clock)
        received?.(response)
        return response
      })
      return Effect.onInterrupt(work, () =>
        Effect.sync(() => {
          if (answered) return
          entry.interrupted = true
          recorder.end(entry, clock.unsafeCurrentTimeMillis())
        }))
    })

  const select = (pattern: Testing.UrlPattern, method?: string): Array<Entry> => {
    const matcher = compilePattern(pattern, method)
    return entries.filter((_, i) => matcher.match(targets[i]!) !== undefined)
  }

  const maxOver = (ids: ReadonlySet<number>): number => {
    let current = 0
    let max = 0
    for (const event of events) {
      if (!ids.has(event.id)) continue
      current += event.delta
      max = Math.max(max, current)
    }
    return max
  }

  return {
    transport: { send } satisfies Transport,
    requests: Effect.sync(() => entries.map(snapshot)),
    requestsTo: (pattern, method) => Effect.sync(() => select(pattern, method).map(snapshot)),
    unmatched: Effect.sync(() => entries.filter((e) => e.route === undefined && e.status === 404).map(snapshot)),
    inFlight: Effect.sync(() => inFlight),
    maxInFlight: Effect.sync(() => maxInFlight),
    maxInFlightTo: (pattern, method) => Effect.sync(() => maxOver(new Set(select(pattern, method).map((e) => e.id)))),
    awaitRequests: (count) =>
      Effect.async<void>((resume) => {
        if (entries.length >= count) return resume(Effect.void)
        const waiter = { count, resume: () => resume(Effect.void) }
        const at = waiters.findIndex((w) => w.count > count)
        waiters.splice(at === -1 ? waiters.length : at, 0, waiter)
        return Effect.sync(() => {
          waiters = waiters.filter((w) => w !== waiter)
        })
      }),
    reset: Effect.sync(() => {
      // Exchanges still in flight stay counted, but their records are forgotten.
      entries = []
      targets = []
      events = []
      maxInFlight = inFlight
      for (const route of compiled) route.calls = 0
    })
  }
}
