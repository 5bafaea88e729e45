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
import * as Exit from "effect/Exit"
import { NetworkError, type NetworkReason, type TimeoutPhase } from "../../Errors.js"
import type * as Testing from "../../Testing.js"
import { millisOr } from "../duration.js"
import { within } from "./timer.js"
import type { BodySource, Timeout, Transport, TransportBody, TransportRequest, TransportResponse } from "../../Client.js"
import { drainLimit } from "./transport.js"

type Params = Record<string, string>

/**
 * What a pattern is matched against: the method and a parsed URL that only the matchers
 * read, plus the {@link Testing.RequestInfo} a predicate gets, made on demand. Why: the log
 * keeps one parsed URL per record, so `requestsTo` over 10,000 records parses none, while a
 * user predicate still gets a URL of its own that it cannot spoil the log with.
 */
export interface Target {
  readonly method: string
  readonly url: URL
  readonly info: () => Testing.RequestInfo
}

/** A compiled pattern: the params when it matches, `undefined` when not. */
interface Matcher {
  readonly label: string
  readonly match: (target: Target) => Params | undefined
}

const methodPrefix = /^([A-Za-z]+|\*)\s+(\S.*)$/

const safeDecode = (segment: string): string => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

const matchPath = (pattern: ReadonlyArray<string>, pathname: string): Params | undefined => {
  const actual = pathname.split("/")
  const params: Params = {}
  for (let i = 0; i < pattern.length; i++) {
    const segment = pattern[i]!
    if (segment === "*" && i === pattern.length - 1) {
      params["*"] = actual.slice(i).map(safeDecode).join("/")
      return params
    }
    const got = actual[i]
    if (got === undefined) return undefined
    if (segment.startsWith(":") && segment.length > 1) {
      if (got === "") return undefined
      params[segment.slice(1)] = safeDecode(got)
    } else if (segment !== got && segment !== safeDecode(got)) {
      return undefined
    }
  }
  return pattern.length === actual.length ? params : undefined
}

const matchQuery = (required: URLSearchParams | undefined, actual: URLSearchParams): boolean => {
  if (required === undefined) return true
  for (const [name, value] of required) {
    if (!actual.getAll(name).includes(value)) return false
  }
  return true
}

/** Compiles a string, RegExp or predicate pattern, optionally restricted to a method. */
export const compilePattern = (pattern: Testing.UrlPattern, method?: string): Matcher => {
  let wanted = method?.toUpperCase()
  if (typeof pattern === "function") {
    return withMethod(wanted, { label: pattern.name !== "" ? pattern.name : "<predicate>", match: (target) => (pattern(target.info()) ? {} : undefined) })
  }
  if (pattern instanceof RegExp) {
    // A global or sticky RegExp keeps state between tests; match with a stateless copy.
    const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""))
    return withMethod(wanted, {
      label: String(pattern),
      match: (target) => {
        const found = re.exec(target.url.href)
        return found === null ? undefined : { ...found.groups }
      }
    })
  }
  let text = pattern.trim()
  const prefixed = methodPrefix.exec(text)
  if (prefixed !== null) {
    const verb = prefixed[1]!.toUpperCase()
    if (verb !== "*") wanted = verb
    text = prefixed[2]!
  }
  let origin: string | undefined
  let rest = text
  const absolute = /^(https?:\/\/[^/?#]+)(.*)$/i.exec(text)
  if (absolute !== null) {
    try {
      origin = new URL(absolute[1]!).origin
    } catch {
      throw new Error(`volley/testing: invalid URL pattern ${JSON.stringify(pattern)}`)
    }
    rest = absolute[2] === "" ? "/" : absolute[2]!
  } else if (!text.startsWith("/")) {
    throw new Error(`volley/testing: a URL pattern must start with "/" or "http(s)://", got ${JSON.stringify(pattern)}`)
  }
  const queryAt = rest.indexOf("?")
  const path = (queryAt === -1 ? rest : rest.slice(0, queryAt)).split("/")
  const query = queryAt === -1 ? undefined : new URLSearchParams(rest.slice(queryAt + 1))
  const label = wanted === undefined ? text : `${wanted} ${text}`
  return withMethod(wanted, {
    label,
    match: (target) => {
      if (origin !== undefined && target.url.origin !== origin) return undefined
      if (!matchQuery(query, target.url.searchParams)) return undefined
      return matchPath(path, target.url.pathname)
    }
  })
}

const withMethod = (method: string | undefined, matcher: Matcher): Matcher => {
  if (method === undefined || method === "*") return matcher
  return {
    label: matcher.label.startsWith(`${method} `) ? matcher.label : `${method} ${matcher.label}`,
    match: (target) => (target.method.toUpperCase() === method ? matcher.match(target) : undefined)
  }
}

// ---- routes --------------------------------------------------------------------------------

interface CompiledRoute {
  readonly matcher: Matcher
  readonly name: string
  readonly handler: Testing.Handler
  readonly latency: Duration.DurationInput | undefined
  calls: number
}

const compileRoutes = (routes: Testing.Routes): Array<CompiledRoute> => {
  const list: ReadonlyArray<Testing.Route> = Array.isArray(routes)
    ? routes
    : Object.entries(routes as Readonly<Record<string, Testing.Handler>>).map(([url, reply]) => ({ url, reply }))
  return list.map((route) => {
    const matcher = compilePattern(route.url, route.method)
    return { matcher, name: route.name ?? matcher.label, handler: route.reply, latency: route.latency, calls: 0 }
  })
}

const isFailure = (reply: Testing.Reply): reply is Testing.FailureSpec => "fail" in reply

const pick = (handler: Testing.Handler, call: number): Testing.Reply | Testing.ReplyFunction => {
  if (!Array.isArray(handler)) return handler as Testing.Reply | Testing.ReplyFunction
  const sequence = handler as ReadonlyArray<Testing.Reply | Testing.ReplyFunction>
  if (sequence.length === 0) throw new Error("volley/testing: a reply sequence must not be empty")
  return sequence[Math.min(call, sequence.length - 1)]!
}

const resolveReply = (handler: Testing.Handler, request: Testing.TestRequest): Effect.Effect<Testing.Reply> => {
  const chosen = pick(handler, request.call)
  if (typeof chosen !== "function") return Effect.succeed(chosen)
  return Effect.suspend(() => {
    const out = chosen(request)
    return Effect.isEffect(out) ? out : Effect.succeed(out)
  })
}

// ---- errors ------------------------------------------------------------------------------------

const defaultCode = (reason: NetworkReason, phase: TimeoutPhase | undefined): string | undefined => {
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

const networkError = (request: TransportRequest, reason: NetworkReason, phase: TimeoutPhase | undefined, code: string | undefined) => {
  const effectivePhase = reason === "Timeout" ? phase ?? "connect" : undefined
  return new NetworkError({
    reason,
    phase: effectivePhase,
    code: code ?? defaultCode(reason, effectivePhase),
    method: request.method,
    url: request.redactedUrl
  })
}

// ---- records -------------------------------------------------------------------------------------

type Mutable<T> = { -readonly [K in keyof T]: T[K] }
type Entry = Mutable<Testing.RecordedRequest>

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8")

/** A latency or pause in ms: 0 when not given or not a positive, finite duration. */
const toMs = (input: Duration.DurationInput | undefined): number => millisOr(input, 0) ?? 0

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

// ---- response bodies -------------------------------------------------------------------------------

type BodyEvent =
  | { readonly at: number; readonly kind: "chunk"; readonly data: Uint8Array }
  | { readonly at: number; readonly kind: "end" }
  | { readonly at: number; readonly kind: "stall" }
  | { readonly at: number; readonly kind: "fail"; readonly reason: NetworkReason; readonly code: string | undefined }

const toBytes = (data: string | Uint8Array): Uint8Array => (typeof data === "string" ? encoder.encode(data) : data)

/** A whole body arrives at once, in socket-sized chunks as a real transport hands it over. */
const wholeChunkSize = 64 * 1024
const split = (whole: Uint8Array): Array<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  for (let offset = 0; offset < whole.length; offset += wholeChunkSize) chunks.push(whole.subarray(offset, offset + wholeChunkSize))
  return chunks
}

/** Lays the body's steps out on the clock, starting when the headers arrive. */
const timeline = (steps: ReadonlyArray<Testing.BodyStep>, start: number): Array<BodyEvent> => {
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

interface Recorder {
  readonly end: (entry: Entry, at: number) => void
}

// ---- shared sleeps -----------------------------------------------------------------------------

/** Suspends until the clock reads at least `at` (Clock milliseconds). */
type SleepUntil = (clock: Clock.Clock, at: number) => Effect.Effect<void>

interface Alarm {
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
const makeSleepUntil = (): SleepUntil => {
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
const makeBody = (
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
