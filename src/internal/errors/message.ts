/**
 * The one-line messages of the HTTP errors declared in `Errors.ts`. Each error's URL is
 * redacted where the error is made; what the server or the caller wrote (a body snippet, a
 * decode detail, a header name) is flattened to one line and cut short here, so a message
 * never spans lines of a log and never carries a whole body.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type {
  BatchDeadlineError,
  BodyTooLargeError,
  CircuitOpenError,
  DecodeError,
  HostPausedError,
  InvalidRequestError,
  InvalidUrlError,
  NetworkError,
  NetworkReason,
  RedirectError,
  StatusError
} from "../../Errors.js"

/** `text` on one line (runs of whitespace become one space), at most `max` characters. */
export const oneLine = (text: string, max: number): string => {
  const flat = text.replace(/\s+/g, " ").trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

const describeReason = (reason: NetworkReason): string => {
  switch (reason) {
    case "ConnectionRefused":
      return "connection refused"
    case "DnsLookup":
      return "DNS lookup failed"
    case "Tls":
      return "TLS handshake failed"
    case "ConnectionReset":
      return "connection reset"
    case "Aborted":
      return "aborted"
    case "Protocol":
      return "invalid HTTP response"
    case "ContentDecoding":
      return "body did not decode (Content-Encoding)"
    case "Proxy":
      return "proxy failed"
    case "Timeout":
      return "timeout"
    case "Other":
      return "network error"
  }
}

export const networkError = (e: NetworkError): string => {
  const what = e.reason === "Timeout" ? `timeout (${e.phase ?? "deadline"})` : describeReason(e.reason)
  return `${e.method} ${e.url}: ${what}${e.code !== undefined ? ` [${e.code}]` : ""}`
}

export const statusError = (e: StatusError): string => {
  const wait = Option.match(e.retryAfter, {
    onNone: () => "",
    onSome: (d) => ` (retry after ${Duration.format(d)})`
  })
  const snippet = e.bodySnippet.length > 0 ? `: ${oneLine(e.bodySnippet, 120)}` : ""
  return `${e.method} ${e.url}: HTTP ${e.status}${wait}${snippet}`
}

export const decodeError = (e: DecodeError): string =>
  `${e.method} ${e.url}: could not decode body (HTTP ${e.status}): ${oneLine(e.detail, 200)}`

export const bodyTooLargeError = (e: BodyTooLargeError): string => {
  const announced = e.contentLength !== undefined ? ` (Content-Length ${e.contentLength})` : ""
  return `${e.method} ${e.url}: body exceeds the limit of ${e.limit} bytes${announced}`
}

export const redirectError = (e: RedirectError): string => {
  const to = e.location !== undefined ? ` -> ${e.location}` : ""
  return `${e.method} ${e.url}${to}: redirect refused (${e.reason}, after ${e.hops} hop${e.hops === 1 ? "" : "s"})`
}

export const invalidUrlError = (e: InvalidUrlError): string =>
  `invalid URL ${JSON.stringify(oneLine(e.input, 200))}: ${e.detail}`

export const invalidRequestError = (e: InvalidRequestError): string => {
  // The header's name only: its value may be a credential, or the injection attempt itself.
  const what = e.header !== undefined ? `header ${JSON.stringify(oneLine(e.header, 100))}: ` : ""
  return `${e.method} ${e.url}: invalid request: ${what}${e.detail}`
}

export const batchDeadlineError = (e: BatchDeadlineError): string =>
  `batch deadline of ${Duration.format(e.deadline)} passed before this item ${e.started ? "finished" : "was sent"}`

export const hostPausedError = (e: HostPausedError): string =>
  `${e.method} ${e.url}: not sent, ${e.origin} asked for a pause of ${Duration.format(e.remaining)} (longer than maxRetryAfter)`

export const circuitOpenError = (e: CircuitOpenError): string => {
  const who = e.method !== undefined && e.url !== undefined ? `${e.method} ${e.url}` : e.origin
  const why = e.state === "open"
    ? `circuit open, failing fast (may close in ${Duration.format(e.retryAfter)})`
    : "circuit half-open, failing fast while its probes run"
  return `${who}: ${why}`
}
