/**
 * Loading a list into the store, idempotently and in flat memory: items are encoded and
 * inserted in chunks (`ON CONFLICT DO NOTHING` on `(batch, idx)`), a SHA-256 of the encoded
 * list is taken as it goes, and the batch is marked loaded with that digest. Loading again
 * (or a second worker loading at the same time) inserts nothing; a different list under a
 * name already loaded is refused, whatever was stored is kept. A load that resumes one cut
 * short (a crash, a failed read) has no digest to compare yet, so it compares the stored
 * prefix row by row before inserting next to it: a different list is refused before a single
 * row of it mixes in.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import type { Loaded } from "../../DurableBatch.js"
import { BatchConflict } from "./errors.js"
import { completeLoad, findBatch, insertChunk, type Sql, startLoad, storedItems } from "./store.js"

const chunkSize = 500

/** A list's digest (hex), the same for the same encoded items in the same order. */
export const digestOf = <E, R>(encoded: Stream.Stream<string, E, R>): Effect.Effect<{ readonly digest: string; readonly total: number }, E, R> =>
  Effect.suspend(() => {
    const hash = createHash("sha256")
    let total = 0
    return Stream.runForEachChunk(encoded, (chunk) =>
      Effect.sync(() => {
        for (const text of chunk) {
          hash.update(text)
          hash.update("\n")
          total++
        }
      })).pipe(Effect.map(() => ({ digest: hash.digest("hex"), total })))
  })

/** The name a list gets when none is given: derived from its content. */
export const nameOf = (digest: string): string => `list-${digest.slice(0, 16)}`

export const load = <E, R>(
  s: Sql,
  name: string,
  encoded: Stream.Stream<string, E, R>,
  known?: { readonly digest: string; readonly total: number }
): Effect.Effect<Loaded, E | BatchConflict | SqlError, R> =>
  Effect.gen(function*() {
    const existing = yield* findBatch(s, name)
    if (existing?.digest != null) {
      const mine = known ?? (yield* digestOf(encoded))
      if (mine.digest !== existing.digest) return yield* Effect.fail(conflict(name, existing.total, mine.total))
      return { name, total: existing.total, added: 0 }
    }
    yield* startLoad(s, name, yield* Clock.currentTimeMillis)
    const hash = createHash("sha256")
    let total = 0
    let added = 0
    // Rows a load cut short left behind, checked until a chunk finds none (loads insert in order).
    let resuming = existing !== undefined
    yield* encoded.pipe(
      Stream.rechunk(chunkSize),
      Stream.runForEachChunk((chunk) => {
        const rows: Array<readonly [number, string]> = []
        for (const text of Chunk.toReadonlyArray(chunk)) {
          hash.update(text)
          hash.update("\n")
          rows.push([total++, text])
        }
        const insert = Effect.map(insertChunk(s, name, rows), (n) => {
          added += n
        })
        if (!resuming || rows.length === 0) return insert
        return Effect.flatMap(storedItems(s, name, rows[0]![0], rows[rows.length - 1]![0]), (stored): Effect.Effect<void, BatchConflict | SqlError> => {
          if (stored.size === 0) resuming = false
          const differs = rows.find(([idx, text]) => stored.has(idx) && stored.get(idx) !== text)
          return differs === undefined ? insert : Effect.fail(cutShort(name, differs[0]))
        })
      })
    )
    // A shorter list than the one cut short would leave that one's tail behind (rows are contiguous).
    if (existing !== undefined && (yield* storedItems(s, name, total, total)).size > 0) {
      return yield* Effect.fail(cutShort(name, total))
    }
    const digest = hash.digest("hex")
    const stored = yield* completeLoad(s, name, digest, total)
    if (stored !== digest) return yield* Effect.fail(conflict(name, (yield* findBatch(s, name))?.total ?? 0, total))
    return { name, total, added }
  })

const conflict = (name: string, storedTotal: number, givenTotal: number) =>
  new BatchConflict({
    name,
    reason: `a different list (${givenTotal} items) was given under the name of a stored batch (${storedTotal} items); ` +
      `choose another name, or rerun with the stored list`
  })

const cutShort = (name: string, index: number) =>
  new BatchConflict({
    name,
    reason: `a different list was given under the name of a batch whose load was cut short (item ${index} differs); ` +
      `choose another name, or rerun with the list first loaded`
  })
