/**
 * `Download.many`: many downloads into one folder, run by Batch's workers (`runAll`) under
 * Batch's per-host limit (`limits.ts`), one outcome per input in input order.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as path from "node:path"
import { Client } from "../../Client.js"
import type { DownloadError, DownloadResult, Item, ManyOptions, Outcome } from "../../Download.js"
import { redactUrl } from "../../Errors.js"
import * as Limits from "../batch/limits.js"
import { runAll } from "../batch/runAll.js"
import { hostOf, hrefOf } from "../url.js"
import * as Download from "./download.js"
import * as FileName from "./fileName.js"
import * as Plan from "./plan.js"

/** See `Download.many`. */
export const run = (
  items: Iterable<Item>,
  options: ManyOptions
): Effect.Effect<ReadonlyArray<Outcome>, never, Client> =>
  Effect.scoped(Effect.gen(function*() {
    const dir = path.resolve(options.dir)
    const fromServer = options.nameFrom === "content-disposition"
    // One allocator for staging and final names, each claim taking its side files too: a
    // file named `x.part` must not be another download's staging file.
    const names = FileName.makeAllocator([Plan.partSuffix, Download.metaPath(Plan.partSuffix)])
    // Batch's per-host limit, held for a whole download (its retries included). An input whose
    // URL does not parse has no host, so no per-host permit (as in Batch): it fails at once.
    const limited = yield* Limits.make({ perHost: Math.max(1, options.perHost ?? 2) })

    // Claimed before anything runs, so names follow input order.
    const prepared = Array.from(items, (item, index) => {
      const input = typeof item === "string" || item instanceof URL ? { url: item } : item
      const href = hrefOf(input.url)
      const explicit = "name" in input && input.name !== undefined ? FileName.sanitize(input.name) : undefined
      const base = explicit ?? FileName.fromUrl(href)
      const final = fromServer && explicit === undefined ? undefined : names.claim(base)
      const partName = final ?? names.claim(base)
      const checksum = "checksum" in input && input.checksum !== undefined ? input.checksum : options.checksum
      const headers = "headers" in input && input.headers !== undefined ? { ...options.headers, ...input.headers } : options.headers
      return { index, item, href, url: redactUrl(href), partName, final, checksum, headers }
    })

    /** Done: a result. Staged: complete in its `.part`, waiting for its server-given name. */
    type Step =
      | { readonly _tag: "Done"; readonly result: DownloadResult }
      | { readonly _tag: "Staged"; readonly plan: Download.Plan; readonly staged: Download.Staged }

    const onProgress = options.onProgress
    const transfer = (p: (typeof prepared)[number]): Effect.Effect<Step, DownloadError, Client> =>
      Effect.gen(function*() {
        const dest = p.final === undefined ? undefined : yield* Plan.inside(dir, p.final)
        const target = { dest, dir, name: p.partName }
        const plan = yield* Plan.resolve(
          p.href,
          { ...options, checksum: p.checksum, headers: p.headers },
          target,
          onProgress === undefined ? undefined : (progress) => onProgress(p.index, progress)
        )
        if (dest !== undefined) return { _tag: "Done", result: yield* Plan.runKnown(plan, dest) } as const
        return { _tag: "Staged", plan, staged: yield* Download.stage(plan) } as const
      })

    const toOutcome = (p: (typeof prepared)[number], result: Either.Either<DownloadResult, DownloadError>): Outcome =>
      Either.isRight(result)
        ? { _tag: "Success", index: p.index, item: p.item, url: p.url, value: result.right }
        : { _tag: "Failure", index: p.index, item: p.item, url: p.url, error: result.left }

    const steps = yield* Effect.forEach(prepared, () => Deferred.make<Either.Either<Step, DownloadError>>())
    const transfers = runAll(
      prepared,
      Math.max(1, options.concurrency ?? 4),
      (p) =>
        limited(
          hostOf(p.href),
          Effect.zipRight(Effect.sync(() => options.onStart?.(p.index, p.url)), Effect.either(transfer(p)))
        ).pipe(
          Effect.tap((step) => {
            // Completion order for what is already final; server-named files report when renamed.
            if (Either.isLeft(step)) options.onOutcome?.(toOutcome(p, Either.left(step.left)))
            else if (step.right._tag === "Done") options.onOutcome?.(toOutcome(p, Either.right(step.right.result)))
          }),
          Effect.flatMap((step) => Deferred.succeed(steps[p.index]!, step)),
          Effect.asVoid
        )
    )
    // In input order: the outcome of each input, claiming server-given names as it goes.
    const outcomes = Effect.forEach(prepared, (p) =>
      Effect.gen(function*() {
        const step = yield* Deferred.await(steps[p.index]!)
        if (Either.isLeft(step)) return toOutcome(p, Either.left(step.left))
        if (step.right._tag === "Done") return toOutcome(p, Either.right(step.right.result))
        const { plan, staged } = step.right
        const name = names.claim(staged.suggestedName ?? FileName.fromUrl(p.href))
        const result = yield* Effect.either(Effect.flatMap(Plan.inside(dir, name), (dest) => Download.finalize(plan, staged, dest)))
        const outcome = toOutcome(p, result)
        options.onOutcome?.(outcome)
        return outcome
      }))
    const [, result] = yield* Effect.all([transfers, outcomes], { concurrency: 2 })
    return result
  }))
