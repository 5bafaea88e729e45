/**
 * Between Batch outcomes, stored rows and the records a durable batch returns.
 */
import * as Either from "effect/Either"
import type { Outcome } from "../../Batch.js"
import type { RequestInput } from "../../Client.js"
import type { Failure, Record } from "../../DurableBatch.js"
import { redactUrl } from "../../Errors.js"
import { isIdempotent } from "../../Retry.js"
import { type ItemRow, num } from "./schema.js"
import type { Finish } from "./store.js"

/** The fields of an error worth keeping: tag, network reason and phase, one-line message. */
export const toFailure = (error: unknown): Failure => {
  if (typeof error !== "object" || error === null) return { _tag: "Error", message: String(error) }
  const e = error as { _tag?: unknown; reason?: unknown; phase?: unknown; message?: unknown }
  return {
    _tag: typeof e._tag === "string" ? e._tag : "Error",
    ...(typeof e.reason === "string" ? { reason: e.reason } : {}),
    ...(typeof e.phase === "string" ? { phase: e.phase } : {}),
    message: typeof e.message === "string" ? e.message : String(error)
  }
}

/** Method and URL of a request input, for idempotency and messages. */
export const describe = (request: RequestInput): { readonly method: string; readonly url: string; readonly headers: Readonly<globalThis.Record<string, string>> | undefined } =>
  typeof request === "string" || request instanceof URL
    ? { method: "GET", url: String(request), headers: undefined }
    : { method: request.method, url: request.url, headers: request.headers }

/** Whether sending the request twice is harmless: an idempotent method or an Idempotency-Key. */
export const replayable = (request: RequestInput): boolean => {
  const d = describe(request)
  return isIdempotent(d.method, d.headers)
}

export const unknownFailure = (request: RequestInput): Failure => {
  const d = describe(request)
  return {
    _tag: "Unknown",
    message: `${d.method} ${redactUrl(d.url)} may or may not have been applied: ` +
      "it was in flight when its worker stopped, and it is not idempotent (no Idempotency-Key), so it was not sent again"
  }
}

export const finishOf = <A, E>(outcome: Outcome<unknown, A, E>, index: number, startedAt: number, now: number): Finish => ({
  index,
  outcome: Either.isRight(outcome.result) ? "succeeded" : "failed",
  status: outcome.status,
  error: Either.isLeft(outcome.result) ? JSON.stringify(toFailure(outcome.result.left)) : null,
  value: Either.isRight(outcome.result) ? (JSON.stringify(outcome.result.right) ?? null) : null,
  bytes: outcome.bytes,
  startAt: Math.round(startedAt + outcome.startMs),
  durationMs: outcome.durationMs,
  attempts: outcome.attempts,
  finishedAt: now
})

export const unknownFinish = (index: number, request: RequestInput, now: number): Finish => ({
  index,
  outcome: "unknown",
  status: undefined,
  error: JSON.stringify(unknownFailure(request)),
  value: null,
  bytes: 0,
  startAt: now,
  durationMs: 0,
  attempts: 0,
  finishedAt: now
})

export const recordOf = <I, A>(finish: Finish, item: I, worker: string): Record<I, A> => ({
  index: finish.index,
  item,
  outcome: finish.outcome,
  result: finish.outcome === "succeeded"
    ? Either.right(finish.value === null ? (undefined as A) : (JSON.parse(finish.value) as A))
    : Either.left(JSON.parse(finish.error ?? "{}") as Failure),
  status: finish.status,
  bytes: finish.bytes,
  startMs: finish.startAt,
  durationMs: finish.durationMs,
  attempts: finish.attempts,
  worker,
  finishedAt: finish.finishedAt
})

export const recordOfRow = <I, A>(row: ItemRow): Record<I, A> =>
  recordOf<I, A>(
    {
      index: num(row.idx),
      outcome: row.outcome as Finish["outcome"],
      status: row.status === null ? undefined : num(row.status),
      error: row.error,
      value: row.value,
      bytes: num(row.bytes),
      startAt: num(row.start_at),
      durationMs: num(row.duration_ms),
      attempts: num(row.attempts),
      finishedAt: num(row.finished_at)
    },
    JSON.parse(row.item) as I,
    row.worker ?? ""
  )
