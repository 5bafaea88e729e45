/**
 * Issues 20 and 21's targets in one table at the end of `npm run bench`: each suite records its
 * figure (volley as a ratio to the plain reference measured in the same run), for the current
 * build and, side by side (`VOLLEY_BENCH_BASELINE`), the baseline too; `run.ts` prints them.
 */
import type { Build } from "./builds.js"

export interface Target {
  readonly name: string
  /** `max`: the ratio must stay at or below `bound` (a cost); `min`: at or above it (a speed). */
  readonly kind: "max" | "min"
  readonly bound: number
  readonly current?: number
  readonly baseline?: number
}

const recorded = new Map<string, Target>()

/** Records `ratio` for `build` (the current build when omitted) under `name`. */
export const record = (name: string, kind: Target["kind"], bound: number, ratio: number, build?: Build): void => {
  const previous = recorded.get(name) ?? { name, kind, bound }
  recorded.set(name, build?.label === "baseline" ? { ...previous, baseline: ratio } : { ...previous, current: ratio })
}

const met = (t: Target, ratio: number) => (t.kind === "max" ? ratio <= t.bound : ratio >= t.bound)

/** Prints the table (nothing when no suite recorded a target). */
export const print = (builds?: readonly [Build, Build]): void => {
  if (recorded.size === 0) return
  const rows = [...recorded.values()].map((t) => [
    t.name,
    `${t.kind === "max" ? "<=" : ">="} ${t.bound}x`,
    ...(builds === undefined ? [] : [t.baseline === undefined ? "-" : `${t.baseline.toFixed(2)}x`]),
    t.current === undefined ? "-" : `${t.current.toFixed(2)}x`,
    t.current === undefined ? "" : met(t, t.current) ? "met" : "MISSED"
  ])
  const header = ["target (volley / reference, same run)", "bound", ...(builds === undefined ? [] : ["baseline"]), "current", ""]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd()
  console.log(`\ntargets (issues 20, 21), ratios measured in this run${builds === undefined ? "" : ` (baseline: ${builds[0].describe}; current: ${builds[1].describe})`}`)
  console.log(line(header))
  console.log(widths.map((w) => "-".repeat(w)).join("  "))
  for (const r of rows) console.log(line(r))
}
