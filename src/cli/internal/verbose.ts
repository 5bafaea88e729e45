/**
 * `-v`: a line on stderr per HTTP exchange (each attempt, retry and redirect hop), so a user
 * sees which status or network error led to which retry. Built on volley's own client spans
 * (see Observe.ts): a Tracer that prints each `http.client` span as it ends and keeps nothing.
 */
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as Context from "effect/Context"
import type * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { terminalSafe } from "./terminalText.js"

/**
 * One exchange's line: `* GET http://h/x attempt 2: 503 (12 ms)`, or its error type. `sent`
 * is how many first hops to this method and URL were seen before: Batch retries an item with a
 * new call each time, so the client's own retry count (`volley.retry`) restarts at 0.
 */
export const exchangeLine = (attributes: ReadonlyMap<string, unknown>, ms: number, failed: boolean, sent: number): string => {
  const retry = Math.max(Number(attributes.get("volley.retry") ?? 0), sent)
  const hop = Number(attributes.get("volley.redirect") ?? 0)
  const status = attributes.get("http.response.status_code")
  const error = attributes.get("error.type")
  const outcome = status !== undefined
    ? String(status) + (error !== undefined && error !== String(status) ? ` ${String(error)}` : "")
    : failed
    ? String(error ?? "failed")
    : "no response"
  const which = `attempt ${retry + 1}${hop > 0 ? `, redirect ${hop}` : ""}`
  return `* ${String(attributes.get("http.request.method"))} ${terminalSafe(String(attributes.get("url.full")))} ${which}: ${outcome} (${
    Math.round(ms)
  } ms)\n`
}

class PrintedSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly spanId = "0000000000000000"
  readonly traceId = "00000000000000000000000000000000"
  readonly sampled = false
  readonly links: ReadonlyArray<Tracer.SpanLink> = []
  status: Tracer.SpanStatus
  readonly attributes = new Map<string, unknown>()
  constructor(
    readonly name: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    readonly kind: Tracer.SpanKind,
    startTime: bigint,
    private readonly write: (line: string) => void,
    private readonly seen: Map<string, number>
  ) {
    this.status = { _tag: "Started", startTime }
  }
  /** Earlier first hops to the same method and URL (set once both attributes are). */
  private sent = 0
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    const startTime = this.status.startTime
    this.status = { _tag: "Ended", startTime, endTime, exit }
    if (this.name.startsWith("http.client")) {
      this.write(exchangeLine(this.attributes, Number(endTime - startTime) / 1e6, Exit.isFailure(exit), this.sent))
    }
  }
  attribute(key: string, value: unknown): void {
    this.attributes.set(key, value)
    // url.full is set right after the method, before any redirect attribute.
    if (key === "url.full") {
      const id = `${String(this.attributes.get("http.request.method"))} ${String(value)}`
      this.sent = this.seen.get(id) ?? 0
      this.seen.set(id, this.sent + 1)
    }
  }
  event(): void {}
  addLinks(): void {}
}

/** The tracer of `-v`: writes each exchange's line with `write`. */
export const tracer = (write: (line: string) => void): Tracer.Tracer => {
  const seen = new Map<string, number>()
  return Tracer.make({
    span: (name, parent, context, _links, startTime, kind) => new PrintedSpan(name, parent, context, kind, startTime, write, seen),
    context: (f) => f()
  })
}

/** `-v` as a layer (nothing without it). */
export const layer = (verbose: boolean, write: (line: string) => void): Layer.Layer<never> =>
  verbose ? Layer.setTracer(tracer(write)) : Layer.empty
