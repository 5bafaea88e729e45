/**
 * Running a stored batch with any effect per item, for work that is not one request (a
 * download: resumable, several requests, a file): rows are claimed a few at a time under a
 * lease that a background fiber renews, run `concurrency` at once, and each outcome is stored
 * in the statement that marks its row done, many per transaction (`writer.ts`, as for requests).
 *
 * The work gets a `guard` to call before each step that must only happen while the claim is
 * held (writing a file, renaming it): the guard renews this row's claim in one statement and,
 * when another worker has taken the row over, stops the work (interrupted, nothing stored).
 * A renewal that finds a running row gone stops its work the same way.
 *
 * Between checks, the work asks the `fence` (no I/O) before each write: it says whether the
 * claim is still held by this worker's own clock, the lease it last stored (by the claim, a
 * renewal or the guard) having at least a third left. Renewals come every third of the lease,
 * so the fence fails only when they stall (a locked or unreachable database); the work then
 * calls the guard before writing. So no write starts once another worker could have taken
 * the row over, even when the renewal that would notice it has not come back.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Record } from "../../DurableBatch.js"
import { type BatchStoreError, storeError } from "./errors.js"
import { recordOf } from "./records.js"
import * as store from "./store.js"
import * as Worker from "./worker.js"
import * as Writer from "./writer.js"

export interface EachOptions {
  /** Items run at once. */
  readonly concurrency: number
  /** Lease of a claim, ms. */
  readonly lease: number
  /** Items claimed at once (default `concurrency`: slow items are better spread over workers). */
  readonly claimSize?: number | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
  readonly flushSize?: number | undefined
  readonly flushInterval?: Duration.DurationInput | undefined
  readonly worker?: string | undefined
}

/** A claimed row, the claim it came in (numbered) and when its lease ends by this worker's clock. */
interface Claim {
  readonly row: store.Claimed
  readonly claim: number
  readonly heldUntil: number
}

/** A row running here: the signal that stops its work, its claim, and its lease's end as last stored. */
interface Running {
  readonly lost: Deferred.Deferred<void>
  readonly claim: number
  heldUntil: number
}

/** What one item's work stores: its outcome, without the index and time the runner adds. */
export type Done = Omit<store.Finish, "index" | "finishedAt">

/**
 * Runs the stored batch `name` with `work` per item in this process (other workers may run it
 * too) and emits each record this process stored. Ends when nothing is left pending or
 * claimed by another worker; this worker's claims are released when the stream ends.
 */
export const each = <I, R>(
  s: store.Sql,
  name: string,
  options: EachOptions,
  work: (item: I, index: number, guard: Effect.Effect<void>, fence: () => boolean) => Effect.Effect<Done, never, R>
): Stream.Stream<Record<I, unknown>, BatchStoreError, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const lease = Math.max(1, options.lease)
    const concurrency = Math.max(1, options.concurrency)
    const claimSize = Math.max(1, options.claimSize ?? concurrency)
    const poll = Duration.decode(options.pollInterval ?? "200 millis")
    // Its claims are given back after the work's fibers were interrupted (the stream's scope closes first).
    const { worker } = yield* Worker.join(s, name, options.worker)

    /** The rows running here, by index. Claims are numbered as they return: a renewal judges only rows claimed before it. */
    const running = new Map<number, Running>()
    let claims = 0
    const renewal = Effect.gen(function*() {
      const judged = claims
      const now = yield* Clock.currentTimeMillis
      const held = yield* store.renew(s, name, worker, now, lease)
      running.forEach((r, index) => {
        if (r.claim > judged) return
        if (held.has(index)) r.heldUntil = Math.max(r.heldUntil, now + lease)
        else Deferred.unsafeDone(r.lost, Effect.void)
      })
    })
    const clock = yield* Effect.clock
    // The write must land before the lease ends: a third of it is left for that (and for skew).
    const margin = lease / 3
    yield* Worker.renewing(renewal, lease)

    /** The next claimed rows; fails with `None` when the batch has nothing left for this worker. */
    const claim: Effect.Effect<ReadonlyArray<Claim>, Option.Option<BatchStoreError>> = Effect.gen(function*() {
      while (true) {
        const now = yield* Clock.currentTimeMillis
        const claimed = yield* Effect.mapError(store.claim(s, name, worker, now, lease, claimSize), storeError("claiming items"))
        claims++
        if (claimed.length > 0) return claimed.map((row) => ({ row, claim: claims, heldUntil: now + lease }))
        const left = yield* Effect.mapError(store.remaining(s, name, worker), storeError("counting items left"))
        // Only once this worker's own items ended: one of them may yet be lost to another worker.
        if (left.pending === 0 && left.claimedByOthers === 0 && running.size === 0) return yield* Effect.fail(Option.none())
        // Others hold claims: wait for them to finish, or for their lease to pass.
        yield* Effect.sleep(poll)
      }
    }).pipe(Effect.mapError((e) => Option.isOption(e) ? e : Option.some(e)))

    const runOne = ({ claim, heldUntil, row }: Claim): Effect.Effect<Option.Option<readonly [store.Finish, I]>, never, R> =>
      Effect.gen(function*() {
        const lost = yield* Deferred.make<void>()
        const state: Running = { lost, claim, heldUntil }
        running.set(row.index, state)
        const guard = Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.map(store.holds(s, name, worker, row.index, now, lease), (held) => {
            if (held) state.heldUntil = Math.max(state.heldUntil, now + lease)
            return held
          })).pipe(
            // Unsure is lost: the file is left as it is rather than written without the claim.
            Effect.catchAll((e) => Effect.as(Effect.logWarning(`durable batch: checking a claim failed: ${e.message}`), false)),
            Effect.flatMap((held) => held ? Effect.void : Effect.zipRight(Deferred.succeed(lost, undefined), Effect.never))
          )
        const fence = () => clock.unsafeCurrentTimeMillis() < state.heldUntil - margin
        const item = JSON.parse(row.item) as I
        const done = yield* Effect.raceFirst(
          Effect.map(work(item, row.index, guard, fence), Option.some),
          Effect.as(Deferred.await(lost), Option.none<Done>())
        ).pipe(Effect.ensuring(Effect.sync(() => running.delete(row.index))))
        // Stopped: the row is someone else's, or (the check failed) maybe still this worker's,
        // then given back so that it runs again rather than waiting for this worker to exit.
        if (Option.isNone(done)) yield* Effect.ignore(store.releaseOne(s, name, worker, row.index))
        const now = yield* Clock.currentTimeMillis
        return Option.map(done, (d) => [{ ...d, index: row.index, finishedAt: now }, item] as const)
      })

    const finished = Stream.repeatEffectOption(claim).pipe(
      Stream.flattenIterables,
      Stream.mapEffect(runOne, { concurrency, unordered: true }),
      Stream.filterMap((done) => done)
    )
    return yield* Writer.storing(s, name, worker, finished, {
      flushSize: options.flushSize ?? 64,
      flushInterval: options.flushInterval ?? "50 millis",
      finish: ([f]) => f,
      emit: (f, [, item]) => recordOf<I, unknown>(f, item, worker)
    })
  }))
