/**
 * Content decoding against a real loopback server that compresses with Node's zlib: gzip,
 * deflate and br decoded by the body helpers, `maxBodyBytes` counting decoded bytes (a bomb
 * refused early, in flat memory), a corrupt or truncated stream typed, decoding turned off.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { Effect, Stream } from "effect"
import * as crypto from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as zlib from "node:zlib"
import * as Client from "../src/Client.js"
import type { HttpError } from "../src/Errors.js"
import { clientLayer } from "./support/effect.js"

const payload = { hello: "world", list: Array.from({ length: 200 }, (_, i) => ({ i, name: `item-${i}` })) }
const payloadText = JSON.stringify(payload)
/** ~100 KiB decoded (several decoder chunks), ~55 KiB as gzip: under the drain limit. */
const hexBody = zlib.gzipSync(Buffer.from(crypto.randomBytes(50 * 1024).toString("hex")))

/** One gzip member of 16 MiB of zeros (~16 KiB): members concatenate into one valid gzip stream. */
const bombMember = zlib.gzipSync(Buffer.alloc(16 * 1024 * 1024))
/** 640 members: ~10 MiB on the wire, 10 GiB decoded. */
const bombMembers = 640

interface Served {
  readonly url: string
  /** Accept-Encoding of every request, by path. */
  readonly acceptEncoding: Map<string, string | undefined>
  /** Bytes the bomb wrote before the client went away, and whether it finished. */
  readonly bomb: { written: number; finished: boolean; closedEarly: boolean }
  /** Connections the server accepted. */
  readonly connections: () => number
}

const encode = (coding: string, body: Buffer): Buffer =>
  coding === "gzip" ? zlib.gzipSync(body) : coding === "deflate" ? zlib.deflateSync(body) : zlib.brotliCompressSync(body)

const serve = Effect.acquireRelease(
  Effect.async<{ served: Served; server: http.Server }>((resume) => {
    const acceptEncoding = new Map<string, string | undefined>()
    const bomb = { written: 0, finished: false, closedEarly: false }
    const server = http.createServer((req, res) => {
      const path = req.url ?? "/"
      acceptEncoding.set(path, req.headers["accept-encoding"])
      const coding = path.split("/")[1]!
      if (coding === "gzip" || coding === "deflate" || coding === "br") {
        const body = encode(coding, Buffer.from(payloadText))
        res.writeHead(path.endsWith("/error") ? 503 : 200, { "content-type": "application/json", "content-encoding": coding, "content-length": body.length })
        res.end(body)
      } else if (path.startsWith("/hex")) {
        res.writeHead(200, { "content-encoding": "gzip", "content-length": hexBody.length })
        res.end(hexBody)
      } else if (path === "/stacked") {
        // Codings listed in the order applied: gzip first, then br.
        res.writeHead(200, { "content-encoding": "gzip, br" })
        res.end(zlib.brotliCompressSync(zlib.gzipSync(Buffer.from(payloadText))))
      } else if (path === "/six") {
        let body = Buffer.from(payloadText)
        for (let i = 0; i < 6; i++) body = zlib.gzipSync(body)
        res.writeHead(200, { "content-encoding": "gzip, gzip, gzip, gzip, gzip, gzip" })
        res.end(body)
      } else if (path === "/unknown") {
        res.writeHead(200, { "content-encoding": "x-volley-unknown" })
        res.end("as served")
      } else if (path === "/empty") {
        res.writeHead(200, { "content-encoding": "gzip", "content-length": 0 })
        res.end()
      } else if (path === "/truncated") {
        const body = zlib.gzipSync(Buffer.from(payloadText.repeat(50)))
        res.writeHead(200, { "content-encoding": "gzip" })
        res.end(body.subarray(0, body.length - 40))
      } else if (path === "/corrupt") {
        res.writeHead(200, { "content-encoding": "br" })
        res.end(Buffer.from("this is not brotli at all, not even a little"))
      } else if (path === "/bomb") {
        res.writeHead(200, { "content-encoding": "gzip", "content-type": "application/octet-stream" })
        res.on("close", () => {
          if (!bomb.finished) bomb.closedEarly = true
        })
        let sent = 0
        const pump = (): void => {
          while (sent < bombMembers && !res.destroyed) {
            sent++
            bomb.written += bombMember.length
            if (!res.write(bombMember)) {
              res.once("drain", pump)
              return
            }
          }
          if (!res.destroyed) {
            bomb.finished = true
            res.end()
          }
        }
        pump()
      } else {
        res.writeHead(404).end()
      }
    })
    let connections = 0
    server.on("connection", () => void connections++)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({ server, served: { url: `http://127.0.0.1:${port}`, acceptEncoding, bomb, connections: () => connections } }))
    })
  }),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
).pipe(Effect.map(({ served }) => served))

const failure = <A>(effect: Effect.Effect<A, HttpError, Client.Client>, options?: Client.ClientOptions) =>
  Effect.flip(effect).pipe(Effect.provide(clientLayer(options)))

describe("Client: content decoding", () => {
  it.scoped("gzip, deflate and br bodies are each decoded by Client.json, and Accept-Encoding is sent", () =>
    Effect.gen(function*() {
      const served = yield* serve
      for (const coding of ["gzip", "deflate", "br"]) {
        const value = yield* Effect.provide(Client.json(`${served.url}/${coding}/data`), clientLayer())
        expect(value).toEqual(payload)
        expect(served.acceptEncoding.get(`/${coding}/data`)).toMatch(/^gzip, deflate, br(, zstd)?$/)
      }
      // Text and streams decode too, and the decoded response no longer claims an encoding.
      const text = yield* Effect.provide(Client.text(`${served.url}/br/text`), clientLayer())
      expect(text).toBe(payloadText)
      const streamed = yield* Effect.provide(
        Stream.runFold(Client.stream(`${served.url}/gzip/stream`), 0, (n, chunk) => n + chunk.length),
        clientLayer()
      )
      expect(streamed).toBe(payloadText.length)
      const headers = yield* Effect.provide(Client.withResponse(`${served.url}/gzip/head`, (r) => Effect.succeed(r.headers)), clientLayer())
      expect(headers["content-encoding"]).toBeUndefined()
    }))

  it.scoped("a status error's snippet is decoded text", () =>
    Effect.gen(function*() {
      const served = yield* serve
      const error = yield* failure(Client.json(`${served.url}/gzip/error`))
      expect(error._tag).toBe("StatusError")
      if (error._tag === "StatusError") expect(error.bodySnippet).toContain(`"hello":"world"`)
    }))

  it.scoped("a caller's own Accept-Encoding is kept", () =>
    Effect.gen(function*() {
      const served = yield* serve
      const request = HttpClientRequest.get(`${served.url}/gzip/own`).pipe(HttpClientRequest.setHeader("Accept-Encoding", "gzip"))
      expect(yield* Effect.provide(Client.json(request), clientLayer())).toEqual(payload)
      expect(served.acceptEncoding.get("/gzip/own")).toBe("gzip")
    }))

  it.scoped("decompress: false sends no Accept-Encoding and hands the bytes over as served", () =>
    Effect.gen(function*() {
      const served = yield* serve
      const raw = yield* Effect.provide(Client.bytes(`${served.url}/gzip/raw`, { decompress: false }), clientLayer())
      expect(Buffer.from(zlib.gunzipSync(raw)).toString()).toBe(payloadText)
      expect(served.acceptEncoding.get("/gzip/raw")).toBeUndefined()
      const off = yield* Effect.provide(Client.bytes(`${served.url}/br/raw`), clientLayer({ decompress: false }))
      expect(Buffer.from(zlib.brotliDecompressSync(off)).toString()).toBe(payloadText)
    }))

  it.scoped("a truncated gzip stream and a corrupt br stream are NetworkError ContentDecoding, not a crash", () =>
    Effect.gen(function*() {
      const served = yield* serve
      const truncated = yield* failure(Client.json(`${served.url}/truncated`))
      expect(truncated._tag).toBe("NetworkError")
      if (truncated._tag === "NetworkError") {
        expect(truncated.reason).toBe("ContentDecoding")
        expect(truncated.code).toBe("Z_BUF_ERROR")
        expect(truncated.message).toContain("did not decode")
      }
      const corrupt = yield* failure(Client.text(`${served.url}/corrupt`))
      expect(corrupt._tag === "NetworkError" && corrupt.reason).toBe("ContentDecoding")
      // Through a stream as well.
      const streamed = yield* failure(Stream.runDrain(Client.stream(`${served.url}/truncated`)))
      expect(streamed._tag === "NetworkError" && streamed.reason).toBe("ContentDecoding")
    }))

  it.scoped("stacked codings decode in reverse order; past five they are refused as ContentDecoding; an unknown coding is handed over as served; an empty body is empty", () =>
    Effect.gen(function*() {
      const served = yield* serve
      expect(yield* Effect.provide(Client.json(`${served.url}/stacked`), clientLayer())).toEqual(payload)
      const six = yield* failure(Client.text(`${served.url}/six`))
      expect(six._tag === "NetworkError" && six.reason).toBe("ContentDecoding")
      expect(six._tag === "NetworkError" && six.code).toBe("VOLLEY_TOO_MANY_CODINGS")
      const unknown = yield* Effect.provide(Client.withResponse(`${served.url}/unknown`, (r) => Effect.map(r.text, (text) => [text, r.headers["content-encoding"]])), clientLayer())
      expect(unknown).toEqual(["as served", "x-volley-unknown"])
      expect(yield* Effect.provide(Client.text(`${served.url}/empty`), clientLayer())).toBe("")
    }))

  it.scoped("an unread or half-read compressed body is released without losing its connection (the decoder stops, the rest drains)", () =>
    Effect.gen(function*() {
      const served = yield* serve
      const after = yield* Effect.gen(function*() {
        for (let i = 0; i < 50; i++) {
          yield* Client.withResponse(`${served.url}/gzip/unread-${i}`, () => Effect.void)
          yield* Stream.runDrain(Stream.take(Client.stream(`${served.url}/hex/half-${i}`), 1))
        }
        return yield* Client.json(`${served.url}/deflate/after`)
      }).pipe(Effect.provide(clientLayer({ connectionsPerOrigin: 1 })))
      expect(after).toEqual(payload)
      expect(served.connections()).toBe(1)
    }))

  it.scoped("a gzip bomb (10 MiB inflating to 10 GiB) fails fast with BodyTooLargeError, in flat memory", () =>
    Effect.gen(function*() {
      const served = yield* serve
      // Retained memory, sampled right after a full collection every 1024 chunks: garbage from
      // the stream's own allocations does not count, anything piling up would.
      v8.setFlagsFromString("--expose-gc")
      const gc = vm.runInNewContext("gc") as () => void
      const retained = () => {
        gc()
        const m = process.memoryUsage()
        return m.heapUsed + m.arrayBuffers
      }
      const before = retained()
      let peak = before
      let chunks = 0
      const started = Date.now()
      // Streamed with a 128 MiB decoded limit: hit after ~8 members (~128 KiB) on the wire.
      const streamed = yield* failure(
        Stream.runForEach(Client.stream(`${served.url}/bomb`), () =>
          Effect.sync(() => {
            if (++chunks % 1024 === 0) peak = Math.max(peak, retained())
          })),
        { maxBodyBytes: 128 * 1024 * 1024 }
      )
      // Read whole with a 4 MiB limit.
      const whole = yield* failure(Client.bytes(`${served.url}/bomb`), { maxBodyBytes: 4 * 1024 * 1024 })
      const elapsed = Date.now() - started
      expect(streamed._tag).toBe("BodyTooLargeError")
      expect(whole._tag).toBe("BodyTooLargeError")
      if (whole._tag === "BodyTooLargeError") expect(whole.limit).toBe(4 * 1024 * 1024)
      expect(chunks).toBeGreaterThan(1024) // the stream did run through a lot of decoded data
      // Fast: nowhere near inflating 10 GiB.
      expect(elapsed).toBeLessThan(40_000)
      // Flat memory: 128 MiB went through the stream; what the process held after collection
      // stayed under half of that (buffered body ≤ 256 KiB by backpressure; the rest is the
      // client's warm-up), where holding the body would have taken all of it.
      expect(peak - before).toBeLessThan(64 * 1024 * 1024)
      // The server was cut off long before it sent its 10 MiB, and saw the connection closed.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      expect(served.bomb.finished).toBe(false)
      expect(served.bomb.closedEarly).toBe(true)
      expect(served.bomb.written).toBeLessThan(bombMember.length * bombMembers)
    }), 60_000)
})
