/**
 * Running a stored batch in this process: claimed rows become the input stream of
 * `Batch.stream`, called with the caller's options, so every Batch rule (limits, rate,
 * retries, deadlines, per-host policies) applies as it does in memory. Outcomes are written
 * many per transaction, each in the statement that marks its row done, and emitted once
 * stored.
 *
 * Rows are claimed in chunks under a lease a background fiber renews. The next chunk is
 * claimed while the current one is handed over (one chunk ahead, so the pool does not stall
 * on the claim's write); its rows are held here, covered by the same lease renewal. A
 * non-idempotent request is marked sent (one statement) just before `Batch.stream` pulls it,
 * never earlier: the pool pulls a chunk only when a worker is free, so such items are handed
 * over one per chunk. A row taken over from a lost claim with that mark is stored `unknown`,
 * never sent again.
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Batch from "../../Batch.js"
import type { Client, RequestInput } from "../../Client.js"
import type { Record, RunOptions } from "../../DurableBatch.js"
import { type BatchStoreError, storeError } from "./errors.js"
import { finishOf, recordOf, replayable, unknownFinish } from "./records.js"
import * as store from "./store.js"
import * as Worker from "./worker.js"
import * as Writer from "./writer.js"

interface Item<I> {
  readonly index: number
  readonly item: I
}

export const run = <I, A, E, R>(
  s: store.Sql,
  name: string,
  options: RunOptions<I, A, E, R>
): Stream.Stream<Record<I, A>, BatchStoreError | Batch.BatchDeadlineError, Client | R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const lease = Duration.toMillis(Duration.decode(options.lease ?? "30 seconds"))
    const poll = Duration.decode(options.pollInterval ?? "200 millis")
    const concurrency = options.concurrency ?? 16
    const claimSize = Math.max(1, options.claimSize ?? Math.max(4 * concurrency, 128))
    const toRequest = options.toRequest ?? ((item: I) => item as unknown as RequestInput)
    // Its claims are given back after Batch.stream's scope closed (in-flight requests interrupted).
    const { startedAt, worker } = yield* Worker.join(s, name, options.worker)
    yield* Worker.renewing(Effect.flatMap(Clock.currentTimeMillis, (now) => store.renew(s, name, worker, now, lease)), lease)

    const unknowns = yield* Mailbox.make<Record<I, A>>()
    let buffer: ReadonlyArray<Item<I>> = []
    let position = 0

    /**
     * Claims the next chunk (empty when the batch has nothing left for this worker); rows a
     * lost claim had sent are stored unknown here.
     */
    const claimChunk: Effect.Effect<ReadonlyArray<Item<I>>, BatchStoreError> = Effect.gen(function*() {
      while (true) {
        const now = yield* Clock.currentTimeMillis
        const claimed = yield* Effect.mapError(store.claim(s, name, worker, now, lease, claimSize), storeError("claiming items"))
        const runnable: Array<Item<I>> = []
        const finishes: Array<store.Finish> = []
        const items = new Map<number, I>()
        for (const row of claimed) {
          const item = JSON.parse(row.item) as I
          const request = toRequest(item)
          if (row.sent && !replayable(request)) {
            finishes.push(unknownFinish(row.index, request, now))
            items.set(row.index, item)
          } else runnable.push({ index: row.index, item })
        }
        if (finishes.length > 0) {
          const stored = yield* Effect.mapError(store.finish(s, name, worker, finishes), storeError("storing outcomes"))
          for (const f of finishes) if (stored.has(f.index)) yield* unknowns.offer(recordOf<I, A>(f, items.get(f.index)!, worker))
        }
        if (runnable.length > 0) return runnable
        if (claimed.length > 0) continue
        const left = yield* Effect.mapError(store.remaining(s, name, worker), storeError("counting items left"))
        if (left.pending === 0 && left.claimedByOthers === 0) return []
        // Others hold claims: wait for them to finish, or for their lease to pass.
        yield* Effect.sleep(poll)
      }
    })

    // The chunk being claimed ahead; interrupted (before the claims are released) with the scope.
    const scope = yield* Effect.scope
    let next: Fiber.Fiber<ReadonlyArray<Item<I>>, BatchStoreError> | undefined
    let exhausted = false
    /** Takes the chunk claimed ahead (or claims one now) and starts claiming the one after. */
    const refill: Effect.Effect<boolean, BatchStoreError> = Effect.gen(function*() {
      if (exhausted) return false
      const chunk = next === undefined ? yield* claimChunk : yield* Fiber.join(next)
      next = undefined
      if (chunk.length === 0) {
        exhausted = true
        return false
      }
      buffer = chunk
      position = 0
      next = yield* Effect.forkIn(claimChunk, scope)
      return true
    })

    const pull: Effect.Effect<Chunk.Chunk<Item<I>>, Option.Option<BatchStoreError>> = Effect.gen(function*() {
      if (position >= buffer.length && !(yield* refill)) {
        yield* unknowns.end
        return yield* Effect.fail(Option.none())
      }
      const first = buffer[position]!
      if (!replayable(toRequest(first.item))) {
        position++
        const now = yield* Clock.currentTimeMillis
        yield* Effect.mapError(store.markSent(s, name, worker, first.index, now), storeError("marking a request sent"))
        return Chunk.of(first)
      }
      const start = position
      while (position < buffer.length && replayable(toRequest(buffer[position]!.item))) position++
      return Chunk.unsafeFromArray(buffer.slice(start, position))
    }).pipe(Effect.mapError((e) => Option.isOption(e) ? e : Option.some(e)))

    const { handle } = options
    const outcomes = Batch.stream(Stream.repeatEffectChunkOption(pull), {
      ...options,
      toRequest: (claimed: Item<I>) => toRequest(claimed.item),
      ...(handle === undefined ? {} : { handle: (response, claimed: Item<I>) => handle(response, claimed.item) })
    } as Batch.MappedOptions<Item<I>, A, E, R>)

    const stored = yield* Writer.storing(s, name, worker, outcomes, {
      flushSize: options.flushSize ?? 256,
      flushInterval: options.flushInterval ?? "50 millis",
      finish: (o, now) => finishOf(o, o.item.index, startedAt, now),
      emit: (f, o) => recordOf<I, A>(f, o.item.item, worker)
    })
    return Stream.merge(stored, Mailbox.toStream(unknowns))
  }))
