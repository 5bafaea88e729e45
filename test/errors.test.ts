import { describe, expect, it } from "vitest"
import { Duration, Option } from "effect"
import {
  BodyTooLargeError,
  InvalidUrlError,
  isTransient,
  NetworkError,
  RedirectError,
  redactUrl,
  StatusError,
  TypeId
} from "../src/Errors.js"
import { parseRetryAfter } from "../src/internal/client/response.js"

const statusError = (status: number) =>
  new StatusError({ status, method: "GET", url: "http://h/", retryAfter: Option.none(), bodySnippet: "", headers: {} })

describe("Errors", () => {
  it("redacts credentials and secret query values", () => {
    expect(redactUrl("https://user:pw@api.example.test/v1?token=abc&page=2&api_key=k")).toBe(
      "https://***@api.example.test/v1?token=***&page=2&api_key=***"
    )
    expect(redactUrl("http://127.0.0.1:8080/plain?q=1")).toBe("http://127.0.0.1:8080/plain?q=1")
  })

  it("classifies transient errors", () => {
    for (const s of [408, 425, 429, 500, 502, 503, 504]) expect(isTransient(statusError(s))).toBe(true)
    for (const s of [400, 401, 403, 404, 409, 422, 501]) expect(isTransient(statusError(s))).toBe(false)
    expect(isTransient(new NetworkError({ reason: "ConnectionReset", method: "GET", url: "u" }))).toBe(true)
    expect(isTransient(new NetworkError({ reason: "Aborted", method: "GET", url: "u" }))).toBe(false)
    expect(isTransient(new InvalidUrlError({ input: "x", detail: "d" }))).toBe(false)
    expect(isTransient(new BodyTooLargeError({ method: "GET", url: "u", limit: 1 }))).toBe(false)
    expect(isTransient("nope")).toBe(false)
  })

  it("prints one-line messages", () => {
    const timeout = new NetworkError({ reason: "Timeout", phase: "headers", method: "GET", url: "http://h/a" })
    expect(timeout.message).toBe("GET http://h/a: timeout (headers)")
    const s = new StatusError({
      status: 503,
      method: "POST",
      url: "http://h/b",
      retryAfter: Option.some(Duration.seconds(5)),
      bodySnippet: "down\nfor maintenance",
      headers: {}
    })
    expect(s.message).toBe("POST http://h/b: HTTP 503 (retry after 5s): down for maintenance")
    const r = new RedirectError({ reason: "Loop", method: "GET", url: "http://h/", location: "http://h/x", hops: 2 })
    expect(r.message).not.toContain("\n")
    expect(r.message).toContain("Loop")
  })

  it("parses Retry-After as seconds or an HTTP-date against the given now", () => {
    expect(parseRetryAfter("120", 0)).toEqual(Option.some(Duration.seconds(120)))
    const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT")
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now)).toEqual(Option.some(Duration.millis(30_000)))
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now)).toEqual(Option.some(Duration.millis(0)))
    expect(parseRetryAfter("soon", now)).toEqual(Option.none())
    expect(parseRetryAfter(undefined, now)).toEqual(Option.none())
  })
})

describe("transport error classification", () => {
  it("maps socket, DNS, TLS and undici codes to reasons", async () => {
    const { classify } = await import("../src/internal/transport/undiciErrors.js")
    expect(classify("ECONNREFUSED").reason).toBe("ConnectionRefused")
    expect(classify("ENOTFOUND").reason).toBe("DnsLookup")
    expect(classify("EAI_AGAIN").reason).toBe("DnsLookup")
    expect(classify("ECONNRESET").reason).toBe("ConnectionReset")
    expect(classify("UND_ERR_SOCKET").reason).toBe("ConnectionReset")
    expect(classify("UND_ERR_CONNECT_TIMEOUT")).toEqual({ reason: "Timeout", phase: "connect" })
    expect(classify("DEPTH_ZERO_SELF_SIGNED_CERT").reason).toBe("Tls")
    expect(classify("ERR_SSL_WRONG_VERSION_NUMBER").reason).toBe("Tls")
    expect(classify("ERR_TLS_CERT_ALTNAME_INVALID").reason).toBe("Tls")
    expect(classify("HPE_INVALID_CONSTANT").reason).toBe("Protocol")
    expect(classify("SOMETHING_NEW").reason).toBe("Other")
    expect(classify(undefined).reason).toBe("Other")
  })
})

describe("isVolleyError", () => {
  it("marks every module's errors with one type id, and nothing else", async () => {
    const { BatchDeadlineError, isVolleyError } = await import("../src/Errors.js")
    const { ChecksumMismatch, FileSystemError } = await import("../src/Download.js")
    const { JobQueueFull } = await import("../src/server/JobPool.js")
    const ours = [
      new NetworkError({ reason: "Timeout", method: "GET", url: "u" }),
      statusError(503),
      new InvalidUrlError({ input: "x", detail: "d" }),
      new BatchDeadlineError({ deadline: Duration.seconds(1), started: false }),
      new ChecksumMismatch({ url: "u", path: "p", algorithm: "sha256", expected: "a", actual: "b" }),
      new FileSystemError({ reason: "Other", operation: "open", path: "p" }),
      new JobQueueFull({ pool: "p", capacity: 1, retryAfter: Duration.seconds(1) })
    ]
    for (const error of ours) {
      expect(isVolleyError(error)).toBe(true)
      expect(error[TypeId]).toBe(TypeId)
    }
    for (const other of [new Error("x"), { _tag: "NetworkError" }, null, "NetworkError", 1]) expect(isVolleyError(other)).toBe(false)
    // The mark takes no part in structural equality.
    expect(Object.keys(statusError(503))).not.toContain(String(TypeId))
  })

  it("the server's UpstreamTimeout and the CLI's InputError carry it too, and keep their tag and message", async () => {
    const { isVolleyError } = await import("../src/Errors.js")
    const { isUpstreamTimeout, UpstreamTimeout } = await import("../src/server/Middleware.js")
    const { InputError } = await import("../src/cli/internal/lines.js")
    const upstream = new UpstreamTimeout({ upstream: "billing" })
    expect(isVolleyError(upstream)).toBe(true)
    expect(upstream[TypeId]).toBe(TypeId)
    expect(upstream._tag).toBe("UpstreamTimeout")
    expect(upstream.message).toBe("upstream billing timed out")
    expect(isUpstreamTimeout(upstream)).toBe(true)
    const input = new InputError({ source: "urls.txt", detail: "no such file" })
    expect(isVolleyError(input)).toBe(true)
    expect(input[TypeId]).toBe(TypeId)
    expect(input._tag).toBe("InputError")
    expect(input.message).toBe("cannot read urls.txt: no such file")
    // The mark lives on the prototype, as for every other volley error.
    for (const error of [upstream, input]) expect(Object.getOwnPropertySymbols(error)).not.toContain(TypeId)
  })
})
