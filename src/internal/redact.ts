/**
 * URL redaction for errors and logs: a URL printed in an error message must not leak the
 * credentials or tokens it carried.
 */

/** Query parameter names whose values are treated as secrets (matched case-insensitively, by substring). */
const secretParamPattern = /(token|key|secret|password|passwd|pwd|auth|signature|sig|credential|session|code)/i

/**
 * Returns the URL with userinfo replaced by `***` and the values of secret-looking query
 * parameters (token, key, secret, password, signature, …) replaced by `***`.
 */
export const redactUrl = (input: string | URL): string => {
  // Nothing to hide (the common case): no userinfo, and no query text a secret name could be
  // in. Skips a second parse of a URL already parsed, on every request.
  if (typeof input !== "string" && input.username === "" && input.password === "" && !secretParamPattern.test(input.search)) {
    return input.href
  }
  let url: URL
  try {
    url = typeof input === "string" ? new URL(input) : new URL(input.href)
  } catch {
    return typeof input === "string" ? input.replace(/\/\/[^/@\s]*@/, "//***@") : String(input)
  }
  if (url.username !== "" || url.password !== "") {
    url.username = "***"
    url.password = ""
  }
  if (url.search !== "") {
    let changed = false
    const kept = new URLSearchParams()
    for (const [name, value] of url.searchParams) {
      const secret = secretParamPattern.test(name)
      changed ||= secret
      kept.append(name, secret ? "***" : value)
    }
    // URLSearchParams encodes '*' as '%2A'; print the mask as written.
    if (changed) url.search = kept.toString().replace(/%2A%2A%2A/g, "***")
  }
  return url.href
}
