/**
 * One contender of the download benchmark, in its own process so its peak RSS is its own.
 * `node downloadRunner.js <mode> <url> <out> [count|size] [concurrency]`; prints one JSON
 * line: `{ ms, cpuMs, maxRssKiB, baselineKiB, digest? }` (`cpuMs`: user + system CPU of the
 * work, imports excluded; `baselineKiB`: peak RSS after imports, before any work).
 *
 * Modes:
 * - `volley`: `Download.file` (sha256, fsync, rename);
 * - `undici`: undici `request` piped through a hashing Transform into a file (the plain
 *   hand-written pipeline);
 * - `volley-many`: `Download.many` of `count` URLs at `concurrency`;
 * - `write-node` / `write-platform`: write `size` bytes in 256 KiB batches, one at a time,
 *   with node:fs `writev` vs @effect/platform `FileSystem` (the disk path alone).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import { request } from "undici"
import * as Client from "../../src/Client.js"
import * as Download from "../../src/Download.js"

const [mode, url, out, countArg, concurrencyArg] = process.argv.slice(2) as [string, string, string, string?, string?]

const batch = Buffer.alloc(256 * 1024, 0x5a)

const main = async (): Promise<{ digest?: string }> => {
  switch (mode) {
    case "volley": {
      const result = await Effect.runPromise(Download.file(url, { path: out }).pipe(Effect.provide(Client.layer())))
      return { digest: result.checksum.hex }
    }
    case "undici": {
      const hash = createHash("sha256")
      const { body } = await request(url)
      const tap = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk)
          callback(null, chunk)
        }
      })
      await pipeline(body, tap, fs.createWriteStream(out))
      return { digest: hash.digest("hex") }
    }
    case "volley-many": {
      const count = Number(countArg ?? "1")
      const concurrency = Number(concurrencyArg ?? "8")
      const items = Array.from({ length: count }, (_, i) => ({ url: `${url}&i=${i}`, name: `f${i}.bin` }))
      const outcomes = await Effect.runPromise(
        Download.many(items, { dir: out, concurrency, perHost: concurrency }).pipe(Effect.provide(Client.layer()))
      )
      const failed = outcomes.filter((o) => o._tag === "Failure")
      if (failed.length > 0) throw new Error(`${failed.length} downloads failed: ${JSON.stringify(failed[0])}`)
      return {}
    }
    case "write-node": {
      const size = Number(countArg)
      const fd = fs.openSync(out, "w")
      for (let position = 0; position < size; position += batch.length) {
        await new Promise<void>((resolve, reject) => fs.writev(fd, [batch], position, (err) => (err ? reject(err) : resolve())))
      }
      fs.closeSync(fd)
      return {}
    }
    case "write-platform": {
      const size = Number(countArg)
      await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function*() {
            const files = yield* FileSystem.FileSystem
            const file = yield* files.open(out, { flag: "w" })
            for (let position = 0; position < size; position += batch.length) yield* file.writeAll(batch)
          })
        ).pipe(Effect.provide(NodeFileSystem.layer))
      )
      return {}
    }
    default:
      throw new Error(`unknown mode ${mode}`)
  }
}

const cpuMs = () => {
  const usage = process.resourceUsage()
  return (usage.userCPUTime + usage.systemCPUTime) / 1000
}
const baselineKiB = process.resourceUsage().maxRSS
const cpuAtStart = cpuMs()
const started = process.hrtime.bigint()
main().then(
  (extra) => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    process.stdout.write(`${JSON.stringify({ ms, cpuMs: cpuMs() - cpuAtStart, maxRssKiB: process.resourceUsage().maxRSS, baselineKiB, ...extra })}\n`)
  },
  (error: unknown) => {
    process.stderr.write(`${String((error as Error)?.stack ?? error)}\n`)
    process.exit(1)
  }
)
