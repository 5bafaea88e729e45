/**
 * `--show-query`: the user's own query values in the CLI's local output (records, table),
 * for matching a row to its request. Credentials stay masked: userinfo, recognisable path
 * tokens (as `redactUrl` does), and the values of secret-looking query names. Off by
 * default, where every value off a short allowlist is masked (see internal/redact.ts): NDJSON
 * records end up in files and CI logs, and a blocklist misses the names it does not know.
 */
import { redactUrl } from "../../Errors.js"

/** Query names whose values stay masked even with `--show-query`. */
const secretName = /token|key|secret|pass|pw|auth|sig|session|sid|jwt|bearer|cred|code|otp|hash|nonce|state|cookie|private/i

const mask = "***"

const showParams = (search: string): string =>
  search.split("&").map((pair) => {
    const eq = pair.indexOf("=")
    if (eq < 0) return pair
    let name: string
    try {
      name = decodeURIComponent(pair.slice(0, eq).replaceAll("+", " "))
    } catch {
      return `${pair.slice(0, eq)}=${mask}`
    }
    return secretName.test(name) ? `${pair.slice(0, eq)}=${mask}` : pair
  }).join("&")

/** The URL as `--show-query` prints it. */
export const showQuery = (url: URL): string => {
  if (url.search === "") return redactUrl(url)
  const bare = new URL(url.href)
  bare.search = ""
  const shown = redactUrl(bare)
  const hashAt = shown.indexOf("#")
  const base = hashAt < 0 ? shown : shown.slice(0, hashAt)
  const hash = hashAt < 0 ? "" : shown.slice(hashAt)
  return `${base}?${showParams(url.search.slice(1))}${hash}`
}
