/**
 * One request done right: a deadline, retries for transient failures, and every failure
 * handled by type.
 *
 *   npm run build && node dist/examples/request.js
 *
 * It starts its own server on 127.0.0.1 (a flaky one: 503 twice, then 200) so it runs
 * offline.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Schema } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Client from "../src/Client.js"

const User = Schema.Struct({ id: Schema.Number, name: Schema.String })

/** Fetches a user: 5 s deadline per attempt, up to 4 attempts with backoff, JSON decoded. */
const getUser = (baseUrl: string, id: number) =>
  Client.jsonSchema(User, `${baseUrl}/users/${id}`, {
    deadline: "5 seconds",
    retry: { maxAttempts: 4, baseDelay: "100 millis" }
  }).pipe(
    Effect.map((user) => `user ${user.id}: ${user.name}`),
    Effect.catchTags({
      StatusError: (e) => Effect.succeed(e.status === 404 ? `user ${id}: not found` : `server said ${e.status}`),
      NetworkError: (e) => Effect.succeed(`network failure (${e.reason}${e.phase ? `, ${e.phase}` : ""}): ${e.message}`),
      DecodeError: (e) => Effect.succeed(`unexpected payload: ${e.detail}`),
      BodyTooLargeError: (e) => Effect.succeed(`response too large: ${e.message}`),
      RedirectError: (e) => Effect.succeed(`redirect refused: ${e.reason}`),
      InvalidUrlError: (e) => Effect.succeed(`bad URL: ${e.message}`)
    })
  )

/** A local stand-in for a real API: the first two calls answer 503, then it recovers. */
const flakyServer = Effect.acquireRelease(
  Effect.async<http.Server>((resume) => {
    let calls = 0
    const server = http.createServer((req, res) => {
      calls++
      if (calls <= 2) {
        res.writeHead(503, { "retry-after": "0" }).end("busy")
        return
      }
      if (req.url === "/users/1") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: 1, name: "Ada" }))
        return
      }
      res.writeHead(404).end()
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

const main = Effect.gen(function*() {
  const server = yield* flakyServer
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  yield* Console.log(yield* getUser(baseUrl, 1)) // 503, 503, then 200
  yield* Console.log(yield* getUser(baseUrl, 2)) // 404: not retried
  yield* Console.log(yield* getUser("http://127.0.0.1:1", 3)) // nothing listens there
})

main.pipe(Effect.scoped, Effect.provide(Client.layer()), NodeRuntime.runMain)
