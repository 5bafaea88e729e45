/**
 * Shared by the transports. The transport contract itself (`Transport`, `BodySource`,
 * `Timeout`, …) is declared in the public `Transport.ts`, so a program can build its own.
 */

/** Unread bodies up to this size are drained on release so the connection returns to the pool. */
export const drainLimit = 64 * 1024
