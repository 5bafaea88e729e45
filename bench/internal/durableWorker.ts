/**
 * One contender of the durable suite (`bench/durable.ts`), in its own process:
 *
 *   durableWorker.js memory  URL N CONCURRENCY
 *   durableWorker.js durable URL N CONCURRENCY DB NAME load|attach
 *
 * The list is N distinct URLs (`URL?i=…`). Every contender first warms the client and
 * `Batch.stream` on an in-memory batch of N/20 (at most 500), then, for `durable`, loads the
 * list under NAME (`load`; timed) or only opens the store (`attach`: another worker loaded
 * it). It then sends `{ ready }` and waits for `go`, so that two workers start together; the
 * timed part is the run alone: `Batch.stream` of the list, or `DurableBatch.stream` of NAME,
 * drained. It reports its epoch start and end (the parent takes the span over all workers),
 * its CPU time and how many items it stored or got as successes.
 */
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import * as Batch from "../../src/Batch.js"
import * as Client from "../../src/Client.js"
import * as DurableBatch from "../../src/DurableBatch.js"

export interface Ready {
  readonly ready: true
  /** Time of `DurableBatch.load`, ms (0 when attaching or in memory). */
  readonly loadMs: number
}

export interface Report {
  readonly startedAt: number
  readonly endedAt: number
  readonly cpuMs: number
  /** Items this process finished (stored, for a durable worker). */
  readonly items: number
  readonly ok: number
}

const [mode, url, n, c, db, name, how] = process.argv.slice(2)
const count = Number(n)
const concurrency = Number(c)
if (mode !== "memory" && mode !== "durable") throw new Error(`durableWorker: unknown mode ${mode}`)
const urls = Array.from({ length: count }, (_, i) => `${url}?i=${i}`)

const client = Client.layer({ connectionsPerOrigin: concurrency })
// The in-memory contender never touches the store: it is typed as present, not provided.
const runtime = (mode === "durable" ? ManagedRuntime.make(Layer.merge(client, DurableBatch.layer(db!))) : ManagedRuntime.make(client)) as ManagedRuntime.ManagedRuntime<
  Client.Client | DurableBatch.DurableBatchStore,
  unknown
>

const go = new Promise<void>((resolve) =>
  process.on("message", (message) => {
    if (message === "go") resolve()
  })
)

const main = async () => {
  const warm = urls.slice(0, Math.max(1, Math.min(500, Math.ceil(count / 20))))
  await runtime.runPromise(Stream.runDrain(Batch.stream(warm, { concurrency })))
  let loadMs = 0
  if (mode === "durable" && how === "load") {
    const started = performance.now()
    const loaded = await runtime.runPromise(DurableBatch.load(urls, { name: name! }))
    loadMs = performance.now() - started
    if (loaded.total !== count) throw new Error(`durableWorker: ${name} holds ${loaded.total} items, not ${count}`)
  }
  const ready: Ready = { ready: true, loadMs }
  process.send!(ready)
  await go

  const cpuBefore = process.cpuUsage()
  const startedAt = Date.now()
  const tally = mode === "memory"
    ? Stream.runFold(Batch.stream(urls, { concurrency }), { items: 0, ok: 0 }, (t, outcome) => ({ items: t.items + 1, ok: t.ok + (Batch.isSuccess(outcome) ? 1 : 0) }))
    : Stream.runFold(DurableBatch.stream<string>(name!, { concurrency }), { items: 0, ok: 0 }, (t, record) => ({ items: t.items + 1, ok: t.ok + (record.outcome === "succeeded" ? 1 : 0) }))
  const { items, ok } = await runtime.runPromise<{ items: number; ok: number }, unknown>(tally)
  const endedAt = Date.now()
  const cpu = process.cpuUsage(cpuBefore)
  const report: Report = { startedAt, endedAt, cpuMs: (cpu.user + cpu.system) / 1000, items, ok }
  await runtime.dispose()
  process.send!(report, () => process.exit(0))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
