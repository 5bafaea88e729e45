/**
 * Downloads have no overall deadline (a large file takes as long as it takes): a body that
 * keeps arriving for 60 s of virtual time, far past the client's 30 s per-request deadline,
 * completes; only a gap longer than the idle timeout stops it. The virtual-time transport, so
 * the production path runs on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Download from "../../src/Download.js"
import * as Testing from "../../src/Testing.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "volley-vdl-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/**
 * Runs `effect` while moving the TestClock a second at a time, with a little real time between
 * steps for the download's file I/O (which `Testing.inVirtualTime` would not wait for).
 */
const stepped = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 300; i++) {
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 3)))
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return yield* done.value
      yield* TestClock.adjust("1 second")
    }
    return yield* Effect.dieMessage("the download did not finish within 300 s of virtual time")
  })

const chunks = Array.from({ length: 13 }, (_, i) => `chunk-${String(i).padStart(2, "0")};`)

describe("Download: no overall deadline", () => {
  it.scoped("a body arriving steadily for 60 s of virtual time (client deadline 30 s) completes", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const dest = path.join(dir, "slow.txt")
      const routes = { "GET /slow.txt": () => Testing.text(Testing.trickle(chunks, "5 seconds")) }
      const started = yield* Clock.currentTimeMillis
      const result = yield* stepped(Download.file("http://files.test/slow.txt", { path: dest, retry: false })).pipe(
        Effect.provide(Testing.layer(routes, { deadline: "30 seconds", idleTimeout: "30 seconds" }))
      )
      expect((yield* Clock.currentTimeMillis) - started).toBeGreaterThanOrEqual(60_000)
      expect(result.size).toBe(chunks.join("").length)
      expect(fs.readFileSync(dest, "utf8")).toBe(chunks.join(""))
    }))

  it.scoped("a gap longer than the idle timeout still fails it (the idle timeout is what bounds a download)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const routes = { "GET /stall.txt": () => Testing.text([chunks[0]!, Testing.pause("5 seconds"), chunks[1]!, Testing.pause("40 seconds"), chunks[2]!]) }
      const error = yield* stepped(Download.file("http://files.test/stall.txt", { path: path.join(dir, "s.txt"), retry: false })).pipe(
        Effect.provide(Testing.layer(routes, { deadline: "30 seconds", idleTimeout: "30 seconds" })),
        Effect.flip
      )
      expect(error).toMatchObject({ _tag: "NetworkError", reason: "Timeout" })
    }))
})
