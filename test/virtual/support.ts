/**
 * Helpers shared by the client's virtual-time suites (retries, timeouts, bodies, redirects).
 */
import { Clock, Effect } from "effect"
import type * as Client from "../../src/Client.js"
import type { HttpError } from "../../src/Errors.js"
import * as Testing from "../../src/Testing.js"

type Env = Client.Client | Testing.TestTransport

/** Runs a program against a route table, moving the TestClock from timer to timer until it ends. */
export const run = <A, E>(routes: Testing.Routes, program: Effect.Effect<A, E, Env>, options?: Client.ClientOptions) =>
  Testing.inVirtualTime(program).pipe(Effect.provide(Testing.layer(routes, options)))

export const arrivals = Effect.map(Testing.requests, (records) => records.map((r) => r.at))
export const now = Clock.currentTimeMillis

/** Backoff without jitter: 1 s, 2 s, 4 s… */
export const exact: Client.ClientOptions = { retry: { jitter: false, baseDelay: "1 second" } }
export const once: Client.ClientOptions = { retry: { maxAttempts: 1 } }

export const timeoutOf = (error: HttpError) => (error._tag === "NetworkError" ? [error.reason, error.phase] : [error._tag])
