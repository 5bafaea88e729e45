/**
 * A FIFO permit count whose size can change: what the adaptive limit waits on.
 *
 * Why not Effect's `Semaphore`: in Effect 3 a release wakes every waiter while a permit looks
 * free (the taker counts itself only once its fiber runs), so each one re-checks and all but
 * one wait again, at the back. At a limit of 2 with 126 requests queued that is ~126 wake-ups
 * per request: `Client.text` under `perHost: "adaptive"` cost 9-11x the CPU of the default
 * (`node dist/bench/paired.js volley-client 30 2000 .:defaults .:all-on`). The same thundering
 * herd as zio/zio#9093. Here a release hands its permit to the first waiter directly.
 *
 * Interruption: a waiter interrupted before its turn leaves the queue; one interrupted after
 * the permit was handed to it (the handoff and the interruption racing) gives it back.
 */
import * as Effect from "effect/Effect"

interface Waiter {
  readonly resume: (effect: Effect.Effect<void>) => void
  granted: boolean
}

export interface Permits {
  /** Waits for a permit, first come first served; interruptible, and leaves nothing behind when interrupted. */
  readonly take: Effect.Effect<void>
  /** Gives one back, to the first waiter if any. */
  readonly release: () => void
  /** Sets the count; below the permits in use, new takes wait until enough are back. */
  readonly resize: (permits: number) => void
}

export const make = (initial: number): Permits => {
  let permits = initial
  let taken = 0
  // A Set keeps insertion order and deletes an interrupted waiter in O(1).
  const waiters = new Set<Waiter>()

  const drain = () => {
    for (const waiter of waiters) {
      if (taken >= permits) return
      waiters.delete(waiter)
      taken++
      waiter.granted = true
      waiter.resume(Effect.void)
    }
  }

  const release = () => {
    taken--
    drain()
  }

  const wait = Effect.suspend(() => {
    let waiter: Waiter | undefined
    return Effect.onInterrupt(
      Effect.async<void>((resume) => {
        waiter = { resume, granted: false }
        waiters.add(waiter)
        return Effect.sync(() => void waiters.delete(waiter!))
      }),
      () => Effect.sync(() => waiter?.granted === true && release())
    )
  })

  const take: Effect.Effect<void> = Effect.suspend(() => {
    if (taken < permits && waiters.size === 0) {
      taken++
      return Effect.void
    }
    return wait
  })

  return {
    take,
    release,
    resize: (next) => {
      permits = next
      drain()
    }
  }
}
