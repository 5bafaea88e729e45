/**
 * Writing a file safely into a folder: the one module that does it, for `Download` and for
 * `volley fetch -O`. Effects failing with a typed `FileSystemError` that names the path.
 *
 * Never through a link: the folder may hold links it did not make (a cloned repo shipping
 * `x.tar.gz.part -> ~/.bashrc`). Every open here is `O_NOFOLLOW`, checks are `lstat`/`fstat`,
 * a fresh staging file is unlinked and created exclusively (`O_EXCL`, mode 0600), small files
 * are written to an exclusive temp file and renamed over the name (a rename replaces a link,
 * it never writes through it), a file to be reopened must be regular with one link (a hard
 * link to a file elsewhere is as bad as a symlink), and {@link publish} checks the staging
 * file the same way before renaming it into place, giving it the mode the umask asks for.
 *
 * Plain `node:fs` callbacks rather than `@effect/platform`'s `FileSystem`: the write path
 * runs once per received batch, and a direct `writev` at an explicit position (no promise,
 * no stream) measured faster; see `bench/download.ts`.
 */
import * as Effect from "effect/Effect"
import { type Hash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { fileSystemError, type FileSystemError } from "./errors.js"

const { O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_WRONLY } = fs.constants
/** Undefined on Windows, which has no symlinks an unprivileged process can plant. */
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0
/** Staging files hold what the user fetched, perhaps private: theirs alone. */
const privateMode = 0o600

const call = <A>(operation: string, target: string, run: (cb: (err: NodeJS.ErrnoException | null, value?: A) => void) => void) =>
  Effect.async<A, FileSystemError>((resume) => {
    run((err, value) => resume(err ? Effect.fail(fileSystemError(operation, target, err)) : Effect.succeed(value as A)))
  })

/** `lstat` (a link is reported as itself, not followed), or `undefined` when nothing is there. */
export const statOrUndefined = (target: string): Effect.Effect<fs.Stats | undefined, FileSystemError> =>
  Effect.async((resume) => {
    fs.lstat(target, (err, stats) => {
      if (err === null) return resume(Effect.succeed(stats))
      resume(err.code === "ENOENT" ? Effect.succeed(undefined) : Effect.fail(fileSystemError("stat", target, err)))
    })
  })

/** A regular file with no other name: safe to reopen and write in place. */
export const isOwnFile = (stats: fs.Stats): boolean => stats.isFile() && stats.nlink === 1

/** The typed error for a staging path that is not a regular file of its own. */
const notOwnFile = (operation: string, target: string) =>
  fileSystemError(operation, target, Object.assign(new Error("not a regular file with a single link"), { code: "ENOTREG" }))

/** Creates a folder and its parents. */
export const mkdirp = (dir: string): Effect.Effect<void, FileSystemError> =>
  call<string | undefined>("mkdir", dir, (cb) => fs.mkdir(dir, { recursive: true }, cb)).pipe(Effect.asVoid)

/**
 * Opens a staging file to write at explicit positions. `fresh`: whatever is at the name (a
 * file, a link) is unlinked and a new private file created exclusively. Otherwise the file is
 * reopened without following a link, and must be regular with a single link (else a typed
 * error, `ENOTREG`: the resume check should have started fresh, so something swapped it).
 */
export const openForWrite = (target: string, fresh: boolean): Effect.Effect<number, FileSystemError> =>
  fresh
    ? Effect.zipRight(
      remove(target),
      call<number>("open", target, (cb) => fs.open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, privateMode, cb))
    )
    : Effect.flatMap(call<number>("open", target, (cb) => fs.open(target, O_RDWR | O_NOFOLLOW, cb)), (fd) => checkOwnFile(fd, target, "open"))

/** Keeps `fd` when it is a regular file with one link; closes it and fails otherwise. */
const checkOwnFile = (fd: number, target: string, operation: string): Effect.Effect<number, FileSystemError> =>
  Effect.async((resume) => {
    fs.fstat(fd, (err, stats) => {
      if (err === null && isOwnFile(stats)) return resume(Effect.succeed(fd))
      fs.close(fd, () => resume(Effect.fail(err !== null ? fileSystemError("stat", target, err) : notOwnFile(operation, target))))
    })
  })

/** The inode of an open file: what binds a `.part.meta` to its own `.part`. */
export const inode = (fd: number, target: string): Effect.Effect<number, FileSystemError> =>
  Effect.map(call<fs.Stats>("stat", target, (cb) => fs.fstat(fd, cb)), (stats) => stats.ino)

/** The mode a new file gets from the process's umask (0644 under umask 022), as curl's files do. */
const publicMode = (): number => 0o666 & ~process.umask()

/**
 * Moves a finished staging file into place: it must be a regular file with one link (opened
 * without following a link, checked on the open file: `ENOTREG` otherwise, so the
 * destination never becomes a link swapped in meanwhile), it gets the umask's mode (staging
 * files are 0600, finished ones are not private) and `mtime` when given, then it is renamed
 * over `dest` (atomic on one file system; a link at `dest` is replaced, never written
 * through).
 */
export const publish = (part: string, dest: string, options?: { readonly mtime?: Date | undefined }): Effect.Effect<void, FileSystemError> =>
  Effect.zipRight(
    Effect.acquireUseRelease(
      Effect.flatMap(call<number>("open", part, (cb) => fs.open(part, O_RDONLY | O_NOFOLLOW, cb)), (fd) => checkOwnFile(fd, part, "rename")),
      (fd) =>
        Effect.zipRight(
          call<void>("chmod", part, (cb) => fs.fchmod(fd, publicMode(), cb)),
          options?.mtime === undefined
            ? Effect.void
            // Best effort, as curl's --remote-time: a server's odd date never fails a download.
            : Effect.ignore(call<void>("utimes", part, (cb) => fs.futimes(fd, options.mtime!, options.mtime!, cb)))
        ),
      (fd) => Effect.ignore(close(fd, part))
    ),
    rename(part, dest)
  )

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

/** Largest file {@link readSmall} reads: a `.part.meta` is a few hundred bytes. */
const smallFileLimit = 64 * 1024

/**
 * Reads a small UTF-8 file, or `undefined` when it is missing, unreadable, a link, not a
 * regular file, or larger than 64 KiB.
 */
export const readSmall = (target: string): Effect.Effect<string | undefined> =>
  Effect.async((resume) => {
    fs.open(target, O_RDONLY | O_NOFOLLOW, (err, fd) => {
      if (err !== null) return resume(Effect.succeed(undefined))
      const done = (text: string | undefined) => fs.close(fd, () => resume(Effect.succeed(text)))
      fs.fstat(fd, (err, stats) => {
        if (err !== null || !stats.isFile() || stats.size > smallFileLimit) return done(undefined)
        const buffer = Buffer.allocUnsafe(smallFileLimit + 1)
        fs.read(fd, buffer, 0, buffer.length, 0, (err, n) =>
          done(err !== null || n > smallFileLimit ? undefined : buffer.toString("utf8", 0, n)))
      })
    })
  })

/**
 * Replaces `target` with a private file holding `text`: written to an exclusive temp file
 * beside it (mode 0600, never through a link), then renamed over the name, which replaces
 * whatever was there (a link included) in one step.
 */
export const writeSmall = (target: string, text: string): Effect.Effect<void, FileSystemError> => {
  const temp = `${target}.${randomBytes(6).toString("hex")}.tmp`
  const write = Effect.acquireUseRelease(
    call<number>("open", temp, (cb) => fs.open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, privateMode, cb)),
    (fd) => call<number>("write", temp, (cb) => fs.write(fd, text, 0, "utf8", cb)),
    (fd) => Effect.ignore(close(fd, temp))
  )
  return Effect.zipRight(write, rename(temp, target)).pipe(Effect.onError(() => Effect.ignore(remove(temp))))
}

const readBufferSize = 1024 * 1024

/**
 * Feeds the first `limit` bytes of a file (all of it when undefined) into `hash`, reading
 * with one reused 1 MiB buffer: constant memory whatever the size. Returns the bytes read.
 */
export const hashFile = (target: string, hash: Hash, limit?: number): Effect.Effect<number, FileSystemError> =>
  Effect.acquireUseRelease(
    call<number>("open", target, (cb) => fs.open(target, O_RDONLY | O_NOFOLLOW, cb)),
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
