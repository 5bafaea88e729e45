/**
 * The example API's sign-up under back-pressure, in process on a real loopback server: when
 * the welcome-email queue is full, `POST /users` answers 503 + Retry-After and keeps nothing,
 * so the client's retry is not a duplicate.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Api from "../../examples/api.js"
import * as Client from "../../src/Client.js"
import * as JobPool from "../../src/server/JobPool.js"
import { captureLogs, plainServer, realDelay, serve } from "./helpers.js"

const postUser = (url: string, name: string) =>
  Effect.promise(() =>
    fetch(`${url}/users`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name, email: `${name}@example.com` }) })
  )

describe("example API: POST /users with the email queue full", () => {
  it.scopedLive("answers 503 with Retry-After and does not keep the user; accepted sign-ups are kept", () =>
    Effect.gen(function*() {
      const outbox = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "volley-signup-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      // One worker, room for one queued job, a slow mailer: the third sign-up finds the queue full.
      const extra = Layer.mergeAll(
        JobPool.layer({ name: "email", workers: 1, capacity: 1, retryAfter: "2 seconds", drainTimeout: "10 millis" }),
        Api.UsersLive
      ).pipe(
        Layer.provideMerge(Layer.mergeAll(Api.MailerLive(outbox, "10 seconds"), Api.LocalUpstreams, Client.layer()))
      )
      const { context, url } = yield* serve(Api.router, plainServer(), extra)
      const users = Context.get(context, Api.Users)
      const pool = Context.get(context, JobPool.JobPool)

      expect((yield* postUser(url, "a")).status).toBe(201)
      // Wait (real time, bounded) until the worker took the first email: the queue is empty again.
      for (let i = 0; i < 500 && (yield* pool.stats).running < 1; i++) yield* realDelay(2)
      expect((yield* postUser(url, "b")).status).toBe(201)
      const refused = yield* postUser(url, "c")
      expect(refused.status).toBe(503)
      expect(refused.headers.get("retry-after")).toBe("2")
      expect(yield* users.count).toBe(2)
    }).pipe(Effect.provide(captureLogs().layer)))
})
