/**
 * The one redirect rule (`follow`), which the client's hops and the HttpClient bridge's hops
 * both ask: pure logic, no I/O. The behaviour through real sockets is in
 * clientRedirects.test.ts and httpClientRedirects.test.ts.
 */
import { describe, expect, it } from "vitest"
import { RedirectError } from "../src/Errors.js"
import { type ChainState, follow, type Hop, type Next, startChain } from "../src/internal/client/redirect.js"

const settings = { maxRedirects: 10, allowHttpsDowngrade: false, sensitiveHeaders: new Set(["x-mine"]) }

const hop = (url: string, overrides: Partial<Hop> = {}): Hop => ({
  method: "GET",
  url: new URL(url),
  redactedUrl: url,
  headers: { authorization: "Bearer s", "x-api-key": "k", "x-mine": "m", "x-keep": "yes", host: "a.test" },
  body: "none",
  ...overrides
})

const next = (result: Next | RedirectError | undefined): Next => {
  if (result === undefined || result instanceof RedirectError) return expect.unreachable(`no next hop: ${String(result)}`)
  return result
}

const refused = (result: Next | RedirectError | undefined): string =>
  result instanceof RedirectError ? result.reason : expect.unreachable("followed")

describe("follow: the redirect rule", () => {
  it("a same-origin hop of a chain that already crossed origins still drops credentials", () => {
    const crossed: ChainState = { hops: 1, visited: new Set(["GET https://a.test/"]), crossed: true }
    const result = next(follow(hop("https://b.test/x"), 302, "/y", crossed, settings))
    expect(result.url.href).toBe("https://b.test/y")
    expect(result.headers).toEqual({ "x-keep": "yes" })
    expect(result.chain.crossed).toBe(true)
  })

  it("a same-origin hop of a chain that never crossed keeps them (Host aside)", () => {
    const result = next(follow(hop("https://a.test/x"), 302, "/y", startChain("GET", new URL("https://a.test/x")), settings))
    expect(result.headers).toEqual({ authorization: "Bearer s", "x-api-key": "k", "x-mine": "m", "x-keep": "yes" })
    expect(result.chain).toMatchObject({ hops: 1, crossed: false })
  })

  it("a body crossing origins on 307/308 is refused; on 303 it is dropped with its headers", () => {
    const post = hop("https://a.test/login", { method: "POST", body: "replayable", headers: { "content-type": "text/plain" } })
    const chain = startChain("POST", post.url)
    expect(refused(follow(post, 307, "https://b.test/", chain, settings))).toBe("CrossOriginBody")
    expect(refused(follow(post, 308, "https://b.test/", chain, settings))).toBe("CrossOriginBody")
    const seeOther = next(follow(post, 303, "https://b.test/", chain, settings))
    expect([seeOther.method, seeOther.keepBody, seeOther.headers]).toEqual(["GET", false, {}])
  })

  it("downgrade, too many, loop, one-shot body, bad Location", () => {
    const chain = startChain("GET", new URL("https://a.test/x"))
    expect(refused(follow(hop("https://a.test/x"), 302, "http://a.test/x", chain, settings))).toBe("Downgrade")
    expect(refused(follow(hop("https://a.test/x"), 302, "/y", { ...chain, hops: 10 }, settings))).toBe("TooMany")
    expect(refused(follow(hop("https://a.test/x"), 302, "/x", chain, settings))).toBe("Loop")
    expect(refused(follow(hop("https://a.test/x", { method: "PUT", body: "oneShot" }), 307, "/y", chain, settings))).toBe("BodyNotReplayable")
    expect(refused(follow(hop("https://a.test/x"), 302, "ftp://a.test/y", chain, settings))).toBe("InvalidLocation")
    expect(follow(hop("https://a.test/x"), 302, undefined, chain, settings)).toBeUndefined()
  })
})
