/**
 * The server models of `volley/testing` (see `TestingServers.ts`): each is a reply function
 * with state, run on the fiber's Clock, so the same model answers the virtual transport under
 * `TestClock` and a real loopback server under the live clock.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import type * as Api from "../../TestingServers.js"
import type { Reply, ResponseSpec, TestRequest } from "../../TestingRoutes.js"

const okReply: ResponseSpec = { status: 200, headers: { "content-type": "text/plain; charset=utf-8" }, body: "ok" }

const millis = (input: Duration.DurationInput, name: string): number => {
  const ms = Duration.toMillis(Duration.decode(input))
  if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`volley/testing: ${name} must be a finite duration >= 0`)
  return ms
}

const count = (value: number, name: string, least: number): number => {
  if (!Number.isInteger(value) || value < least) throw new RangeError(`volley/testing: ${name} must be a whole number >= ${least}, got ${value}`)
  return value
}

const answer = (reply: Api.ReplyOption | undefined, request: TestRequest): ResponseSpec =>
  reply === undefined ? okReply : typeof reply === "function" ? reply(request) : reply

const withHeaders = (spec: ResponseSpec, headers: Record<string, string>): ResponseSpec => ({
  ...spec,
  headers: { ...spec.headers, ...headers }
})

type Outcome = "served" | "rejected"

/** The counters every model keeps, and the wrapper that keeps them around a model's answer. */
const makeCounters = () => {
  let origin: number | undefined
  let requests = 0
  let served = 0
  let rejected = 0
  let abandoned = 0
  let inFlight = 0
  let maxConcurrent = 0
  let rejectedAt: Array<number> = []
  return {
    /** Clock ms of the model's start: its first request since creation or reset. */
    origin: () => origin ?? 0,
    reset: () => {
      origin = undefined
      requests = served = rejected = abandoned = 0
      maxConcurrent = inFlight
      rejectedAt = []
    },
    stats: (): Api.ServerStats => ({ requests, served, rejected, abandoned, inFlight, maxConcurrent, rejectedAt: [...rejectedAt] }),
    /** Runs one answer: `body` gets the ms since the model's start and says how it answered. */
    track: (body: (elapsed: number) => Effect.Effect<readonly [Reply, Outcome]>): Effect.Effect<Reply> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (origin === undefined) origin = now
        requests++
        inFlight++
        if (inFlight > maxConcurrent) maxConcurrent = inFlight
        let done = false
        return body(now - origin).pipe(
          Effect.flatMap(([reply, outcome]) =>
            Effect.map(Clock.currentTimeMillis, (end) => {
              done = true
              if (outcome === "served") served++
              else {
                rejected++
                rejectedAt.push(end - (origin ?? end))
              }
              return reply
            })
          ),
          Effect.ensuring(Effect.sync(() => {
            inFlight--
            if (!done) abandoned++
          }))
        )
      })
  }
}

// ---- capacity --------------------------------------------------------------------------------

export const capacity = (options: Api.CapacityOptions): Api.CapacityModel => {
  let inService = count(options.inService, "capacity: inService", 1)
  let queue = count(options.queue ?? 0, "capacity: queue", 0)
  const serviceTime = options.serviceTime
  if (typeof serviceTime !== "function") millis(serviceTime, "capacity: serviceTime")
  const counters = makeCounters()
  // Its own FIFO of Deferreds rather than a Semaphore: a freed server goes to the head of the
  // queue in the same step (Effect's Semaphore wakes every waiter to race for it), so the
  // order is first come, first served and `queued` / `maxQueued` are exact at every instant.
  const waiting: Array<Deferred.Deferred<void>> = []
  let busy = 0
  let maxInService = 0
  let maxQueued = 0

  const startService = () => {
    busy++
    if (busy > maxInService) maxInService = busy
  }
  /** Hands free servers to the head of the queue. */
  const handOff = () => {
    while (busy < inService && waiting.length > 0) {
      startService()
      Deferred.unsafeDone(waiting.shift()!, Exit.void)
    }
  }
  const finish = Effect.sync(() => {
    busy--
    handOff()
  })

  const serve = (request: TestRequest) =>
    counters.track(() => {
      if (busy + waiting.length >= inService + queue) {
        return Effect.succeed([options.reject ?? { status: 503, body: "over capacity" }, "rejected"] as const)
      }
      const time = millis(typeof serviceTime === "function" ? serviceTime(request) : serviceTime, "capacity: serviceTime")
      const service = (restore: <A>(effect: Effect.Effect<A>) => Effect.Effect<A>) =>
        restore(Effect.sleep(time)).pipe(
          Effect.ensuring(finish), // a client that gives up frees its server
          Effect.as([answer(options.reply, request), "served"] as const)
        )
      if (busy < inService && waiting.length === 0) {
        startService()
        return Effect.uninterruptibleMask(service)
      }
      const turn = Deferred.unsafeMake<void>(FiberId.none)
      waiting.push(turn)
      if (waiting.length > maxQueued) maxQueued = waiting.length
      return Effect.uninterruptibleMask((restore) =>
        restore(Deferred.await(turn)).pipe(
          Effect.onInterrupt(() =>
            Effect.suspend(() => {
              const at = waiting.indexOf(turn)
              if (at >= 0) {
                waiting.splice(at, 1)
                return Effect.void
              }
              return finish // handed a server as it gave up: pass it on
            })
          ),
          Effect.zipRight(service(restore))
        )
      )
    })

  return {
    reply: serve,
    stats: Effect.sync(() => ({ ...counters.stats(), inService: busy, queued: waiting.length, maxInService, maxQueued })),
    reset: Effect.sync(() => {
      counters.reset()
      maxInService = busy
      maxQueued = waiting.length
    }),
    setCapacity: (next) =>
      Effect.sync(() => {
        if (next.queue !== undefined) queue = count(next.queue, "capacity: queue", 0)
        if (next.inService !== undefined) inService = count(next.inService, "capacity: inService", 1)
        handOff()
      }),
    capacity: () => ({ inService, queue })
  }
}

// ---- rate limit -------------------------------------------------------------------------------

export const rateLimit = (options: Api.RateLimitOptions): Api.ServerModel => {
  const limit = count(options.limit, "rateLimit: limit", 1)
  const windowMs = millis(options.window, "rateLimit: window")
  if (windowMs === 0) throw new RangeError("volley/testing: rateLimit: window must be longer than 0")
  const style = options.headers ?? "ietf"
  const latency = options.latency === undefined ? 0 : millis(options.latency, "rateLimit: latency")
  const counters = makeCounters()
  let windowIndex = -1
  let used = 0

  /** The quota headers, and the seconds until the window resets (at least 1, as the headers round). */
  const quotaHeaders = (remaining: number, elapsed: number, now: number) => {
    const end = (Math.floor(elapsed / windowMs) + 1) * windowMs
    const reset = String(Math.max(1, Math.ceil((end - elapsed) / 1000)))
    const headers: Record<string, string> = {}
    if (style === "ietf" || style === "both") {
      headers["ratelimit-policy"] = `${limit};w=${Math.max(1, Math.round(windowMs / 1000))}`
      headers["ratelimit"] = `limit=${limit}, remaining=${remaining}, reset=${reset}`
    }
    if (style === "x-ratelimit" || style === "both") {
      headers["x-ratelimit-limit"] = String(limit)
      headers["x-ratelimit-remaining"] = String(remaining)
      headers["x-ratelimit-reset"] = options.resetStyle === "epoch"
        ? String(Math.ceil((now - elapsed + end) / 1000))
        : reset
    }
    return { headers, reset }
  }

  const serve = (request: TestRequest) =>
    counters.track((elapsed) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const index = Math.floor(elapsed / windowMs)
        if (index !== windowIndex) {
          windowIndex = index
          used = 0
        }
        const admitted = used < limit
        if (admitted) used++
        const { headers, reset } = quotaHeaders(limit - used, elapsed, now)
        const reply: readonly [Reply, Outcome] = admitted
          ? [withHeaders(answer(options.reply, request), headers), "served"]
          : [
            { status: 429, body: "rate limited", headers: options.retryAfter === false ? headers : { ...headers, "retry-after": reset } },
            "rejected"
          ]
        return latency > 0 ? Effect.as(Effect.sleep(latency), reply) : Effect.succeed(reply)
      }))

  return {
    reply: serve,
    stats: Effect.sync(counters.stats),
    reset: Effect.sync(() => {
      counters.reset()
      windowIndex = -1
      used = 0
    })
  }
}

// ---- outage -------------------------------------------------------------------------------------

export const outage = (options: Api.OutageOptions = {}): Api.ServerModel => {
  const windows = (options.windows ?? [{ from: 0 }]).map((w, i) => {
    const from = millis(w.from, `outage: windows[${i}].from`)
    const to = w.to === undefined ? Infinity : millis(w.to, `outage: windows[${i}].to`)
    if (to <= from) throw new RangeError(`volley/testing: outage: windows[${i}] must end after it starts`)
    return { from, to }
  })
  const latency = options.latency === undefined ? 0 : millis(options.latency, "outage: latency")
  const counters = makeCounters()
  const down: Reply = options.fail !== undefined
    ? { fail: options.fail }
    : {
      status: options.status ?? 503,
      body: "unavailable",
      ...(options.retryAfter === undefined
        ? {}
        : { headers: { "retry-after": String(Math.ceil(millis(options.retryAfter, "outage: retryAfter") / 1000)) } })
    }

  const serve = (request: TestRequest) =>
    counters.track((elapsed) => {
      const isDown = windows.some((w) => elapsed >= w.from && elapsed < w.to)
      const reply: readonly [Reply, Outcome] = isDown ? [down, "rejected"] : [answer(options.reply, request), "served"]
      return latency > 0 ? Effect.as(Effect.sleep(latency), reply) : Effect.succeed(reply)
    })

  return { reply: serve, stats: Effect.sync(counters.stats), reset: Effect.sync(counters.reset) }
}
