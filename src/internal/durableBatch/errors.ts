/**
 * The durable batch's own errors (the database URL and open errors are DurableJobs').
 */
import * as Data from "effect/Data"

/** A name already holds a different list (or a load of another list is under way under it). */
export class BatchConflict extends Data.TaggedError("BatchConflict")<{ readonly name: string; readonly reason: string }> {
  override get message(): string {
    return `batch ${JSON.stringify(this.name)}: ${this.reason}`
  }
}

/** No batch has this name in the database. */
export class BatchNotFound extends Data.TaggedError("BatchNotFound")<{ readonly name: string; readonly database: string }> {
  override get message(): string {
    return `no batch named ${JSON.stringify(this.name)} in ${this.database}`
  }
}

/** A statement failed while the batch ran or was read (the database went away, a lock timed out). */
export class BatchStoreError extends Data.TaggedError("BatchStoreError")<{ readonly operation: string; readonly reason: string }> {
  override get message(): string {
    return `durable batch: ${this.operation} failed: ${this.reason}`
  }
}

/** Wraps a SQL failure, naming what was being done. */
export const storeError = (operation: string) => (error: { readonly message: string; readonly cause?: unknown }) => {
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : ""
  return new BatchStoreError({ operation, reason: `${error.message}${cause}` })
}
