/**
 * volley's per-request records are allocated young, as class instances, even where V8 would
 * pretenure an object literal (see `src/internal/client/hotPath.ts`): in a heap that holds
 * long-lived data, as an application's does, 40,000 requests at concurrency 64 make V8 move an
 * object literal's allocation site to old space, and each request's dead record then keeps its
 * young objects alive until a full collection (promoted bytes 3-8x, scavenges 3x longer).
 *
 * The built modules run in a child process with `--allow-natives-syntax`; its transport asks
 * `%InYoungGeneration` of what the client hands it for every request: the prepared request, its
 * headers and the wait's bound.
 */
import { describe, expect, it } from "vitest"
import { runNode } from "./support/spawn.js"

const script = `
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Batch from "./dist/src/Batch.js"
import * as Client from "./dist/src/Client.js"

// Long-lived data, as an application holds: without it the young generation never reaches
// the size at which V8 makes its pretenuring decisions.
globalThis.retained = Array.from({ length: 200000 }, (_, i) => ({ i, name: "item " + i }))

const seen = { request: { young: 0, old: 0 }, headers: { young: 0, old: 0 }, bound: { young: 0, old: 0 } }
const note = (what, object) => { if (%InYoungGeneration(object)) seen[what].young++; else seen[what].old++ }
const body = new Uint8Array(128)
class Source {
  contentLength = body.length
  taken = false
  poll() { if (this.taken) return null; this.taken = true; return body }
  wait() { return Effect.void }
  release() {}
}
class Answer { status = 200; headers = { "content-length": "128" }; body = new Source() }
const send = (request, timeout, received) => Effect.async((resume) => {
  note("request", request)
  note("headers", request.headers)
  if (timeout !== undefined) note("bound", timeout)
  const answer = new Answer()
  setImmediate(() => { received?.(answer); resume(Effect.succeed(answer)) })
})
const runtime = ManagedRuntime.make(Layer.succeed(Client.Client, Client.makeWithTransport({ send })))
const urls = Array.from({ length: 40000 }, () => "http://127.0.0.1:1/x")
const outcomes = await runtime.runPromise(Batch.settle(urls, { concurrency: 64 }))
console.log(JSON.stringify({ ok: outcomes.filter(Batch.isSuccess).length, seen }))
`

describe("per-request records stay young under load", () => {
  it("Batch.settle, 40,000 requests at concurrency 64: the request, its headers and its bound are never allocated in old space", async () => {
    const run = await runNode(["--allow-natives-syntax", "--input-type=module", "-e", script], { timeoutMs: 60_000 })
    expect(run.code, run.stderr).toBe(0)
    const { ok, seen } = JSON.parse(run.stdout) as { ok: number; seen: Record<string, { young: number; old: number }> }
    expect(ok).toBe(40_000)
    // Every request was seen (so an empty count cannot pass), and none of its records was old.
    for (const what of ["request", "headers", "bound"]) expect({ what, ...seen[what] }).toEqual({ what, young: 40_000, old: 0 })
  }, 90_000)
})
