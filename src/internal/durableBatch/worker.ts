/**
 * This process as a worker of a stored batch, for both runners (requests in `run.ts`, any
 * work per item in `each.ts`): registered (for `status`), its claims renewed in the
 * background, and given back when the runner's scope closes, after its work was interrupted,
 * so a stopped worker leaves no claim to wait out.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as os from "node:os"
import { type BatchStoreError, storeError } from "./errors.js"
import * as store from "./store.js"

/** A worker's name: its host and process, and a random part (a pid is reused after a restart). */
export const newWorkerId = (): string => `${os.hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`

export const join = (
  s: store.Sql,
  name: string,
  given: string | undefined
): Effect.Effect<{ readonly worker: string; readonly startedAt: number }, BatchStoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const worker = given ?? newWorkerId()
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

/**
 * Runs `renewal` every third of the lease in the background for as long as the runner's scope
 * is open: a failed renewal is logged and the next one tried (the claims last a whole lease).
 */
export const renewing = (renewal: Effect.Effect<unknown, unknown>, lease: number): Effect.Effect<void, never, Scope.Scope> =>
  renewal.pipe(
    Effect.tapErrorCause((cause) => Effect.logWarning("durable batch: lease renewal failed", cause)),
    Effect.ignore,
    Effect.repeat(Schedule.spaced(Duration.millis(Math.max(10, Math.floor(lease / 3))))),
    Effect.interruptible,
    Effect.forkScoped,
    Effect.asVoid
  )
