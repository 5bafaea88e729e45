/**
 * The fault server itself: other transport tests trust its routes and counters, so check
 * them here with plain Node clients (no connection pooling, nothing of the code under test).
 */
import * as http from "node:http"
import * as https from "node:https"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FaultServer, startFaultServer, testCertificate } from "./support/FaultServer.js"

interface Reply {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: Buffer
}

/** One request on a fresh socket (agent: false), so nothing is left pooled when a test ends. */
const request = (
  url: string,
  options: { readonly method?: string; readonly headers?: http.OutgoingHttpHeaders; readonly body?: string; readonly ca?: string } = {}
): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const lib = url.startsWith("https:") ? https : http
    const req = lib.request(url, {
      agent: false,
      method: options.method ?? "GET",
      headers: options.headers ?? {},
      ...(options.ca === undefined ? {} : { ca: options.ca })
    }, (res) => {
      const parts: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => parts.push(chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end(options.body)
  })

describe("FaultServer (plain HTTP)", () => {
  let server: FaultServer
  beforeAll(async () => {
    server = await startFaultServer()
  })
  afterAll(() => server.close())

  it("/ok answers the requested number of bytes with a Content-Length", async () => {
    const reply = await request(`${server.url}/ok?size=1234`)
    expect(reply.status).toBe(200)
    expect(reply.headers["content-length"]).toBe("1234")
    expect(reply.body.toString()).toBe("x".repeat(1234))
    expect((await request(`${server.url}/ok`)).body.toString()).toBe("ok")
  })

  it("/status sends the code, Retry-After verbatim and the body", async () => {
    const date = "Wed, 21 Oct 2015 07:28:00 GMT"
    const reply = await request(`${server.url}/status/503?retryAfter=${encodeURIComponent(date)}&body=busy`)
    expect([reply.status, reply.headers["retry-after"], reply.body.toString()]).toEqual([503, date, "busy"])
    const sized = await request(`${server.url}/status/500?bodySize=300`)
    expect(sized.body.toString()).toBe("e".repeat(300))
  })

  it("/flaky fails the given number of times per key, then succeeds", async () => {
    const url = `${server.url}/flaky?key=self&failures=2&status=429&retryAfter=1`
    const replies = [await request(url), await request(url), await request(url)]
    expect(replies.map((r) => r.status)).toEqual([429, 429, 200])
    expect(replies[0]?.headers["retry-after"]).toBe("1")
    expect(replies[2]?.body.toString()).toBe("ok after 2")
  })

  it("/echo returns and records method, path, headers and body", async () => {
    const reply = await request(`${server.url}/echo?q=1`, { method: "POST", headers: { "x-probe": "yes" }, body: "payload" })
    expect(JSON.parse(reply.body.toString())).toMatchObject({ method: "POST", path: "/echo?q=1", body: "payload", headers: { "x-probe": "yes" } })
    const recorded = await server.waitForRequest("/echo")
    expect([recorded.method, recorded.headers["x-probe"], recorded.body]).toEqual(["POST", "yes", "payload"])
  })

  it("/range-file honours Range (206) and falls back to 200 when If-Range doesn't match", async () => {
    const partial = await request(`${server.url}/range-file?size=1000`, { headers: { range: "bytes=600-" } })
    expect(partial.status).toBe(206)
    expect(partial.headers["content-range"]).toBe("bytes 600-999/1000")
    expect([...partial.body]).toEqual(Array.from({ length: 400 }, (_, i) => (600 + i) % 251))
    const stale = await request(`${server.url}/range-file?size=1000&etag=v2`, { headers: { range: "bytes=600-", "if-range": `"v1"` } })
    expect([stale.status, stale.body.length, stale.headers.etag]).toEqual([200, 1000, `"v2"`])
  })

  it("/reset cuts the connection mid-body: the client sees an error", async () => {
    await expect(request(`${server.url}/reset?size=100000&after=1000`)).rejects.toMatchObject({ code: expect.stringMatching(/ECONNRESET|ERR_STREAM_PREMATURE_CLOSE/) })
  })

  it("counts a client abort of /hang and resolves waitForClientAbort", async () => {
    const before = server.stats.abortedByClient
    const req = http.get(`${server.url}/hang`, { agent: false })
    req.on("error", () => {}) // the abort below is the point
    await server.waitForRequest("/hang")
    expect(server.stats.inFlight).toBe(1)
    req.destroy()
    await server.waitForClientAbort("/hang", 2000)
    expect(server.stats.abortedByClient).toBe(before + 1)
    expect(server.stats.inFlight).toBe(0)
  })

  it("reset() clears requests and counters", async () => {
    await request(`${server.url}/ok`)
    server.reset()
    expect([server.requests.length, server.stats.opened, server.stats.abortedByClient, server.stats.bytesSent]).toEqual([0, 0, 0, 0])
  })
})

describe("FaultServer (TLS)", () => {
  it("works when the test CA is trusted, fails without it", async () => {
    const server = await startFaultServer({ tls: true })
    try {
      expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
      const reply = await request(`${server.url}/ok`, { ca: testCertificate.cert })
      expect(reply.body.toString()).toBe("ok")
      await expect(request(`${server.url}/ok`)).rejects.toMatchObject({ code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY/) })
    } finally {
      await server.close()
    }
    expect(server.stats.open).toBe(0)
  })
})
