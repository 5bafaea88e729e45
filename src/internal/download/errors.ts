/**
 * The errors a download adds to the client's: a bad checksum, a file too large, a
 * destination that is already there, and file-system failures with a reason to switch on.
 * Defined here (not in `Download.ts`) so the internal modules can raise them without an
 * import cycle; `Download.ts` re-exports them.
 */
import { TaggedError } from "../../Errors.js"
import type { HashAlgorithm } from "../../DownloadChecksum.js"

/**
 * The body arrived in full but its digest is not the expected one. Nothing is left at the
 * destination and the `.part` file is removed (its bytes are known to be wrong).
 *
 * @since 0.1.0
 */
export class ChecksumMismatch extends TaggedError("ChecksumMismatch")<{
  readonly url: string
  /** The destination that was not written. */
  readonly path: string
  readonly algorithm: HashAlgorithm
  readonly expected: string
  readonly actual: string
}> {
  override get message(): string {
    return `${this.url}: ${this.algorithm} mismatch for ${this.path}: expected ${this.expected}, got ${this.actual}`
  }
}

/**
 * The file is larger than the allowed maximum: refused up front from `Content-Length` or
 * `Content-Range`, or stopped mid-stream when the server sent more. Never buffered.
 *
 * @since 0.1.0
 */
export class FileTooLarge extends TaggedError("FileTooLarge")<{
  readonly url: string
  readonly path: string
  readonly limit: number
  /** The size the server announced, when it did. */
  readonly size?: number | undefined
}> {
  override get message(): string {
    const announced = this.size !== undefined ? ` (announced ${this.size} bytes)` : ""
    return `${this.url}: ${this.path} exceeds the limit of ${this.limit} bytes${announced}`
  }
}

/**
 * The destination exists and either no checksum was given or it does not match; it is kept
 * unless `force` is set.
 *
 * @since 0.1.0
 */
export class DestinationExists extends TaggedError("DestinationExists")<{
  readonly url: string
  readonly path: string
}> {
  override get message(): string {
    return `${this.url}: ${this.path} already exists (use force to overwrite)`
  }
}

/**
 * Why a file-system operation failed: the disk (or quota) is full, the process may not
 * write there (including read-only file systems), or anything else (`code` says what).
 */
export type FileSystemReason = "DiskFull" | "PermissionDenied" | "Other"

/**
 * Reading or writing a local file failed.
 *
 * @since 0.1.0
 */
export class FileSystemError extends TaggedError("FileSystemError")<{
  readonly reason: FileSystemReason
  /** What was being done: `open`, `write`, `rename`, … */
  readonly operation: string
  /** The file or folder it was done to. */
  readonly path: string
  /** The system error code, e.g. `ENOSPC`, `ENOTDIR`. */
  readonly code?: string | undefined
  readonly cause?: unknown
}> {
  override get message(): string {
    const what = this.reason === "DiskFull" ? "disk full" : this.reason === "PermissionDenied" ? "permission denied" : "file system error"
    return `${this.operation} ${this.path}: ${what}${this.code !== undefined ? ` [${this.code}]` : ""}`
  }
}

/** Maps a Node system error code to a {@link FileSystemReason}. */
export const fileSystemReason = (code: string | undefined): FileSystemReason => {
  switch (code) {
    case "ENOSPC":
    case "EDQUOT":
      return "DiskFull"
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return "PermissionDenied"
    default:
      return "Other"
  }
}

/** Wraps a Node `fs` error as a {@link FileSystemError}. */
export const fileSystemError = (operation: string, path: string, cause: unknown): FileSystemError => {
  const code = typeof cause === "object" && cause !== null && typeof (cause as { code?: unknown }).code === "string"
    ? (cause as { code: string }).code
    : undefined
  return new FileSystemError({ reason: fileSystemReason(code), operation, path, code, cause })
}
