/**
 * `Download.file` and `Download.track`: where the file goes (a path, or a folder and a name
 * known now or from the server), then the plan run by `download.ts`.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import type { Client } from "../../Client.js"
import type { DownloadError, DownloadEvent, DownloadResult, FileOptions, Progress, Url } from "../../Download.js"
import { hrefOf } from "../url.js"
import * as internal from "./download.js"
import * as FileName from "./fileName.js"
import * as Plan from "./plan.js"

/** See `Download.file`. */
export const file = (url: Url, options: FileOptions): Effect.Effect<DownloadResult, DownloadError, Client> =>
  Effect.suspend(() => {
    const href = hrefOf(url)
    let dest: string | undefined
    let dir: string
    let partName: string
    if ("path" in options) {
      dest = path.resolve(options.path)
      dir = path.dirname(dest)
      partName = path.basename(dest)
    } else {
      dir = path.resolve(options.dir)
      const name = options.name !== undefined ? FileName.sanitize(options.name) : FileName.fromUrl(href)
      const full = FileName.resolveInside(dir, name)
      if (full === undefined) return Effect.fail(Plan.outside(dir, name))
      partName = name
      dest = options.name === undefined && options.nameFrom === "content-disposition" ? undefined : full
    }
    const known = dest
    const target = { dest, dir, name: partName }
    return Effect.flatMap(Plan.resolve(url, options, target, options.onProgress), (plan) =>
      known !== undefined
        ? Plan.runKnown(plan, known)
        : Effect.flatMap(internal.stage(plan), (staged) =>
          Effect.flatMap(Plan.inside(dir, staged.suggestedName ?? FileName.fromUrl(href)), (dest) => internal.finalize(plan, staged, dest))))
  })

/** See `Download.track`: the download's progress goes through a queue the stream reads. */
export const track = (url: Url, options: FileOptions): Stream.Stream<DownloadEvent, DownloadError, Client> =>
  Stream.unwrapScoped(
    Effect.gen(function*() {
      const queue = yield* Effect.acquireRelease(
        Queue.unbounded<Exit.Exit<DownloadEvent, Option.Option<DownloadError>>>(),
        Queue.shutdown
      )
      const onProgress = (progress: Progress) => queue.unsafeOffer(Exit.succeed({ _tag: "Progress", progress }))
      yield* file(url, { ...options, onProgress }).pipe(
        Effect.exit,
        Effect.flatMap((exit) =>
          Exit.isSuccess(exit)
            ? Queue.offerAll(queue, [Exit.succeed({ _tag: "Done" as const, result: exit.value }), Exit.fail(Option.none())])
            : Queue.offer(queue, Exit.failCause(Cause.map(exit.cause, Option.some)))
        ),
        Effect.forkScoped
      )
      return Stream.repeatEffectOption(Effect.flatten(Queue.take(queue)))
    })
  )
