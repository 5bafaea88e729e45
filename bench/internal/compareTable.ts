/**
 * The side-by-side table: one row per figure, the baseline's value, the current build's, and
 * the change. Every figure is a cost (a ratio of volley's time, CPU or memory to a plain
 * reference measured in the same run, or a count of steps), so a positive change is worse;
 * rows worse by more than the budget (5%, issue 14's bar) are marked.
 */
import type { Build } from "./builds.js"

export interface Row {
  readonly workload: string
  readonly baseline: number
  readonly current: number
  /** Decimals to print (default 2). */
  readonly digits?: number
}

const BUDGET = 0.05

export const print = (title: string, builds: readonly [Build, Build], rows: ReadonlyArray<Row>): void => {
  const cells = rows.map((r) => {
    const change = r.current / r.baseline - 1
    const flag = change > BUDGET ? "worse" : ""
    return [r.workload, r.baseline.toFixed(r.digits ?? 2), r.current.toFixed(r.digits ?? 2), `${change >= 0 ? "+" : ""}${(change * 100).toFixed(1)}%`, flag]
  })
  const header = ["workload", "baseline", "current", "change", ""]
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const line = (c: ReadonlyArray<string>) =>
    c.map((text, i) => (i === 0 || i === 4 ? text.padEnd(widths[i]!) : text.padStart(widths[i]!))).join("  ").trimEnd()
  console.log(`\n${title}`)
  console.log(`(baseline: ${builds[0].describe}; current: ${builds[1].describe}; costs, lower is better; "worse": > ${BUDGET * 100}%)`)
  console.log(line(header))
  console.log(widths.map((w) => "-".repeat(w)).join("  "))
  for (const c of cells) console.log(line(c))
}

/** The order the two builds run in round `round`: swapped every round, so neither always goes first. */
export const inTurn = <A>(pair: readonly [A, A], round: number): readonly [A, A] => (round % 2 === 0 ? pair : [pair[1], pair[0]])
