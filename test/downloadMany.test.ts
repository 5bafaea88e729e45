/**
 * Download.many against real loopback servers: bounded per host, one outcome per input in
 * input order, names (collisions, hostile Content-Disposition) kept inside the folder.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Download from "../src/Download.js"
import { faultServer } from "./support/effect.js"
import { digest, mutableServer, pattern, run, tempDir } from "./support/download.js"

describe("Download.many", () => {
  it.scoped("a file named like another's staging file (x and x.part in one run) is renamed off the side-file suffix; both arrive intact", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const items: Array<Download.Item> = [
        { url: `${server.url}/range-file?size=150000`, name: "x" },
        { url: `${server.url}/range-file?size=90000`, name: "x.part" }
      ]
      const outcomes = yield* run(Download.many(items, { dir, concurrency: 2 }))
      expect(outcomes.map((o) => o._tag === "Success" && path.basename(o.value.path))).toEqual(["x", "x.part_"])
      expect(fs.readFileSync(path.join(dir, "x")).equals(pattern(150_000))).toBe(true)
      expect(fs.readFileSync(path.join(dir, "x.part_")).equals(pattern(90_000))).toBe(true)
      expect(fs.readdirSync(dir).sort()).toEqual(["x", "x.part_"])
    }))

  it.scoped("bounded per host, one outcome per input in input order, collisions named in input order", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const urls = [0, 1, 2, 3, 4, 5].map((i) => `${server.url}/range-file?size=${100_000 + i}`)
      const items: Array<Download.Item> = [...urls, `${server.url}/status/404`, { url: urls[0]!, name: "custom.bin", checksum: digest(pattern(100_000)) }]
      const outcomes = yield* run(Download.many(items, { dir, concurrency: 8, perHost: 2 }))
      expect(outcomes.map((o) => [o.index, o._tag])).toEqual([
        [0, "Success"], [1, "Success"], [2, "Success"], [3, "Success"], [4, "Success"], [5, "Success"], [6, "Failure"], [7, "Success"]
      ])
      const paths = outcomes.flatMap((o) => o._tag === "Success" ? [path.basename(o.value.path)] : [])
      expect(paths).toEqual(["range-file", "range-file (1)", "range-file (2)", "range-file (3)", "range-file (4)", "range-file (5)", "custom.bin"])
      for (let i = 0; i < 6; i++) expect(fs.statSync(path.join(dir, paths[i]!)).size).toBe(100_000 + i)
      expect(Math.max(...server.maxInFlightByHost.values())).toBeLessThanOrEqual(2)
      const failure = outcomes[6]!
      expect(failure._tag === "Failure" && failure.error._tag).toBe("StatusError")
    }))

  it.scoped("hostile Content-Disposition names stay inside the folder, collisions resolved in input order", () =>
    Effect.gen(function*() {
      const server = yield* mutableServer
      const dir = yield* tempDir
      const hostile = [
        "attachment; filename=\"../../x\"",
        "attachment; filename=\"/etc/passwd\"",
        "attachment; filename=\"a/b\"",
        "attachment; filename*=UTF-8''nul%00byte.txt",
        "attachment; filename*=UTF-8''new%0Aline.txt",
        "attachment; filename=\"..\"",
        "attachment; filename=\"CON\"",
        "attachment; filename=\"x\"",
        "attachment; filename=\"..\\\\..\\\\win.ini\""
      ]
      const outcomes = yield* run(Download.many(hostile.map((cd) => `${server.url}/f?cd=${encodeURIComponent(cd)}`), { dir, nameFrom: "content-disposition", concurrency: 4 }))
      const names = outcomes.map((o) => o._tag === "Success" ? path.relative(dir, o.value.path) : o.error._tag)
      expect(names).toEqual(["x", "passwd", "b", "nul_byte.txt", "new_line.txt", "download", "_CON", "x (1)", "win.ini"])
      for (const name of names) expect(path.resolve(dir, name).startsWith(dir + path.sep)).toBe(true)
      expect(fs.readdirSync(dir).sort()).toEqual([...names].sort())
      expect(fs.readdirSync(path.dirname(dir)).includes("x")).toBe(false)
    }))

  it.scoped("an invalid URL is a Failure outcome, not a crash", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const outcomes = yield* run(Download.many(["not a url"], { dir }))
      expect(outcomes[0]).toMatchObject({ _tag: "Failure", index: 0 })
      expect(outcomes[0]!._tag === "Failure" && outcomes[0]!.error._tag).toBe("InvalidUrlError")
    }))
})
