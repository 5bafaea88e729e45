/**
 * One contender of the download benchmark, in its own process so its peak RSS is its own.
 * `node downloadRunner.js <mode> <url> <out> [count|size] [concurrency]`; prints one JSON
 * line: `{ ms, cpuMs, maxRssKiB, baselineKiB, digest? }` (`cpuMs`: user + system CPU of the
 * work, imports excluded; `baselineKiB`: peak RSS after imports, before any work).
 *
 * Each mode imports only what it uses (dynamic imports, before the baseline is taken): a
 * contender that does not use effect must not carry effect's modules in its peak RSS.
 *
 * Modes:
 * - `volley`: `Download.file` (sha256, fsync, rename);
 * - `undici`: undici `request` piped through a hashing Transform into a file (the plain
 *   hand-written pipeline; no fsync, so its last bytes may still be in the page cache);
 * - `undici-fsync`: the same, then fsync and rename from `<out>.part` (what the hand-written
 *   pipeline needs to promise what volley promises: the file is on disk when it appears);
 * - `volley-many`: `Download.many` of `count` URLs at `concurrency`;
 * - `write-node` / `write-platform`: write `size` bytes in 256 KiB batches, one at a time,
 *   with node:fs `writev` vs @effect/platform `FileSystem` (the disk path alone).
 */
import * as fs from "node:fs"

const [mode, url, out, countArg, concurrencyArg] = process.argv.slice(2) as [string, string, string, string?, string?]

type Work = () => Promise<{ digest?: string }>

const handWritten = async (fsync: boolean): Promise<Work> => {
  const { createHash } = await import("node:crypto")
  const { Transform } = await import("node:stream")
  const { pipeline } = await import("node:stream/promises")
  const { request } = await import("undici")
  return async () => {
    const hash = createHash("sha256")
    const { body } = await request(url)
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk)
        callback(null, chunk)
      }
    })
    const target = fsync ? `${out}.part` : out
    await pipeline(body, tap, fs.createWriteStream(target))
    if (fsync) {
      const file = await fs.promises.open(target, "r+")
      await file.sync()
      await file.close()
      await fs.promises.rename(target, out)
    }
    return { digest: hash.digest("hex") }
  }
}

const load = async (): Promise<Work> => {
  switch (mode) {
    case "volley": {
      const [Effect, Client, Download] = await Promise.all([
        import("effect/Effect"),
        import("../../src/Client.js"),
        import("../../src/Download.js")
      ])
      return async () => {
        const result = await Effect.runPromise(Download.file(url, { path: out }).pipe(Effect.provide(Client.layer())))
        return { digest: result.checksum.hex }
      }
    }
    case "undici":
      return handWritten(false)
    case "undici-fsync":
      return handWritten(true)
    case "volley-many": {
      const [Effect, Client, Download] = await Promise.all([
        import("effect/Effect"),
        import("../../src/Client.js"),
        import("../../src/Download.js")
      ])
      return async () => {
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
    }
    case "write-node": {
      const batch = Buffer.alloc(256 * 1024, 0x5a)
      return async () => {
        const size = Number(countArg)
        const fd = fs.openSync(out, "w")
        for (let position = 0; position < size; position += batch.length) {
          await new Promise<void>((resolve, reject) => fs.writev(fd, [batch], position, (err) => (err ? reject(err) : resolve())))
        }
        fs.closeSync(fd)
        return {}
      }
    }
    case "write-platform": {
      const batch = Buffer.alloc(256 * 1024, 0x5a)
      const [Effect, FileSystem, NodeFileSystem] = await Promise.all([
        import("effect/Effect"),
        import("@effect/platform/FileSystem"),
        import("@effect/platform-node/NodeFileSystem")
      ])
      return async () => {
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
    }
    default:
      throw new Error(`unknown mode ${mode}`)
  }
}

const cpuMs = () => {
  const usage = process.resourceUsage()
  return (usage.userCPUTime + usage.systemCPUTime) / 1000
}

const main = async () => {
  const work = await load()
  const baselineKiB = process.resourceUsage().maxRSS
  const cpuAtStart = cpuMs()
  const started = process.hrtime.bigint()
  const extra = await work()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  process.stdout.write(`${JSON.stringify({ ms, cpuMs: cpuMs() - cpuAtStart, maxRssKiB: process.resourceUsage().maxRSS, baselineKiB, ...extra })}\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`${String((error as Error)?.stack ?? error)}\n`)
  process.exit(1)
})
