/**
 * The download's write path: batches written behind the caller at explicit positions, with
 * background syncs along the way; the file ends up exactly as written, whatever the batching.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Fs from "../src/internal/download/fs.js"

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff)

describe("writeBehind", () => {
  it.effect("writes batches in order with a background sync every few bytes; fsync and settled wait for it", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-fs-"))
      const target = path.join(dir, "f.part")
      const fd = yield* Fs.openForWrite(target, true)
      // syncEvery of 1 byte: a sync starts after every write, and overlaps the next one.
      const writer = Fs.writeBehind(fd, target, 1)
      const batches = Array.from({ length: 20 }, (_, i) => [bytes(1000 + i, i), bytes(10, i + 100)])
      let position = 0
      for (const batch of batches) {
        yield* writer.flush
        writer.start(batch, position)
        position += batch.reduce((n, b) => n + b.length, 0)
      }
      yield* writer.flush
      yield* writer.fsync
      yield* writer.settled
      yield* Fs.close(fd, target)
      const expected = Buffer.concat(batches.flat())
      expect(fs.readFileSync(target).equals(expected)).toBe(true)
      fs.rmSync(dir, { recursive: true, force: true })
    }))
})
