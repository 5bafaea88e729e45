/**
 * Helpers for tests that drive a transport directly, below the client: a request as the
 * client would build it, sent through the virtual transport.
 */
import { Effect } from "effect"
import type { TransportRequest } from "../../src/Transport.js"
import * as Testing from "../../src/Testing.js"

/** A transport request as the client would build it. */
export const request = (url: string, method = "GET", body?: string): TransportRequest => ({
  url: new URL(url),
  method,
  headers: { "user-agent": "test" },
  body,
  redactedUrl: url
})

/** Sends `req` through a fresh virtual transport answering from `routes`. */
export const send = (routes: Testing.Routes, req: TransportRequest) =>
  Effect.gen(function*() {
    const test = Testing.make(routes)
    const response = yield* test.transport.send(req, undefined)
    return { test, response }
  })
