/**
 * This process as a worker of a stored batch, for both runners (requests in `run.ts`, any
 * work per item in `each.ts`): registered (for `status`), and its claims given back when the
 * runner's scope closes, after its work was interrupted, so a stopped worker leaves no claim
 * to wait out.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as os from "node:os"
import { type BatchStoreError, storeError } from "./errors.js"
import * as store from "./store.js"

export const join = (
  s: store.Sql,
  name: string,
  given: string | undefined
): Effect.Effect<{ readonly worker: string; readonly startedAt: number }, BatchStoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const worker = given ?? `${os.hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`
    const startedAt = yield* Clock.currentTimeMillis
    yield* Effect.mapError(store.registerWorker(s, name, worker, os.hostname(), process.pid, startedAt), storeError("registering the worker"))
    yield* Effect.addFinalizer(() =>
      store.release(s, name, worker).pipe(
        Effect.retry({ times: 3, schedule: Schedule.exponential("50 millis") }),
        Effect.tapErrorCause((cause) => Effect.logWarning("durable batch: releasing claims failed (they expire with their lease)", cause)),
        Effect.ignore
      )
    )
    return { worker, startedAt }
  })
