/**
 * Claims from the README checked on real loopback sockets in real time: `Client.stream`
 * runs in constant memory, and the default `connectTimeout` is enforced on a connect that
 * never completes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Stream } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as http from "node:http"
import * as net from "node:net"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as Client from "../src/Client.js"
import { defaults } from "../src/internal/client/settings.js"
import { clientLayer } from "./support/effect.js"

// A full GC before each sample, so the samples measure what is retained, not garbage not yet
// collected (the body's freed chunks would otherwise pile up between collections).
v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

const MiB = 1024 * 1024
const BODY = 256 * MiB

/** An http server that generates `BODY` bytes on the fly from one 64 KiB buffer, honouring backpressure. */
const generatingServer = Effect.acquireRelease(
  Effect.async<http.Server>((resume) => {
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(BODY) })
      let sent = 0
      const pump = (): void => {
        while (sent < BODY) {
          sent += chunk.length
          if (!res.write(chunk)) return void res.once("drain", pump)
        }
        res.end()
      }
      res.on("close", () => void (sent = BODY))
      pump()
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.async<void>((resume) => {
    server.closeAllConnections()
    server.close(() => resume(Effect.void))
  })
)

describe("claim: Client.stream runs in constant memory", () => {
  it.live("streams 256 MiB over a real socket with memory growth far below the body size", () =>
    Effect.gen(function*() {
      const server = yield* generatingServer
      const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/big`
      const sample = () => {
        gc()
        const m = process.memoryUsage()
        return { rss: m.rss, js: m.arrayBuffers + m.heapUsed }
      }
      const start = sample()
      const peak = { ...start }
      const sampler = setInterval(() => {
        const now = sample()
        peak.rss = Math.max(peak.rss, now.rss)
        peak.js = Math.max(peak.js, now.js)
      }, 50)
      yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(sampler)))
      let received = 0
      yield* Client.stream(url, { maxBodyBytes: Number.POSITIVE_INFINITY, deadline: "60 seconds" }).pipe(
        Stream.runForEach((chunk) =>
          Effect.sync(() => {
            received += chunk.length
          })
        ),
        Effect.provide(clientLayer())
      )
      clearInterval(sampler)
      const growth = { rss: (peak.rss - start.rss) / MiB, js: (peak.js - start.js) / MiB }
      console.log(`stream ${BODY / MiB} MiB: peak growth rss ${growth.rss.toFixed(1)} MiB, arrayBuffers+heapUsed ${growth.js.toFixed(1)} MiB`)
      expect(received).toBe(BODY)
      expect(growth.js).toBeLessThan(64)
      // RSS also counts socket buffers, JIT code and allocator slack (35-40 MiB seen here), so its
      // bound is looser; still far below the 256 MiB an accumulating consumer adds.
      expect(growth.rss).toBeLessThan(96)
    }).pipe(Effect.scoped), 60_000)
})

/**
 * A loopback port whose TCP connects never complete: a child node process listens with a
 * backlog of 1 and is then stopped (SIGSTOP), so it never accepts; once a few raw connects
 * fill its accept queue, Linux drops further SYNs and a new connect hangs in SYN_SENT.
 */
const blackholePort = Effect.acquireRelease(
  Effect.async<{ readonly child: ChildProcess; readonly port: number; readonly fillers: Array<net.Socket> }, Error>((resume) => {
    const source = `const s=require("node:net").createServer(()=>{});` +
      `s.listen({port:0,host:"127.0.0.1",backlog:1},()=>process.stdout.write(s.address().port+"\\n"))`
    const child = spawn(process.execPath, ["-e", source], { stdio: ["ignore", "pipe", "inherit"] })
    child.once("error", (error) => resume(Effect.fail(error)))
    child.stdout!.once("data", (data) => {
      const port = Number(String(data).trim())
      child.kill("SIGSTOP")
      const fillers: Array<net.Socket> = []
      for (let i = 0; i < 4; i++) {
        const socket = net.connect(port, "127.0.0.1")
        socket.on("error", () => {})
        fillers.push(socket)
      }
      // Let the fillers' handshakes land in the (never drained) accept queue.
      setTimeout(() => resume(Effect.succeed({ child, port, fillers })), 300)
    })
  }),
  ({ child, fillers }) =>
    Effect.sync(() => {
      for (const socket of fillers) socket.destroy()
      child.kill("SIGKILL")
    })
)

/** Checks the port really blackholes: a raw connect is still pending after `ms`. */
const connectHangs = (port: number, ms: number) =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.on("error", () => {})
    const done = (hung: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resume(Effect.succeed(hung))
    }
    const timer = setTimeout(() => done(true), ms)
    socket.once("connect", () => done(false))
  })

const timedFailure = (port: number, options: Client.ClientOptions = {}) =>
  Effect.gen(function*() {
    const started = Date.now()
    const error = yield* Effect.flip(Client.text(`http://127.0.0.1:${port}/`).pipe(Effect.provide(clientLayer(options))))
    return { error, elapsed: Date.now() - started }
  })

describe("claim: connectTimeout is enforced on a connect that never completes", () => {
  const defaultMs = Duration.toMillis(defaults.connectTimeout)

  it.live("the default connectTimeout fires after roughly its value; a configured 1 s fires at ~1 s", () =>
    Effect.gen(function*() {
      const { port } = yield* blackholePort
      expect(yield* connectHangs(port, 500)).toBe(true)

      const byDefault = yield* timedFailure(port)
      console.log(`default connectTimeout (${defaultMs} ms) fired after ${byDefault.elapsed} ms`)
      expect(byDefault.error._tag === "NetworkError" && [byDefault.error.reason, byDefault.error.phase]).toEqual(["Timeout", "connect"])
      expect(byDefault.elapsed).toBeGreaterThanOrEqual(defaultMs - 50)
      expect(byDefault.elapsed).toBeLessThan(defaultMs + 3_000)

      const oneSecond = yield* timedFailure(port, { connectTimeout: "1 second" })
      console.log(`connectTimeout 1 s fired after ${oneSecond.elapsed} ms`)
      expect(oneSecond.error._tag === "NetworkError" && [oneSecond.error.reason, oneSecond.error.phase]).toEqual(["Timeout", "connect"])
      expect(oneSecond.elapsed).toBeGreaterThanOrEqual(950)
      expect(oneSecond.elapsed).toBeLessThan(1_000 + 3_000)
    }).pipe(Effect.scoped), 30_000)
})
