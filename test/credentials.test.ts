/**
 * URL credentials against real loopback servers: `user:pass@` becomes Basic auth that a
 * checking server accepts, never travels in the URL, stays masked in errors, and does not
 * follow a redirect to another origin.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Client from "../src/Client.js"
import { clientLayer } from "./support/effect.js"

interface Seen {
  readonly path: string
  readonly authorization: string | undefined
}

/** A server that accepts only `Basic` for alice / "p@ss:wörd", recording what it was sent. */
const checkingServer = (redirectTo?: () => string) =>
  Effect.acquireRelease(
    Effect.async<{ server: http.Server; url: string; seen: Array<Seen> }>((resume) => {
      const seen: Array<Seen> = []
      const expected = `Basic ${Buffer.from("alice:p@ss:wörd", "utf8").toString("base64")}`
      const server = http.createServer((req, res) => {
        seen.push({ path: req.url ?? "", authorization: req.headers.authorization })
        if (req.url === "/hop" && redirectTo !== undefined) {
          res.writeHead(302, { location: redirectTo() }).end()
        } else if (req.url?.startsWith("/open")) {
          res.writeHead(200, { "content-type": "text/plain" }).end("open")
        } else if (req.headers.authorization === expected) {
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ user: "alice" }))
        } else {
          res.writeHead(401, { "www-authenticate": "Basic realm=test" }).end("who are you?")
        }
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${port}`, seen }))
      })
    }),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }))
  )

/** alice / "p@ss:wörd", percent-encoded as a URL requires. */
const withCredentials = (url: string) => url.replace("http://", `http://alice:${encodeURIComponent("p@ss:wörd")}@`)

describe("Client: URL credentials", () => {
  it.scoped("user:pass@ becomes Authorization: Basic (percent-decoded), accepted by a server that checks it", () =>
    Effect.gen(function*() {
      const { seen, url } = yield* checkingServer()
      const value = yield* Effect.provide(Client.json(withCredentials(`${url}/private`)), clientLayer())
      expect(value).toEqual({ user: "alice" })
      // Without them: 401, so the check is real.
      const refused = yield* Effect.flip(Effect.provide(Client.json(`${url}/private`), clientLayer()))
      expect(refused._tag === "StatusError" && refused.status).toBe(401)
      expect(seen[0]!.authorization).toMatch(/^Basic /)
    }))

  it.scoped("an error names the URL with the credentials masked, never in clear", () =>
    Effect.gen(function*() {
      const { url } = yield* checkingServer()
      const wrong = url.replace("http://", "http://alice:hunter2@")
      const error = yield* Effect.flip(Effect.provide(Client.text(`${wrong}/private`), clientLayer()))
      expect(error._tag).toBe("StatusError")
      expect(error.message).not.toContain("hunter2")
      expect(error.message).not.toContain("alice")
      expect(error.message).toContain("127.0.0.1")
      // A URL that does not resolve to a connection: the NetworkError is masked too.
      const closed = yield* Effect.flip(Effect.provide(Client.text("http://alice:hunter2@127.0.0.1:1/x"), clientLayer()))
      expect(closed._tag).toBe("NetworkError")
      expect(String(closed.message)).not.toContain("hunter2")
    }))

  it.scoped("the credentials are dropped on a redirect to another origin, kept on the same origin", () =>
    Effect.gen(function*() {
      const other = yield* checkingServer()
      const first = yield* checkingServer(() => `${other.url}/open/elsewhere`)
      const body = yield* Effect.provide(Client.text(withCredentials(`${first.url}/hop`)), clientLayer())
      expect(body).toBe("open")
      expect(first.seen[0]!.authorization).toMatch(/^Basic /)
      expect(other.seen).toEqual([{ path: "/open/elsewhere", authorization: undefined }])
    }))

  it.scoped("malformed percent-encoding in the credentials is an InvalidUrlError, nothing sent", () =>
    Effect.gen(function*() {
      const { seen, url } = yield* checkingServer()
      const error = yield* Effect.flip(Effect.provide(Client.text(url.replace("http://", "http://alice:%zz@") + "/private"), clientLayer()))
      expect(error._tag).toBe("InvalidUrlError")
      expect(error.message).toContain("percent-encoding")
      expect(error.message).not.toContain("%zz")
      expect(seen).toEqual([])
    }))
})
