/**
 * A stored record of `volley fetch --db` as the outcome fetch's printers take: the item is
 * its `[line, text]`, parsed again for the URL to show (redacted as in a plain fetch).
 */
import type * as DurableBatch from "../../DurableBatch.js"
import { type FetchItem, type LineDefaults, parseLine } from "./fetchInput.js"
import type { FetchOutcome } from "./fetchOutput.js"

/** What is stored per item: its line number and text. */
export type Stored = readonly [number, string]

const plain: LineDefaults = { method: "GET", headers: {} }

export const itemOf = (stored: Stored, defaults: LineDefaults = plain): FetchItem => {
  const parsed = parseLine(stored[1], stored[0], defaults)
  return parsed._tag === "Item" ? parsed.item : { line: stored[0], url: stored[1], request: stored[1] }
}

export const recordToOutcome = (
  record: DurableBatch.Record<Stored, unknown>,
  item: (stored: Stored) => FetchItem = itemOf
): FetchOutcome => ({ ...record, item: item(record.item) })
