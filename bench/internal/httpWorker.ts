/**
 * Runs one benchmark workload through one contender, in its own process so its peak RSS is
 * its own. Invoked by `bench/http.ts` as `httpWorker.js CONTENDER URL COUNT CONCURRENCY`;
 * sends `{ ms, cpuMs, rss, loopBusy, ok }` (wall and CPU time of the timed run, peak RSS in
 * MiB, the share of the timed run the event loop was busy, successful requests) to its parent
 * and exits.
 *
 * Every contender gets the same warm-up (5% of the workload, untimed) and a connection pool
 * capped at the concurrency.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import { readFileSync } from "node:fs"
import pLimit from "p-limit"
import { Agent, request, setGlobalDispatcher } from "undici"
import * as Batch from "../../src/Batch.js"
import * as Client from "../../src/Client.js"
import * as VolleyHttpClient from "../../src/HttpClient.js"

type Run = (urls: ReadonlyArray<string>) => Promise<number>

const [contender = "", url = "", countArg = "0", concurrencyArg = "1"] = process.argv.slice(2)
const count = Number(countArg)
const concurrency = Number(concurrencyArg)

/** undici's `request` through `agent`, at most `concurrency` at once (p-limit). */
const undiciOver = (agent: Agent): Run => {
  const limit = pLimit(concurrency)
  return async (urls) => {
    let ok = 0
    await Promise.all(urls.map((u) =>
      limit(async () => {
        const response = await request(u, { dispatcher: agent })
        await response.body.text()
        if (response.statusCode === 200) ok++
      })
    ))
    return ok
  }
}

const undiciPLimit = (): Run => undiciOver(new Agent({ connections: concurrency }))

/** undici alone over one https origin, HTTP/1.1 or h2 (ALPN): tells undici's h2 cost from volley's (bench/h2.ts). */
const undiciTls = (http2: boolean) => (): Run => {
  const ca = readFileSync(new URL("../../../test/support/certs/cert.pem", import.meta.url), "utf8")
  return undiciOver(new Agent({ connections: concurrency, allowH2: http2, connect: { ca } }))
}

const fetchPLimit = (): Run => {
  // Global fetch uses the global dispatcher: cap its pool like everyone else's.
  setGlobalDispatcher(new Agent({ connections: concurrency }))
  const limit = pLimit(concurrency)
  return async (urls) => {
    let ok = 0
    await Promise.all(urls.map((u) =>
      limit(async () => {
        const response = await fetch(u)
        await response.text()
        if (response.status === 200) ok++
      })
    ))
    return ok
  }
}

/** GET every URL through whichever `HttpClient.HttpClient` is provided, counting the 200s. */
const httpClientLoop = (urls: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    let ok = 0
    yield* Effect.forEach(
      urls,
      (u) =>
        Effect.flatMap(client.get(u), (response) =>
          Effect.map(response.text, () => {
            if (response.status === 200) ok++
          })),
      { concurrency, discard: true }
    )
    return ok
  })

const effectPlatform = (): Run => {
  const runtime = ManagedRuntime.make(NodeHttpClient.layerUndiciWithoutDispatcher.pipe(
    Layer.provide(Layer.succeed(NodeHttpClient.Dispatcher, new Agent({ connections: concurrency })))
  ))
  return (urls) =>
    runtime.runPromise(httpClientLoop(urls))
}

/**
 * The floor for any Effect client over undici: one `Effect.async` per request around undici's
 * dispatcher (the body collected by a minimal handler), `Effect.forEach` for the concurrency,
 * and nothing else (no timeouts, typed errors, scoped bodies, policies or metrics). What volley
 * costs above this is volley's; what this costs above undici + p-limit is Effect's runtime.
 */
const effectUndici = (): Run => {
  const agent = new Agent({ connections: concurrency })
  const get = (u: string) =>
    Effect.async<number, Error>((resume) => {
      const url = new URL(u)
      let status = 0
      const chunks: Array<Buffer> = []
      agent.dispatch({ origin: url.origin, path: url.pathname + url.search, method: "GET" }, {
        onConnect: () => {},
        onHeaders: (code: number) => ((status = code), true),
        onData: (chunk: Buffer) => (chunks.push(chunk), true),
        onComplete: () => {
          Buffer.concat(chunks).toString()
          resume(Effect.succeed(status))
        },
        onError: (error: Error) => resume(Effect.fail(error))
      })
    })
  return (urls) =>
    Effect.runPromise(Effect.gen(function*() {
      let ok = 0
      yield* Effect.forEach(urls, (u) =>
        Effect.map(get(u), (status) => {
          if (status === 200) ok++
        }), { concurrency, discard: true })
      return ok
    }))
}

/** One client for the warm-up and the timed run, as for the others. */
const volleyRuntime = () => ManagedRuntime.make(Client.layer({ connectionsPerOrigin: concurrency }))

const volleySettle = (): Run => {
  const runtime = volleyRuntime()
  return (urls) =>
    runtime.runPromise(Effect.map(Batch.settle(urls, { concurrency }), (outcomes) => outcomes.filter(Batch.isSuccess).length))
}

const volleyStream = (): Run => {
  const runtime = volleyRuntime()
  return (urls) =>
    runtime.runPromise(
      Stream.runFold(Batch.stream(urls, { concurrency }), 0, (ok, outcome) => (Batch.isSuccess(outcome) ? ok + 1 : ok))
    )
}

/** The client alone, no Batch: tells Batch overhead from client overhead when profiling. */
const volleyClient = (): Run => {
  const runtime = volleyRuntime()
  return (urls) =>
    runtime.runPromise(
      Effect.gen(function*() {
        let ok = 0
        yield* Effect.forEach(urls, (u) =>
          Effect.map(Client.text(u), () => {
            ok++
          }), { concurrency, discard: true })
        return ok
      })
    )
}

/** {@link httpClientLoop} over volley's HttpClient layer instead of NodeHttpClient. */
const volleyHttpClient = (): Run => {
  const runtime = ManagedRuntime.make(VolleyHttpClient.layer({ connectionsPerOrigin: concurrency }))
  return (urls) =>
    runtime.runPromise(httpClientLoop(urls))
}

/** volley over one https origin, HTTP/1.1 or h2 (ALPN), trusting the test CA (bench/h2.ts). */
const volleyTls = (http2: boolean) => (): Run => {
  const ca = readFileSync(new URL("../../../test/support/certs/cert.pem", import.meta.url), "utf8")
  const runtime = ManagedRuntime.make(Client.layer({ connectionsPerOrigin: concurrency, ca, http2 }))
  return (urls) =>
    runtime.runPromise(Effect.map(Batch.settle(urls, { concurrency }), (outcomes) => outcomes.filter(Batch.isSuccess).length))
}

const contenders: Record<string, () => Run> = {
  "volley-h1": volleyTls(false),
  "volley-h2": volleyTls(true),
  "undici-h1": undiciTls(false),
  "undici-h2": undiciTls(true),
  "volley-httpclient": volleyHttpClient,
  "undici": undiciPLimit,
  "effect-undici": effectUndici,
  "fetch": fetchPLimit,
  "platform": effectPlatform,
  "volley": volleySettle,
  "volley-stream": volleyStream,
  "volley-client": volleyClient
}

const main = async () => {
  const make = contenders[contender]
  if (make === undefined) throw new Error(`unknown contender ${contender}`)
  const run = make()
  await run(Array.from({ length: Math.max(1, Math.ceil(count / 20)) }, () => url))
  const urls = Array.from({ length: count }, () => url)
  const cpuBefore = process.cpuUsage()
  const loopBefore = performance.eventLoopUtilization()
  const started = performance.now()
  const ok = await run(urls)
  const ms = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  const loopBusy = performance.eventLoopUtilization(loopBefore).utilization
  process.send?.({ ms, cpuMs: (cpu.user + cpu.system) / 1000, rss: process.resourceUsage().maxRSS / 1024, loopBusy, ok }, () => process.exit(0))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
