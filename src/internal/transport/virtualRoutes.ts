/**
 * The virtual transport's routes: URL patterns (path with `:params` and a trailing `*`, query,
 * origin, method prefix, RegExp or predicate) compiled once, and the reply each route gives
 * on its n-th call.
 */
import * as Effect from "effect/Effect"
import type * as Duration from "effect/Duration"
import type * as Testing from "../../Testing.js"

export type Params = Record<string, string>

/**
 * What a pattern is matched against: the method and a parsed URL that only the matchers
 * read, plus the {@link Testing.RequestInfo} a predicate gets, made on demand. Why: the log
 * keeps one parsed URL per record, so `requestsTo` over 10,000 records parses none, while a
 * user predicate still gets a URL of its own that it cannot spoil the log with.
 */
export interface Target {
  readonly method: string
  readonly url: URL
  readonly info: () => Testing.RequestInfo
}

/** A compiled pattern: the params when it matches, `undefined` when not. */
export interface Matcher {
  readonly label: string
  readonly match: (target: Target) => Params | undefined
}

export const methodPrefix = /^([A-Za-z]+|\*)\s+(\S.*)$/

export const safeDecode = (segment: string): string => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

export const matchPath = (pattern: ReadonlyArray<string>, pathname: string): Params | undefined => {
  const actual = pathname.split("/")
  const params: Params = {}
  for (let i = 0; i < pattern.length; i++) {
    const segment = pattern[i]!
    if (segment === "*" && i === pattern.length - 1) {
      params["*"] = actual.slice(i).map(safeDecode).join("/")
      return params
    }
    const got = actual[i]
    if (got === undefined) return undefined
    if (segment.startsWith(":") && segment.length > 1) {
      if (got === "") return undefined
      params[segment.slice(1)] = safeDecode(got)
    } else if (segment !== got && segment !== safeDecode(got)) {
      return undefined
    }
  }
  return pattern.length === actual.length ? params : undefined
}

export const matchQuery = (required: URLSearchParams | undefined, actual: URLSearchParams): boolean => {
  if (required === undefined) return true
  for (const [name, value] of required) {
    if (!actual.getAll(name).includes(value)) return false
  }
  return true
}

/** Compiles a string, RegExp or predicate pattern, optionally restricted to a method. */
export const compilePattern = (pattern: Testing.UrlPattern, method?: string): Matcher => {
  let wanted = method?.toUpperCase()
  if (typeof pattern === "function") {
    return withMethod(wanted, { label: pattern.name !== "" ? pattern.name : "<predicate>", match: (target) => (pattern(target.info()) ? {} : undefined) })
  }
  if (pattern instanceof RegExp) {
    // A global or sticky RegExp keeps state between tests; match with a stateless copy.
    const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""))
    return withMethod(wanted, {
      label: String(pattern),
      match: (target) => {
        const found = re.exec(target.url.href)
        return found === null ? undefined : { ...found.groups }
      }
    })
  }
  let text = pattern.trim()
  const prefixed = methodPrefix.exec(text)
  if (prefixed !== null) {
    const verb = prefixed[1]!.toUpperCase()
    if (verb !== "*") wanted = verb
    text = prefixed[2]!
  }
  let origin: string | undefined
  let rest = text
  const absolute = /^(https?:\/\/[^/?#]+)(.*)$/i.exec(text)
  if (absolute !== null) {
    try {
      origin = new URL(absolute[1]!).origin
    } catch {
      throw new Error(`volley/testing: invalid URL pattern ${JSON.stringify(pattern)}`)
    }
    rest = absolute[2] === "" ? "/" : absolute[2]!
  } else if (!text.startsWith("/")) {
    throw new Error(`volley/testing: a URL pattern must start with "/" or "http(s)://", got ${JSON.stringify(pattern)}`)
  }
  const queryAt = rest.indexOf("?")
  const path = (queryAt === -1 ? rest : rest.slice(0, queryAt)).split("/")
  const query = queryAt === -1 ? undefined : new URLSearchParams(rest.slice(queryAt + 1))
  const label = wanted === undefined ? text : `${wanted} ${text}`
  return withMethod(wanted, {
    label,
    match: (target) => {
      if (origin !== undefined && target.url.origin !== origin) return undefined
      if (!matchQuery(query, target.url.searchParams)) return undefined
      return matchPath(path, target.url.pathname)
    }
  })
}

export const withMethod = (method: string | undefined, matcher: Matcher): Matcher => {
  if (method === undefined || method === "*") return matcher
  return {
    label: matcher.label.startsWith(`${method} `) ? matcher.label : `${method} ${matcher.label}`,
    match: (target) => (target.method.toUpperCase() === method ? matcher.match(target) : undefined)
  }
}

// ---- routes --------------------------------------------------------------------------------

export interface CompiledRoute {
  readonly matcher: Matcher
  readonly name: string
  readonly handler: Testing.Handler
  readonly latency: Duration.DurationInput | undefined
  calls: number
}

export const compileRoutes = (routes: Testing.Routes): Array<CompiledRoute> => {
  const list: ReadonlyArray<Testing.Route> = Array.isArray(routes)
    ? routes
    : Object.entries(routes as Readonly<Record<string, Testing.Handler>>).map(([url, reply]) => ({ url, reply }))
  return list.map((route) => {
    const matcher = compilePattern(route.url, route.method)
    return { matcher, name: route.name ?? matcher.label, handler: route.reply, latency: route.latency, calls: 0 }
  })
}

export const isFailure = (reply: Testing.Reply): reply is Testing.FailureSpec => "fail" in reply

export const pick = (handler: Testing.Handler, call: number): Testing.Reply | Testing.ReplyFunction => {
  if (!Array.isArray(handler)) return handler as Testing.Reply | Testing.ReplyFunction
  const sequence = handler as ReadonlyArray<Testing.Reply | Testing.ReplyFunction>
  if (sequence.length === 0) throw new Error("volley/testing: a reply sequence must not be empty")
  return sequence[Math.min(call, sequence.length - 1)]!
}

export const resolveReply = (handler: Testing.Handler, request: Testing.TestRequest): Effect.Effect<Testing.Reply> => {
  const chosen = pick(handler, request.call)
  if (typeof chosen !== "function") return Effect.succeed(chosen)
  return Effect.suspend(() => {
    const out = chosen(request)
    return Effect.isEffect(out) ? out : Effect.succeed(out)
  })
}
