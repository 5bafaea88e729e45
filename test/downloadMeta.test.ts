/**
 * The `.part.meta` beside a staged download: it keeps no secret on disk (the URL redacted, a
 * hash of the full URL to match a resume, mode 0600), and it is validated when read: anything
 * unexpected discards the `.part` and starts clean, never fails or kills a run.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as Client from "../src/Client.js"
import * as Download from "../src/Download.js"
import { clientLayer, faultServer } from "./support/effect.js"

const pattern = (size: number): Buffer => {
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) out[i] = i % 251
  return out
}

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "volley-meta-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const run = <A, E>(effect: Effect.Effect<A, E, Client.Client>) => Effect.provide(effect, clientLayer())

/** Every byte of every file under `dir`, as latin1 text (so a secret is found whatever the encoding around it). */
const everythingOnDisk = (dir: string): string =>
  fs.readdirSync(dir).map((name) => `${name}\n${fs.readFileSync(path.join(dir, name)).toString("latin1")}`).join("\n")

describe("Download: .part.meta holds no secret", () => {
  it.scoped("no password or access_token on disk, mode 0600; the same URL resumes (matched by hash), another password does not", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const dir = yield* tempDir
      const dest = path.join(dir, "s.bin")
      const host = server.url.replace("http://", "")
      // resetAfter cuts full responses only: the same URL resumes with a Range request.
      const url = (password: string) => `http://admin:${password}@${host}/range-file?size=300000&etag=v9&access_token=tok-${password}&resetAfter=100000`
      expect((yield* Effect.flip(run(Download.file(url("s3cretPW"), { path: dest, retry: false }))))._tag).toBe("NetworkError")
      const onDisk = everythingOnDisk(dir)
      expect(onDisk).toContain("range-file")
      expect(onDisk).not.toContain("s3cretPW")
      expect(onDisk).not.toContain("tok-")
      expect(fs.statSync(`${dest}.part.meta`).mode & 0o777).toBe(0o600)

      // Another password is another URL: not resumed (no Range sent), restarted (and cut again).
      yield* Effect.flip(run(Download.file(url("other"), { path: dest, retry: false })))
      expect(server.requests.at(-1)!.headers["range"]).toBeUndefined()
      expect(everythingOnDisk(dir)).not.toContain("other")
      // The same full URL as the .part's resumes from it.
      const result = yield* run(Download.file(url("other"), { path: dest, retry: false }))
      expect(result).toMatchObject({ resumedFrom: 100_000, size: 300_000 })
      expect(server.requests.at(-1)!.headers["range"]).toBe("bytes=100000-")
      expect(fs.readFileSync(dest).equals(pattern(300_000))).toBe(true)
    }))
})
