/**
 * Shared by the transports. The transport contract itself (`Transport`, `BodySource`,
 * `Timeout`, …) is declared in the public `Transport.ts`, so a program can build its own.
 */
import * as zlib from "node:zlib"

/** The content codings this Node can decode, best first: the `Accept-Encoding` volley sends. */
export const acceptEncoding: string = typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === "function"
  ? "gzip, deflate, br, zstd"
  : "gzip, deflate, br"

/** Unread bodies up to this size are drained on release so the connection returns to the pool. */
export const drainLimit = 64 * 1024
