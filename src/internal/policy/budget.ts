/**
 * A retry budget (Finagle's `RetryBudget`, Envoy's retry budget): retries and hedges to one
 * origin may add at most `percent` of the requests of the last `ttl`, plus a floor of
 * `minPerSecond` so that low traffic can still retry. A retry is withdrawn when it is decided,
 * before its backoff, so retries waiting to be sent count too (Envoy#30205).
 */

/** A budget's settings, resolved. */
export interface BudgetSettings {
  /** Retries allowed per request of the window (0.2: 20% more load at most). */
  readonly percent: number
  /** Retries allowed per second whatever the traffic. */
  readonly minPerSecond: number
  /** The window, in ms. */
  readonly ttlMs: number
}

/** Finagle's percentage and window; a floor of 1 retry per second (10 per window). */
export const defaultBudget: BudgetSettings = { percent: 0.2, minPerSecond: 1, ttlMs: 10_000 }

/** Buckets per window: the window slides by a tenth of it. */
const slots = 10

/** One origin's budget: counts in a ring of slots, on the caller's clock (ms). */
export class Budget {
  private readonly deposits = new Float64Array(slots)
  private readonly withdrawals = new Float64Array(slots)
  private readonly epochs = new Float64Array(slots).fill(-1)
  private readonly slotMs: number
  private readonly floor: number
  constructor(private readonly settings: BudgetSettings) {
    this.slotMs = settings.ttlMs / slots
    this.floor = (settings.minPerSecond * settings.ttlMs) / 1000
  }

  /** The slot of `nowMs`, emptied if it last held an older epoch. */
  private slot(nowMs: number): number {
    const epoch = Math.floor(nowMs / this.slotMs)
    const i = epoch % slots
    if (this.epochs[i] !== epoch) {
      this.epochs[i] = epoch
      this.deposits[i] = 0
      this.withdrawals[i] = 0
    }
    return i
  }

  /** Counts a request (a first attempt). */
  deposit(nowMs: number): void {
    this.deposits[this.slot(nowMs)]! += 1
  }

  /** Takes one retry from the budget if there is one left; `false` when it is spent. */
  withdraw(nowMs: number): boolean {
    const current = this.slot(nowMs)
    const oldest = Math.floor(nowMs / this.slotMs) - slots + 1
    let deposited = 0
    let withdrawn = 0
    for (let i = 0; i < slots; i++) {
      if (this.epochs[i]! < oldest) continue
      deposited += this.deposits[i]!
      withdrawn += this.withdrawals[i]!
    }
    if (withdrawn + 1 > deposited * this.settings.percent + this.floor) return false
    this.withdrawals[current]! += 1
    return true
  }
}
