/**
 * A client carries its core (`ClientService.core`): Batch, Download and the HttpClient bridge
 * compose over it, so they share the client's per-origin state with its plain calls, however
 * the client value reaches them (a layer, a copy, `fromClient`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import * as Batch from "../../src/Batch.js"
import * as Client from "../../src/Client.js"
import * as VolleyHttpClient from "../../src/HttpClient.js"
import * as Testing from "../../src/Testing.js"
import { arrivals, run } from "./support.js"

describe("virtual time: a client carries its core", () => {
  it.effect("a 429 with Retry-After seen through the HttpClient bridge pauses the client's own next call to that origin", () =>
    run(
      { "/x": [Testing.status(429, { headers: { "retry-after": "2" } }), Testing.text("ok")] },
      Effect.gen(function*() {
        const bridge = VolleyHttpClient.fromClient(yield* Client.Client)
        expect((yield* bridge.get("https://api.test/x")).status).toBe(429)
        expect(yield* Client.text("https://api.test/x")).toBe("ok")
        expect(yield* arrivals).toEqual([0, 2000])
      })
    ))

  it.effect("a copy of the client provided with Layer.succeed shares the pause with the original", () =>
    run(
      { "/x": [Testing.status(429, { headers: { "retry-after": "3" } }), Testing.text("ok")] },
      Effect.gen(function*() {
        const client = yield* Client.Client
        expect((yield* Effect.flip(Client.text("https://api.test/x", { retry: false })))._tag).toBe("StatusError")
        const [outcome] = yield* Batch.settle(["https://api.test/x"]).pipe(Effect.provide(Layer.succeed(Client.Client, { ...client })))
        expect(Either.isRight(outcome!.result)).toBe(true)
        expect(yield* arrivals).toEqual([0, 3000])
      })
    ))

  it("a hand-written service is not a ClientService: fake the server with volley/testing instead", () => {
    const handWritten = {
      execute: () => Effect.die("unused"),
      open: () => Effect.die("unused")
    }
    // @ts-expect-error: no `core`, which Batch, Download and the bridge compose over.
    const service: Client.ClientService = handWritten
    expect(service).toBe(handWritten)
  })
})
