/**
 * Helpers shared by the client's real-socket suites (test/client*.test.ts).
 */
import { Effect } from "effect"
import dnsModule from "node:dns"
import type * as Client from "../../src/Client.js"
import type { HttpError } from "../../src/Errors.js"
import { clientLayer } from "./effect.js"

/**
 * Replaces `dns.lookup` (what `net.connect`, and so undici, resolves with) for the test's scope
 * by a table: names in it resolve there, every other name fails as an unknown host
 * (`ENOTFOUND`). Returns the names asked, in order.
 */
export const controlledDns = (table: Readonly<Record<string, string>>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const asked: Array<string> = []
      const original = dnsModule.lookup
      const lookup = (hostname: string, options: unknown, callback?: unknown) => {
        const cb = (typeof options === "function" ? options : callback) as (...args: Array<unknown>) => void
        const all = typeof options === "object" && options !== null && (options as { all?: boolean }).all === true
        asked.push(hostname)
        const address = table[hostname]
        process.nextTick(() => {
          if (address === undefined) {
            return cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", syscall: "getaddrinfo", hostname }))
          }
          return all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4)
        })
      }
      ;(dnsModule as { lookup: unknown }).lookup = lookup
      return { asked, original }
    }),
    ({ original }) => Effect.sync(() => void ((dnsModule as { lookup: unknown }).lookup = original))
  ).pipe(Effect.map(({ asked }) => asked))

/** Runs a client program and returns its failure (the test fails if it succeeded). */
export const failure = <A>(effect: Effect.Effect<A, HttpError, Client.Client>, options?: Client.ClientOptions) =>
  Effect.flip(effect).pipe(Effect.provide(clientLayer(options)))
