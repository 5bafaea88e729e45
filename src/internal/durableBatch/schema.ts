/**
 * The durable batch's tables, on the same engines as DurableJobs (libsql SQLite, PostgreSQL):
 * one row per batch, one per item (its claim and, once done, its outcome in the same row, so
 * storing an outcome and marking the item done are one statement), one per worker seen.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

export const tables = { batch: "volley_batch", items: "volley_batch_items", workers: "volley_batch_workers" } as const

export const createSchema = (sql: SqlClient.SqlClient, isPg: boolean): Effect.Effect<void, SqlError> => {
  const create = Effect.gen(function*() {
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(tables.batch)} (
      name TEXT PRIMARY KEY,
      digest TEXT NULL,
      total BIGINT NOT NULL DEFAULT 0,
      created_at BIGINT NOT NULL
    )`
    // state: pending | claimed | done. A claimed row whose lease passed may be claimed again.
    // sent_at: set before a non-idempotent request is sent; such a row taken over ends unknown.
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(tables.items)} (
      batch TEXT NOT NULL,
      idx BIGINT NOT NULL,
      item TEXT NOT NULL,
      state TEXT NOT NULL,
      acquired_by TEXT NULL,
      lease_until BIGINT NULL,
      claimed_at BIGINT NULL,
      sent_at BIGINT NULL,
      claims INTEGER NOT NULL DEFAULT 0,
      outcome TEXT NULL,
      status INTEGER NULL,
      error TEXT NULL,
      value TEXT NULL,
      bytes BIGINT NULL,
      start_at BIGINT NULL,
      duration_ms DOUBLE PRECISION NULL,
      attempts INTEGER NULL,
      worker TEXT NULL,
      finished_at BIGINT NULL,
      PRIMARY KEY (batch, idx)
    )`
    yield* sql`CREATE INDEX IF NOT EXISTS ${sql(`${tables.items}_state`)} ON ${sql(tables.items)} (batch, state, idx)`
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(tables.workers)} (
      batch TEXT NOT NULL,
      worker TEXT NOT NULL,
      host TEXT NOT NULL,
      pid INTEGER NOT NULL,
      started_at BIGINT NOT NULL,
      seen_at BIGINT NOT NULL,
      PRIMARY KEY (batch, worker)
    )`
  })
  // As in DurableJobs: concurrent CREATE … IF NOT EXISTS on a new PostgreSQL database fails on
  // pg_type's unique index; an advisory lock lets starting workers take turns.
  return isPg
    ? sql.withTransaction(Effect.zipRight(sql`SELECT pg_advisory_xact_lock(hashtext(${tables.items}))`, create))
    : create
}

/** An item row as read back. PostgreSQL BIGINT arrives as a string. */
export interface ItemRow {
  readonly idx: number | string
  readonly item: string
  readonly state: string
  readonly outcome: string | null
  readonly status: number | string | null
  readonly error: string | null
  readonly value: string | null
  readonly bytes: number | string | null
  readonly start_at: number | string | null
  readonly duration_ms: number | string | null
  readonly attempts: number | string | null
  readonly worker: string | null
  readonly finished_at: number | string | null
}

export const num = (value: number | string | bigint | null | undefined): number => value === null || value === undefined ? 0 : Number(value)
