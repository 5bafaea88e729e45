/**
 * What undici and Node report, mapped to volley's `NetworkError`: a reason a program can
 * switch on (with the timeout's phase), the most specific error code, and whether a proxy
 * rather than the target failed. Runs only on failures, never on the hot path.
 */
import { NetworkError, type NetworkReason, type TimeoutPhase } from "../../Errors.js"
import type { TransportRequest } from "../../Transport.js"
import { tooManyCodings } from "./decode.js"

const tlsCodes = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REVOKED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_TLS_HANDSHAKE_TIMEOUT",
  "HOSTNAME_MISMATCH"
])

/** Maps what undici and Node report to a reason a program can switch on. */
export const classify = (code: string | undefined): { reason: NetworkReason; phase?: TimeoutPhase } => {
  switch (code) {
    case "ECONNREFUSED":
      return { reason: "ConnectionRefused" }
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_FAIL":
    case "EAI_NONAME":
      return { reason: "DnsLookup" }
    case "ECONNRESET":
    case "EPIPE":
    case "ECONNABORTED":
    case "UND_ERR_SOCKET":
    case "UND_ERR_CLOSED":
    case "UND_ERR_RES_CONTENT_LENGTH_MISMATCH":
      return { reason: "ConnectionReset" }
    case "UND_ERR_CONNECT_TIMEOUT":
    case "ETIMEDOUT":
      return { reason: "Timeout", phase: "connect" }
    case "UND_ERR_HEADERS_TIMEOUT":
      return { reason: "Timeout", phase: "headers" }
    case "UND_ERR_BODY_TIMEOUT":
      return { reason: "Timeout", phase: "body" }
    case "UND_ERR_ABORTED":
    case "ABORT_ERR":
    case "VOLLEY_INTERRUPTED":
      return { reason: "Aborted" }
    case "HPE_INVALID_CONSTANT":
    case "HPE_INVALID_VERSION":
    case "HPE_INVALID_STATUS":
    case "HPE_INVALID_HEADER_TOKEN":
    case "HPE_INVALID_CONTENT_LENGTH":
    case "HPE_INVALID_CHUNK_SIZE":
    case "HPE_UNEXPECTED_CONTENT_LENGTH":
    case "UND_ERR_INFO":
    case "UND_ERR_RES_EXCEEDED_MAX_SIZE":
      return { reason: "Protocol" }
    default:
      // zlib's codes: Z_DATA_ERROR, Z_BUF_ERROR (truncated), ERR__ERROR_* (brotli), ZSTD_*.
      if (code !== undefined && (code.startsWith("Z_") || code.startsWith("ERR__ERROR") || code.startsWith("ZSTD_") || code === "ERR_ZSTD" || code === tooManyCodings)) {
        return { reason: "ContentDecoding" }
      }
      if (code !== undefined && (tlsCodes.has(code) || code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_"))) {
        return { reason: "Tls" }
      }
      return { reason: "Other" }
  }
}

/** The most specific error code in an error and its causes (undici wraps the socket's error). */
const findCode = (error: unknown): string | undefined => {
  let current: unknown = error
  let fallback: string | undefined
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string") {
      if (classify(code).reason !== "Other") return code
      fallback ??= code
    }
    // AggregateError (happy-eyeballs tried several addresses): the first inner error explains it.
    const errors = (current as { errors?: unknown }).errors
    current = Array.isArray(errors) && errors.length > 0 ? errors[0] : (current as { cause?: unknown }).cause
  }
  return fallback
}

/**
 * Whether the proxy, not the target, failed: undici's CONNECT refusal ("Proxy response (407)
 * !== 200 when HTTP Tunneling"), its 407 on a forwarded request ("Proxy Authentication
 * Required (407)"), its TLS-to-proxy error, or a socket error naming a proxy's address
 * (connection refused by the proxy). undici gives these no codes of their own.
 */
const proxyFailed = (error: unknown, proxies: ReadonlySet<string>): boolean => {
  let current: unknown = error
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const { address, code, message, port } = current as { address?: unknown; code?: unknown; message?: unknown; port?: unknown }
    if (code === "UND_ERR_PRX_TLS") return true
    if (typeof message === "string" && (message.startsWith("Proxy response (") || message.startsWith("Proxy Authentication Required"))) return true
    if (typeof address === "string" && port !== undefined && proxies.has(`${address}:${String(port)}`)) return true
    const errors = (current as { errors?: unknown }).errors
    current = Array.isArray(errors) && errors.length > 0 ? errors[0] : (current as { cause?: unknown }).cause
  }
  return false
}

/** The `NetworkError` for a failed exchange: classified, with the request's method and redacted URL. */
export const toNetworkError = (error: Error, request: TransportRequest, proxies?: ReadonlySet<string>): NetworkError => {
  const code = findCode(error)
  const classified = classify(code)
  const { reason, phase } = proxies !== undefined && classified.reason !== "Timeout" && proxyFailed(error, proxies)
    ? { reason: "Proxy" as const, phase: undefined }
    : classified
  return new NetworkError({
    reason,
    phase,
    code,
    method: request.method,
    url: request.redactedUrl,
    cause: error
  })
}
