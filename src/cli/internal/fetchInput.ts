/**
 * What `volley fetch` reads: one request per line — a plain URL, or an NDJSON object with
 * `url`, `method`, `headers`, `body` — and the values of its flags. Pure functions, so every
 * rule is tested without a process.
 */
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import type * as Batch from "../../Batch.js"
import { redactUrl } from "../../Errors.js"
import type { RequestInput } from "../../Client.js"
import { parseSize } from "./downloadInput.js"
import { showQuery } from "./showQuery.js"

/** A request to run, with where it came from. */
export interface FetchItem {
  /** 1-based line number in the input. */
  readonly line: number
  /** The URL as printed (credentials and secret query values redacted). */
  readonly url: string
  readonly request: RequestInput
}

/** What a line turned out to be. */
export type Parsed =
  | { readonly _tag: "Skip" }
  | { readonly _tag: "Item"; readonly item: FetchItem }
  | { readonly _tag: "Invalid"; readonly message: string }

/** Settings that apply to plain URL lines (method) or every line (headers). */
export interface LineDefaults {
  readonly method: string
  /** Lower-case names; NDJSON lines' own headers take precedence. */
  readonly headers: Readonly<Record<string, string>>
  /** `-d` / `--json`: the body of plain URL lines. */
  readonly body?: string | undefined
  /** How records show a URL (`--show-query`); default `redactUrl`. */
  readonly show?: ((url: URL) => string) | undefined
}

const skip: Parsed = { _tag: "Skip" }
const invalid = (message: string): Parsed => ({ _tag: "Invalid", message })

const methodToken = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * Connection-level headers: the transport sets them from the URL and body, and a caller's
 * value would either be refused by undici or desynchronise the framing (request smuggling).
 */
const hopByHop: ReadonlySet<string> = new Set([
  "host",
  "content-length",
  "connection",
  "upgrade",
  "te",
  "expect",
  "transfer-encoding",
  "keep-alive",
  "proxy-connection"
])

/** Why a header cannot be sent, or `undefined`. The value is never echoed: it may be a secret. */
const headerProblem = (name: string, value: string): string | undefined => {
  const lower = name.toLowerCase()
  if (hopByHop.has(lower)) return `header ${JSON.stringify(lower)} is connection-level and set by volley; remove it`
  if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) return `header ${JSON.stringify(lower)} has a control character (CR, LF, NUL...) in its value`
  return undefined
}

/** Checks an absolute http(s) URL; returns the parsed URL or why not. */
const checkUrl = (text: string): URL | string => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    // Echoed redacted: a rejected line may still carry a password or a token.
    const shown = JSON.stringify(redactUrl(text))
    return /^[a-z][a-z0-9+.-]*:/i.test(text) ? `invalid URL ${shown}` : `not an absolute http(s) URL: ${shown}`
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `unsupported scheme ${url.protocol.slice(0, -1)} in ${JSON.stringify(redactUrl(url))}`
  return url
}

const build = (url: string, method: string, headers: Readonly<Record<string, string>>, body: unknown): RequestInput => {
  // The common case (GET, no headers) stays a plain string: nothing to build per line.
  if (method === "GET" && body === undefined && Object.keys(headers).length === 0) return url
  let request = HttpClientRequest.make(method as HttpClientRequest.HttpClientRequest["method"])(url).pipe(
    HttpClientRequest.setHeaders(headers)
  )
  if (typeof body === "string") request = HttpClientRequest.bodyText(request, body, headers["content-type"])
  else if (body !== undefined) request = HttpClientRequest.bodyUnsafeJson(request, body)
  return request
}

const allowedFields: ReadonlySet<string> = new Set(["url", "method", "headers", "body"])

const parseJsonLine = (text: string, line: number, defaults: LineDefaults): Parsed => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return invalid(`invalid JSON: ${(error as Error).message}`)
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return invalid("a JSON line must be an object with a \"url\"")
  const record = value as Record<string, unknown>
  for (const key of Object.keys(record)) {
    if (!allowedFields.has(key)) return invalid(`unknown field ${JSON.stringify(key)} (expected url, method, headers, body)`)
  }
  if (typeof record["url"] !== "string") return invalid("missing \"url\" (a string)")
  const url = checkUrl(record["url"])
  if (typeof url === "string") return invalid(url)
  const rawMethod = record["method"] ?? "GET"
  if (typeof rawMethod !== "string" || !methodToken.test(rawMethod)) return invalid(`invalid "method": ${JSON.stringify(rawMethod)}`)
  const headers: Record<string, string> = { ...defaults.headers }
  const rawHeaders = record["headers"]
  if (rawHeaders !== undefined) {
    if (typeof rawHeaders !== "object" || rawHeaders === null || Array.isArray(rawHeaders)) return invalid("\"headers\" must be an object of strings")
    for (const [name, v] of Object.entries(rawHeaders)) {
      if (typeof v !== "string") return invalid(`header ${JSON.stringify(name)} must be a string`)
      if (!methodToken.test(name)) return invalid(`invalid header name ${JSON.stringify(name)}`)
      const problem = headerProblem(name, v)
      if (problem !== undefined) return invalid(problem)
      headers[name.toLowerCase()] = v
    }
  }
  const method = rawMethod.toUpperCase()
  return { _tag: "Item", item: { line, url: (defaults.show ?? redactUrl)(url), request: build(url.href, method, headers, record["body"]) } }
}

/**
 * Parses one input line. Blank lines and `#` comments are skipped; a line starting with `{`
 * is NDJSON; anything else is a URL (sent with the default method).
 */
export const parseLine = (raw: string, line: number, defaults: LineDefaults): Parsed => {
  const text = raw.trim()
  if (text === "" || text.startsWith("#")) return skip
  if (text.startsWith("{")) return parseJsonLine(text, line, defaults)
  if (/\s/.test(text)) {
    const shown = redactUrl(text)
    return invalid(`expected one URL per line, got ${JSON.stringify(shown.length > 80 ? `${shown.slice(0, 79)}…` : shown)}`)
  }
  const url = checkUrl(text)
  if (typeof url === "string") return invalid(url)
  return { _tag: "Item", item: { line, url: (defaults.show ?? redactUrl)(url), request: build(text, defaults.method, defaults.headers, defaults.body) } }
}

/** Parses `--header "Name: value"` flags into lower-case names; the error names the bad one. */
export const parseHeaders = (flags: ReadonlyArray<string>): Record<string, string> | string => {
  const headers: Record<string, string> = {}
  for (const flag of flags) {
    const colon = flag.indexOf(":")
    const name = colon < 0 ? "" : flag.slice(0, colon).trim()
    if (colon < 0 || !methodToken.test(name)) return `invalid --header ${JSON.stringify(flag)} (expected "Name: value")`
    const value = flag.slice(colon + 1).trim()
    const problem = headerProblem(name, value)
    if (problem !== undefined) return `invalid --header: ${problem}`
    headers[name.toLowerCase()] = value
  }
  return headers
}

/** Parses `--method`; the error says why. */
export const parseMethod = (flag: string): string | { readonly error: string } =>
  methodToken.test(flag) ? flag.toUpperCase() : { error: `invalid --method ${JSON.stringify(flag)}` }

/**
 * Parses a duration flag: `500ms`, `10s`, `2m`, or a bare number of seconds (`1.5`). Returns
 * milliseconds, or `undefined` when it is not a positive duration.
 */
export const parseDuration = (flag: string): number | undefined => {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(flag.trim())
  if (match === null) return undefined
  const n = Number(match[1])
  const unit = (match[2] ?? "s").toLowerCase()
  const ms = unit === "ms" ? n : unit === "s" ? n * 1000 : unit === "m" ? n * 60_000 : n * 3_600_000
  return ms > 0 && Number.isFinite(ms) ? ms : undefined
}

/** The flags as @effect/cli parsed them. */
export interface FetchFlags {
  /** Positional: URLs, list files, `-` for stdin. */
  readonly inputs: ReadonlyArray<string>
  /** `-i FILE`: a list (aria2c's flag). */
  readonly inputFile: Option.Option<string>
  /** `-d` / `--data`: a request body (`@FILE` reads it from a file), POST unless `-X`. */
  readonly data: Option.Option<string>
  /** `--json`: a JSON body, with its content-type and accept. */
  readonly json: Option.Option<string>
  readonly verbose: boolean
  /** `--show-query`: records show query values, except secret-looking ones. */
  readonly showQuery: boolean
  /** `--output-file FILE`: every response body into one file. */
  readonly outputFile: Option.Option<string>
  readonly concurrency: number
  readonly perHost: Option.Option<number | string>
  readonly rate: Option.Option<number>
  readonly timeout: Option.Option<string>
  readonly maxTime: Option.Option<string>
  readonly retries: number
  readonly method: Option.Option<string>
  readonly header: ReadonlyArray<string>
  readonly output: "ndjson" | "table"
  readonly body: boolean
  readonly bodyLimit: string
  readonly outputDir: Option.Option<string>
  readonly summary: "text" | "json"
  readonly summaryFile: Option.Option<string>
  readonly failFast: boolean
}

/** The flags, checked and resolved. */
export interface FetchSettings {
  /** What to run, in order: URLs given as arguments and lists (files, `-` for stdin). */
  readonly sources: ReadonlyArray<Source>
  readonly verbose: boolean
  /** `--output-file`: where every body goes. */
  readonly outputFile: string | undefined
  readonly batch: Batch.Options<FetchItem, Batch.Fetched, never, never>
  readonly connections: number
  readonly defaults: LineDefaults
  readonly table: boolean
  readonly failFast: boolean
  /** With `--body`: the largest body recorded whole, in bytes. */
  readonly bodyLimit: number | undefined
  readonly outputDir: string | undefined
  readonly summary: "text" | "json"
  readonly summaryFile: string | undefined
}

/** An input: a URL given as an argument (numbered by its position), or a list to read. */
export type Source =
  | { readonly _tag: "Url"; readonly url: string; readonly position: number }
  | { readonly _tag: "List"; readonly path: string }

/** `scheme://`: an argument that is meant as a URL, not as a file name. */
const looksLikeUrl = (arg: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(arg)

/** The positional arguments and `-i` as sources: URLs, list files, `-` (stdin, at most once). */
export const resolveSources = (inputs: ReadonlyArray<string>, inputFile: string | undefined): ReadonlyArray<Source> | string => {
  const sources: Array<Source> = inputs.map((arg, i) =>
    looksLikeUrl(arg) ? { _tag: "Url", url: arg, position: i + 1 } : { _tag: "List", path: arg }
  )
  if (inputFile !== undefined) sources.push({ _tag: "List", path: inputFile })
  if (sources.length === 0) return "nothing to fetch: give URLs, -i FILE (one URL or JSON request per line), or - to read stdin"
  if (sources.filter((s) => s._tag === "List" && s.path === "-").length > 1) return "stdin (-) can be read only once"
  return sources
}

/** `-d TEXT` or `-d @FILE` (`@-`: stdin is not supported here: it may be the list). */
const readData = (flag: string): string | { readonly error: string } => {
  if (!flag.startsWith("@")) return flag
  const file = flag.slice(1)
  try {
    return fs.readFileSync(file, "utf8")
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return { error: `--data: cannot read ${JSON.stringify(file)}: ${code === "ENOENT" ? "no such file" : code ?? String(error)}` }
  }
}

/** `-d` / `--json` into a body and its headers (curl's content types; `-H` wins). */
const resolveBody = (config: FetchFlags): { readonly body: string; readonly headers: Record<string, string> } | undefined | string => {
  const data = Option.getOrUndefined(config.data)
  const json = Option.getOrUndefined(config.json)
  if (data !== undefined && json !== undefined) return "give either --data or --json, not both"
  if (json !== undefined) {
    const body = readData(json)
    if (typeof body !== "string") return body.error.replace("--data", "--json")
    return { body, headers: { "content-type": "application/json", accept: "application/json" } }
  }
  if (data === undefined) return undefined
  const body = readData(data)
  if (typeof body !== "string") return body.error
  return { body, headers: { "content-type": "application/x-www-form-urlencoded" } }
}

/** Checks the flags and resolves them into settings, or returns the usage error to report. */
export const resolveFlags = (config: FetchFlags): FetchSettings | string => {
  if (config.concurrency < 1) return `--concurrency must be at least 1, got ${config.concurrency}`
  const perHostFlag = Option.getOrUndefined(config.perHost)
  const perHost: number | "adaptive" | undefined = perHostFlag === undefined || perHostFlag === "adaptive" ? perHostFlag : Number(perHostFlag)
  if (typeof perHost === "number" && !Number.isInteger(perHost)) return `--per-host must be a whole number or adaptive, got ${perHostFlag}`
  if (typeof perHost === "number" && perHost < 1) return `--per-host must be at least 1, got ${perHost}`
  const rate = Option.getOrUndefined(config.rate)
  if (rate !== undefined && !(rate > 0 && Number.isFinite(rate))) return `--rate must be a positive number of requests per second, got ${rate}`
  if (config.retries < 0) return `--retries must be 0 or more, got ${config.retries}`
  const timeoutFlag = Option.getOrUndefined(config.timeout)
  const timeoutMs = timeoutFlag === undefined ? undefined : parseDuration(timeoutFlag)
  if (timeoutFlag !== undefined && timeoutMs === undefined) return `invalid --timeout ${JSON.stringify(timeoutFlag)} (e.g. 500ms, 10s, 2m)`
  const maxTimeFlag = Option.getOrUndefined(config.maxTime)
  const maxTimeMs = maxTimeFlag === undefined ? undefined : parseDuration(maxTimeFlag)
  if (maxTimeFlag !== undefined && maxTimeMs === undefined) return `invalid --max-time ${JSON.stringify(maxTimeFlag)} (e.g. 500ms, 10s, 2m)`
  const bodyLimit = parseSize(config.bodyLimit)
  if (bodyLimit === undefined) return `invalid --body-limit ${JSON.stringify(config.bodyLimit)} (e.g. 64K, 1M)`
  const outputDir = Option.getOrUndefined(config.outputDir)
  if (outputDir !== undefined && outputDir.trim() === "") return "--output-dir needs a folder"
  const sources = resolveSources(config.inputs, Option.getOrUndefined(config.inputFile))
  if (typeof sources === "string") return sources
  const body = resolveBody(config)
  if (typeof body === "string") return body
  const method = parseMethod(Option.getOrElse(config.method, () => (body === undefined ? "GET" : "POST")))
  if (typeof method !== "string") return method.error
  const flagHeaders = parseHeaders(config.header)
  if (typeof flagHeaders === "string") return flagHeaders
  const headers = body === undefined ? flagHeaders : { ...body.headers, ...flagHeaders }
  const outputFile = Option.getOrUndefined(config.outputFile)
  if (outputFile !== undefined && (outputFile.trim() === "" || outputDir !== undefined || config.body)) {
    return outputFile.trim() === "" ? "--output-file needs a file name" : "--output-file cannot be combined with --output-dir or --body"
  }
  return {
    sources,
    verbose: config.verbose,
    outputFile,
    connections: typeof perHost === "number" ? Math.min(perHost, config.concurrency) : config.concurrency,
    defaults: { method, headers, body: body?.body, show: config.showQuery ? showQuery : undefined },
    table: config.output === "table",
    failFast: config.failFast,
    bodyLimit: config.body ? bodyLimit : undefined,
    outputDir,
    summary: config.summary,
    summaryFile: Option.getOrUndefined(config.summaryFile),
    batch: {
      concurrency: config.concurrency,
      perHost,
      rate,
      // --max-time bounds the item (attempts, backoff and Retry-After waits); --timeout each attempt.
      itemDeadline: maxTimeMs === undefined ? undefined : Duration.millis(maxTimeMs),
      requestOptions: {
        retry: { maxAttempts: config.retries + 1 },
        ...(timeoutMs === undefined ? {} : { deadline: Duration.millis(timeoutMs) })
      }
    }
  }
}
