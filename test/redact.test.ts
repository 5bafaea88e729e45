/**
 * URL redaction, case by case from the security review: names the old blocklist missed, a
 * percent-encoded name, fragments, path tokens, `;matrix` parameters, unparseable input, and
 * the CLI echoing rejected input.
 */
import { describe, expect, it } from "vitest"
import { parseLine } from "../src/cli/internal/fetchInput.js"
import * as DownloadInput from "../src/cli/internal/downloadInput.js"
import { redactUrl } from "../src/internal/redact.js"

const secret = "S3CR3Tvalue"

describe("redactUrl", () => {
  it("masks the values of query names the old blocklist missed (pass, pw, jwt, sid, PHPSESSID, creds, bearer, X-Amz-Credential, otp, hash)", () => {
    for (const name of ["pass", "pw", "jwt", "sid", "PHPSESSID", "creds", "bearer", "X-Amz-Credential", "otp", "hash", "sv"]) {
      const out = redactUrl(`https://api.test/v1?${name}=${secret}&page=2`)
      expect(out).toBe(`https://api.test/v1?${name}=***&page=2`)
    }
  })

  it("decodes names before matching: a percent-encoded name does not slip through (also through a URL object's fast path)", () => {
    expect(redactUrl(`https://api.test/?p%61ssword=${secret}`)).not.toContain(secret)
    expect(redactUrl(new URL(`https://api.test/?p%61ssword=${secret}`))).not.toContain(secret)
    expect(redactUrl(new URL(`https://api.test/?%74oken=${secret}`))).not.toContain(secret)
  })

  it("masks fragments that carry values (#access_token=…) or look like a token; keeps a plain anchor", () => {
    expect(redactUrl(`https://app.test/cb#access_token=${secret}&token_type=bearer`)).toBe("https://app.test/cb#access_token=***&token_type=***")
    expect(redactUrl(new URL(`https://app.test/cb#access_token=${secret}`))).not.toContain(secret)
    expect(redactUrl("https://docs.test/page#section-2")).toBe("https://docs.test/page#section-2")
    expect(redactUrl("https://app.test/#eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")).toBe("https://app.test/#***")
  })

  it("masks recognisable path tokens: JWT, known prefixes, Telegram bots, the segment after /token/, ;jsessionid", () => {
    expect(redactUrl("https://h.test/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln/x")).toBe("https://h.test/***/x")
    expect(redactUrl(`https://api.telegram.test/bot123456:${"A".repeat(35)}/sendMessage`)).toBe("https://api.telegram.test/***/sendMessage")
    expect(redactUrl(`https://h.test/repos/ghp_${"a1".repeat(18)}/x`)).toBe("https://h.test/repos/***/x")
    expect(redactUrl(`https://h.test/api/token/${secret}/refresh`)).toBe("https://h.test/api/token/***/refresh")
    expect(redactUrl(`https://h.test/app;jsessionid=${secret}/page`)).toBe("https://h.test/app;jsessionid=***/page")
    // An ordinary path is left alone.
    expect(redactUrl("https://h.test/files/report.bin")).toBe("https://h.test/files/report.bin")
  })

  it("redacts text that does not parse as a URL: userinfo, query and fragment values", () => {
    const out = redactUrl(`http://admin:${secret}@[bad/x?api_key=${secret}#access_token=${secret}`)
    expect(out).not.toContain(secret)
    expect(out).toContain("//***@")
  })

  it("masks a database URL's password wherever it is: ?password=, ?sslpassword=, a / or @ inside it (masked up to the last @)", () => {
    expect(redactUrl(`postgres://alice@db.test:5432/app?password=${secret}&sslpassword=${secret}`)).toBe("postgres://***@db.test:5432/app?password=***&sslpassword=***")
    expect(redactUrl(`postgres://alice:S3cr/et${secret}@db.test/app`)).toBe("postgres://***@db.test/app")
    expect(redactUrl(`postgres://alice:a/b@c${secret}@db.test/app`)).toBe("postgres://***@db.test/app")
  })

  it("keeps what is safe: allowlisted names, bare names, the URL's shape", () => {
    expect(redactUrl("https://api.test/items?page=3&per_page=50&sort=name&debug")).toBe("https://api.test/items?page=3&per_page=50&sort=name&debug")
    expect(redactUrl("https://user:pw@api.test/v1?token=abc&page=2&api_key=k")).toBe("https://***@api.test/v1?token=***&page=2&api_key=***")
  })
})

describe("the CLI echoes rejected input redacted", () => {
  it("volley fetch: an invalid URL line", () => {
    const parsed = parseLine(`http://admin:${secret}@[exa-mple.test/?token=${secret}`, 1, { method: "GET", headers: {} })
    expect(parsed._tag).toBe("Invalid")
    expect(parsed._tag === "Invalid" && parsed.message).toMatch(/^invalid URL /)
    expect(JSON.stringify(parsed)).not.toContain(secret)
  })

  it("volley fetch: a line with two tokens", () => {
    const parsed = parseLine(`http://admin:${secret}@example.test/?token=${secret} extra`, 1, { method: "GET", headers: {} })
    expect(parsed._tag).toBe("Invalid")
    expect(JSON.stringify(parsed)).not.toContain(secret)
  })

  it("volley download: a line that is not a URL", () => {
    const list = DownloadInput.parseList(`http://admin:${secret}@[exa-mple.test/f.bin?token=${secret}\n`)
    expect(list.errors).toHaveLength(1)
    expect(JSON.stringify(list.errors)).not.toContain(secret)
  })
})
