/**
 * A response that arrived in time is not lost to a busy event loop. Node runs due timers
 * before it polls sockets, so when the process is busy (or starved of CPU) past a timeout
 * while the server's answer is already in the socket, a timer fired straight from
 * `setTimeout` wins: `volley download --idle-timeout 400ms` reported `timeout (headers)` for
 * a server that had answered in 10 ms (test/cli-download.test.ts, on a loaded machine). The
 * live timer (src/internal/transport/timer.ts) fires only after that poll.
 *
 * Made deterministic: the server runs in a worker thread (its own event loop) and answers
 * only while the main thread is blocked inside an I/O callback, which stays blocked until
 * the timeout is well past. Live clock: this is about Node's timers, not the Effect clock's.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Worker } from "node:worker_threads"
import * as Download from "../src/Download.js"
import { clientLayer } from "./support/effect.js"

/** Shared flags: [0] port, [1] main thread is blocked, [2] server has answered. */
const serverCode = `
const { parentPort, workerData } = require("node:worker_threads")
const http = require("node:http")
const flags = new Int32Array(workerData)
const pause = (ms) => Atomics.wait(flags, 3, 0, ms)
const whenMainBlocked = () => {
  Atomics.store(flags, 2, 0)
  parentPort.postMessage("block")
  Atomics.wait(flags, 1, 0, 10000)
  Atomics.store(flags, 1, 0)
}
const answered = () => {
  // Give the kernel a moment to move the bytes to the client's socket.
  setTimeout(() => { Atomics.store(flags, 2, 1); Atomics.notify(flags, 2) }, 20)
}
const server = http.createServer((req, res) => {
  if (req.url === "/late-headers") {
    whenMainBlocked()
    res.writeHead(200, { "content-length": "5" })
    res.end("hello", answered)
    return
  }
  // /late-chunk: headers and a first chunk at once, the rest while the main thread is blocked.
  res.writeHead(200, { "content-length": "10" })
  res.write("hello", () => {
    pause(100) // the client reads the first chunk and starts waiting for the next
    whenMainBlocked()
    res.end("world", answered)
  })
})
server.listen(0, "127.0.0.1", () => {
  Atomics.store(flags, 0, server.address().port)
  parentPort.postMessage("listening")
})
parentPort.on("message", () => server.close(() => process.exit(0)))
`

/**
 * The worker-thread server. On its "block" message the main thread blocks (inside that
 * message's I/O callback) until the server has answered and `blockMs` have passed.
 */
const busyServer = (blockMs: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly worker: Worker; readonly blocked: () => number }>((resume) => {
      const flags = new Int32Array(new SharedArrayBuffer(16))
      const worker = new Worker(serverCode, { eval: true, workerData: flags.buffer })
      let blocked = 0
      worker.on("message", (message: string) => {
        if (message === "listening") {
          return resume(Effect.succeed({ url: `http://127.0.0.1:${flags[0]}`, worker, blocked: () => blocked }))
        }
        const until = performance.now() + blockMs
        Atomics.store(flags, 1, 1)
        Atomics.notify(flags, 1)
        Atomics.wait(flags, 2, 0, 10_000) // the answer is on its way to our socket
        while (performance.now() < until) Atomics.wait(flags, 3, 0, until - performance.now())
        blocked++
      })
    }),
    ({ worker }) =>
      Effect.async<void>((resume) => {
        worker.once("exit", () => resume(Effect.void))
        worker.postMessage("close")
      })
  )

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "volley-busy-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

describe("Download: timeouts on a busy event loop (live clock)", () => {
  it.scopedLive("headers that arrived before the headers timeout are read, not reported as a headers timeout", () =>
    Effect.gen(function*() {
      const server = yield* busyServer(400)
      const dir = yield* tempDir
      const dest = path.join(dir, "a.txt")
      // The headers timeout defaults to the idle timeout: 150 ms, over well before the loop is free.
      const result = yield* Effect.either(Effect.provide(
        Download.file(`${server.url}/late-headers`, { path: dest, idleTimeout: "150 millis", retry: false }),
        clientLayer()
      ))
      expect(server.blocked()).toBe(1)
      expect(Either.isRight(result) ? "ok" : result.left.message).toBe("ok")
      expect(fs.readFileSync(dest, "utf8")).toBe("hello")
    }))

  it.scopedLive("a chunk that arrived before the idle timeout is read, not reported as a body timeout", () =>
    Effect.gen(function*() {
      const server = yield* busyServer(400)
      const dir = yield* tempDir
      const dest = path.join(dir, "b.txt")
      const result = yield* Effect.either(Effect.provide(
        Download.file(`${server.url}/late-chunk`, { path: dest, idleTimeout: "150 millis", retry: false }),
        clientLayer()
      ))
      expect(server.blocked()).toBe(1)
      expect(Either.isRight(result) ? "ok" : result.left.message).toBe("ok")
      expect(fs.readFileSync(dest, "utf8")).toBe("helloworld")
    }))
})
