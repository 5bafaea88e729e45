/**
 * `volley download`'s progress display, as unit tests: bars, the total line, redraws on a TTY
 * and plain lines otherwise, ETA and size formats.
 */
import { describe, expect, it } from "vitest"
import * as Display from "../src/cli/internal/downloadProgress.js"

describe("progress display", () => {
  const progress = (bytes: number, total: number | undefined, rate: number): Parameters<typeof Display.applyProgress>[2] => ({
    url: "u",
    path: "/out/file.iso",
    bytes,
    total,
    resumedFrom: 0,
    rate,
    elapsedMs: 1000,
    done: false
  })

  it("a bar per active download plus a total line with bytes, rate and ETA", () => {
    const state = Display.makeState(3)
    Display.applyProgress(state, 0, progress(50 * 1024 * 1024, 100 * 1024 * 1024, 10 * 1024 * 1024))
    Display.applyProgress(state, 1, progress(1024, undefined, 1024))
    const lines = Display.renderBars(state, 100)
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/^file\.iso +\[#+-+\] +50% +50\.0 MiB\/100\.0 MiB +10\.0 MiB\/s {2}ETA 5s *$/)
    expect(lines[1]).toMatch(/\? +1\.0 KiB +1\.0 KiB\/s {2}ETA --/)
    // One frame, one width: the bars end in the same column whatever their sizes and rates.
    expect(lines[0]!.indexOf("]")).toBe(lines[1]!.indexOf("]"))
    expect(lines[0]!.length).toBe(lines[1]!.length)
    expect(lines[2]).toBe("total  0/3 files, 1 queued  50.0 MiB  10.0 MiB/s  ETA --")
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(100)
    Display.applyOutcome(state, { _tag: "Success", index: 1, item: "u", url: "u", value: {} as never })
    expect(Display.renderTotal(state, 100)).toBe("total  1/3 files, 1 queued  50.0 MiB  10.0 MiB/s  ETA 5s")
    // A durable batch: files other workers finished count as done, not queued.
    state.others = 1
    expect(Display.renderTotal(state, 100)).toBe("total  2/3 files, 1 by other workers  50.0 MiB  10.0 MiB/s  ETA 5s")
  })

  it("redraws in place on a TTY and writes plain lines otherwise", () => {
    let tty = ""
    const screen = Display.makeDisplay({ files: 1, tty: true, columns: () => 60, write: (t) => (tty += t) })
    screen.progress(0, progress(10, 100, 5))
    screen.tick()
    screen.tick()
    screen.outcome({ _tag: "Success", index: 0, item: "u", url: "u", value: {} as never }, "ok file.iso")
    screen.close()
    expect(tty).toContain("\x1b[2F\x1b[J")
    expect(tty).toContain("[1/1] ok file.iso\n")
    let plain = ""
    const log = Display.makeDisplay({ files: 1, tty: false, columns: () => 60, write: (t) => (plain += t) })
    log.start(0, "http://h/file.iso")
    log.progress(0, progress(10, 100, 5))
    log.tick()
    log.outcome({ _tag: "Success", index: 0, item: "u", url: "u", value: {} as never }, "ok file.iso")
    expect(plain).toBe("[1/1] start http://h/file.iso\n[1/1] ok file.iso\n")
  })

  it("formats ETA and sizes", () => {
    expect(Display.formatEta(59.2)).toBe("1m00s")
    expect(Display.formatEta(3725)).toBe("1h02m")
    expect(Display.formatEta(undefined)).toBe("--")
    expect(Display.formatBytes(1536)).toBe("1.5 KiB")
  })
})
