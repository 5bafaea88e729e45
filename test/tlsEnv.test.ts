/**
 * TLS trust comes from the code, never from the environment: with volley's client defaults, a
 * server whose certificate is not trusted is refused even when the process runs with
 * `NODE_TLS_REJECT_UNAUTHORIZED=0` (which, left to itself, Node's `tls.connect`, and so undici,
 * obeys). `NODE_EXTRA_CA_CERTS` is Node's system trust store, read once at startup: what it
 * does is pinned down here too. Each case runs the built client in a child process, since
 * both variables are read from the process's own environment.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FaultServer, startFaultServer } from "./support/FaultServer.js"
import { root, runNode } from "./support/spawn.js"

let server: FaultServer
beforeAll(async () => {
  server = await startFaultServer({ tls: true })
})
afterAll(() => server.close())

const cert = path.join(root, "test/support/certs/cert.pem")

/** GETs `url` with `Client.layer(options)` in a child process; prints `ok` or the error's tag and reason. */
const probe = (url: string, env: NodeJS.ProcessEnv, options = "{}") =>
  runNode(
    [
      "--input-type=module",
      "-e",
      `
      import { Effect } from "effect"
      import * as Client from "./dist/src/Client.js"
      const out = await Effect.runPromise(Client.text(${JSON.stringify(url)}).pipe(
        Effect.provide(Client.layer({ retry: { maxAttempts: 1 }, ...${options} })),
        Effect.match({ onSuccess: () => "ok", onFailure: (e) => e._tag + " " + (e.reason ?? "") })
      ))
      console.log(out)
      `
    ],
    { env: { ...env, NODE_NO_WARNINGS: "1" } }
  ).then((run) => ({ out: run.stdout.trim(), err: run.stderr }))

describe("TLS trust is not read from the environment", () => {
  it("NODE_TLS_REJECT_UNAUTHORIZED=0 does not turn certificate checks off", async () => {
    const run = await probe(`${server.url}/ok`, { NODE_TLS_REJECT_UNAUTHORIZED: "0" })
    expect(run.out).toBe("NetworkError Tls")
  })

  it("the untrusted server is refused by default, and accepted only with the CA given in code", async () => {
    expect((await probe(`${server.url}/ok`, {})).out).toBe("NetworkError Tls")
    const withCa = await probe(`${server.url}/ok`, {}, `{ ca: (await import("node:fs")).readFileSync(${JSON.stringify(cert)}, "utf8") }`)
    expect(withCa.out).toBe("ok")
  })

  it("NODE_EXTRA_CA_CERTS does not add trust to volley's client", async () => {
    const run = await probe(`${server.url}/ok`, { NODE_EXTRA_CA_CERTS: cert })
    expect(run.out).toBe("NetworkError Tls")
  })
})
