/**
 * The file operations a download needs, as Effects failing with a typed `FileSystemError`
 * that names the path.
 *
 * Plain `node:fs` callbacks rather than `@effect/platform`'s `FileSystem`: the write path
 * runs once per received batch, and a direct `writev` at an explicit position (no promise,
 * no stream) measured faster; see `bench/download.ts`.
 */
import * as Effect from "effect/Effect"
import type { Hash } from "node:crypto"
import * as fs from "node:fs"
import { fileSystemError, type FileSystemError } from "./errors.js"

const call = <A>(operation: string, target: string, run: (cb: (err: NodeJS.ErrnoException | null, value?: A) => void) => void) =>
  Effect.async<A, FileSystemError>((resume) => {
    run((err, value) => resume(err ? Effect.fail(fileSystemError(operation, target, err)) : Effect.succeed(value as A)))
  })

/** `stat`, or `undefined` when nothing is there. */
export const statOrUndefined = (target: string): Effect.Effect<fs.Stats | undefined, FileSystemError> =>
  Effect.async((resume) => {
    fs.stat(target, (err, stats) => {
      if (err === null) return resume(Effect.succeed(stats))
      resume(err.code === "ENOENT" ? Effect.succeed(undefined) : Effect.fail(fileSystemError("stat", target, err)))
    })
  })

/** Creates a folder and its parents. */
export const mkdirp = (dir: string): Effect.Effect<void, FileSystemError> =>
  call<string | undefined>("mkdir", dir, (cb) => fs.mkdir(dir, { recursive: true }, cb)).pipe(Effect.asVoid)

/** Opens a file for writing: truncated (`fresh`) or as it is, to write at explicit positions. */
export const openForWrite = (target: string, fresh: boolean): Effect.Effect<number, FileSystemError> =>
  call<number>("open", target, (cb) => fs.open(target, fresh ? "w" : "r+", 0o644, cb))

export const close = (fd: number, target: string): Effect.Effect<void, FileSystemError> =>
  call<void>("close", target, (cb) => fs.close(fd, cb))

export const fsync = (fd: number, target: string): Effect.Effect<void, FileSystemError> =>
  call<void>("fsync", target, (cb) => fs.fsync(fd, cb))

export const truncate = (fd: number, length: number, target: string): Effect.Effect<void, FileSystemError> =>
  call<void>("truncate", target, (cb) => fs.ftruncate(fd, length, cb))

/** Atomically replaces `to` with `from` (same folder, same file system). */
export const rename = (from: string, to: string): Effect.Effect<void, FileSystemError> =>
  call<void>("rename", to, (cb) => fs.rename(from, to, cb))

/** Removes a file; a missing file is fine. */
export const remove = (target: string): Effect.Effect<void, FileSystemError> =>
  Effect.async((resume) => {
    fs.unlink(target, (err) =>
      resume(err === null || err.code === "ENOENT" ? Effect.void : Effect.fail(fileSystemError("remove", target, err))))
  })

/** Flushes a folder's entries (the rename) to disk. Best effort: not every platform can open a folder. */
export const fsyncDir = (dir: string): Effect.Effect<void> =>
  Effect.async((resume) => {
    fs.open(dir, "r", (err, fd) => {
      if (err !== null) return resume(Effect.void)
      fs.fsync(fd, () => fs.close(fd, () => resume(Effect.void)))
    })
  })

/** Reads a small UTF-8 file, or `undefined` when it is missing or unreadable. */
export const readSmall = (target: string): Effect.Effect<string | undefined> =>
  Effect.async((resume) => {
    fs.readFile(target, "utf8", (err, text) => resume(Effect.succeed(err === null ? text : undefined)))
  })

export const writeSmall = (target: string, text: string): Effect.Effect<void, FileSystemError> =>
  call<void>("write", target, (cb) => fs.writeFile(target, text, cb))

const readBufferSize = 1024 * 1024

/**
 * Feeds the first `limit` bytes of a file (all of it when undefined) into `hash`, reading
 * with one reused 1 MiB buffer: constant memory whatever the size. Returns the bytes read.
 */
export const hashFile = (target: string, hash: Hash, limit?: number): Effect.Effect<number, FileSystemError> =>
  Effect.acquireUseRelease(
    call<number>("open", target, (cb) => fs.open(target, "r", cb)),
    (fd) =>
      Effect.async<number, FileSystemError>((resume) => {
        const buffer = Buffer.allocUnsafe(readBufferSize)
        let total = 0
        let onStopped: (() => void) | undefined
        const next = (): void => {
          const want = limit === undefined ? buffer.length : Math.min(buffer.length, limit - total)
          if (want <= 0) return resume(Effect.succeed(total))
          fs.read(fd, buffer, 0, want, total, (err, n) => {
            if (onStopped !== undefined) return onStopped()
            if (err !== null) return resume(Effect.fail(fileSystemError("read", target, err)))
            if (n === 0) return resume(Effect.succeed(total))
            hash.update(buffer.subarray(0, n))
            total += n
            next()
          })
        }
        next()
        // Interrupted: wait for the read in flight, so the fd is not closed (and reused) under it.
        return Effect.async<void>((stopped) => {
          onStopped = () => stopped(Effect.void)
        })
      }),
    (fd) => Effect.ignore(close(fd, target))
  )

/**
 * Writes batches behind the caller: `start` issues a `writev` at an explicit position and
 * returns at once, so receiving and hashing the next bytes overlap the disk write; `flush`
 * waits for it. At most one write is in flight, so the file never has holes (a killed
 * process leaves a clean prefix of the body).
 *
 * Syncs behind the caller too: every `syncEvery` bytes written, an `fdatasync` starts in the
 * background (at most one at a time; writes go on meanwhile). Without it the kernel starts
 * writeback only past its dirty threshold (10% of RAM by default), so the final `fsync` of a
 * file smaller than that waits for the whole file to reach the disk after the transfer;
 * with it, the disk works during the transfer and the final `fsync` flushes only the tail.
 */
export interface WriteBehind {
  /** A write is in flight. */
  readonly busy: () => boolean
  /** The error of the last (settled) write, once; `undefined` if it succeeded or none ran. */
  readonly takeError: () => FileSystemError | undefined
  /** Starts a write; only when not `busy` (after `flush`). */
  readonly start: (buffers: ReadonlyArray<Uint8Array>, position: number) => void
  /** Waits for the write in flight, if any; fails with its error. */
  readonly flush: Effect.Effect<void, FileSystemError>
  /** Waits for a background sync, then fsyncs: everything written is on disk. Call after `flush`. */
  readonly fsync: Effect.Effect<void, FileSystemError>
  /** Waits for the write and the sync in flight, ignoring their errors: the fd may then be closed. */
  readonly settled: Effect.Effect<void>
}

interface Pending {
  done: boolean
  error: FileSystemError | undefined
  waiter: ((effect: Effect.Effect<void, FileSystemError>) => void) | undefined
}

/** Bytes written between two background syncs: big enough that the syncs are few. */
const defaultSyncEvery = 32 * 1024 * 1024

export const writeBehind = (fd: number, target: string, syncEvery: number = defaultSyncEvery): WriteBehind => {
  let pending: Pending | undefined
  let unsynced = 0
  let syncing = false
  let syncError: FileSystemError | undefined
  let syncWaiters: Array<() => void> = []

  const startSync = () => {
    syncing = true
    unsynced = 0
    fs.fdatasync(fd, (err) => {
      syncing = false
      if (err !== null) syncError ??= fileSystemError("fsync", target, err)
      const waiters = syncWaiters
      syncWaiters = []
      for (const waiter of waiters) waiter()
    })
  }

  const settle = (p: Pending, error: NodeJS.ErrnoException | null, bytes: number) => {
    p.done = true
    if (error !== null) p.error = fileSystemError("write", target, error)
    else {
      unsynced += bytes
      if (unsynced >= syncEvery && !syncing) startSync()
    }
    const waiter = p.waiter
    p.waiter = undefined
    waiter?.(p.error !== undefined ? Effect.fail(p.error) : Effect.void)
  }

  /** writev may write less than asked: continue from where it stopped. */
  const writeAll = (p: Pending, buffers: ReadonlyArray<Uint8Array>, position: number, total: number): void => {
    fs.writev(fd, buffers as Array<NodeJS.ArrayBufferView>, position, (err, written) => {
      if (err !== null) return settle(p, err, 0)
      let left = written
      let i = 0
      while (i < buffers.length && left >= buffers[i]!.length) left -= buffers[i++]!.length
      if (i === buffers.length) return settle(p, null, total + written)
      writeAll(p, [buffers[i]!.subarray(left), ...buffers.slice(i + 1)], position + written, total + written)
    })
  }

  const flush: Effect.Effect<void, FileSystemError> = Effect.suspend(() => {
    const p = pending
    if (p === undefined) return Effect.void
    if (p.done) {
      pending = undefined
      return p.error !== undefined ? Effect.fail(p.error) : Effect.void
    }
    return Effect.async<void, FileSystemError>((resume) => {
      p.waiter = resume
    }).pipe(Effect.ensuring(Effect.sync(() => {
      if (pending === p && p.done) pending = undefined
    })))
  })

  const syncDone: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (!syncing) return resume(Effect.void)
    const waiter = () => resume(Effect.void)
    syncWaiters.push(waiter)
    return Effect.sync(() => {
      syncWaiters = syncWaiters.filter((w) => w !== waiter)
    })
  })

  return {
    busy: () => pending !== undefined && !pending.done,
    takeError: () => {
      const p = pending
      if (p === undefined || !p.done) return undefined
      pending = undefined
      return p.error
    },
    start: (buffers, position) => {
      const p: Pending = { done: false, error: undefined, waiter: undefined }
      pending = p
      writeAll(p, buffers, position, 0)
    },
    flush,
    fsync: Effect.zipRight(syncDone, Effect.suspend(() => syncError !== undefined ? Effect.fail(syncError) : fsync(fd, target))),
    settled: Effect.zipRight(Effect.ignore(flush), syncDone)
  }
}
