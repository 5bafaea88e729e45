/**
 * The flags `fetch` and `download` share for the real web: `--proxy URL` and `-u user:pass`,
 * resolved into client options. Without `--proxy`, the proxy comes from the environment
 * (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, lower case too), as curl does.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Client from "../../Client.js"

// The flag definitions live in webOptions.ts: the command modules load them eagerly, and this
// module (which pulls in the client) only with the lazily loaded run.
export { proxyFlag, userFlag } from "./webOptions.js"

/** The proxy to use: the flag's, else the environment's; or why the flag's is unusable. */
export const resolveProxy = (flag: Option.Option<string>): Effect.Effect<Client.ClientOptions["proxy"], string> =>
  Option.match(flag, {
    onSome: (url) => {
      let parsed: URL | undefined
      try {
        parsed = new URL(url)
      } catch {
        parsed = undefined
      }
      return parsed !== undefined && (parsed.protocol === "http:" || parsed.protocol === "https:")
        ? Effect.succeed(url)
        : Effect.fail("--proxy must be an http:// or https:// URL")
    },
    onNone: () => Effect.mapError(Client.proxyConfig, (error) => `invalid proxy variable: ${error.message}`)
  })

/** `Authorization: Basic` for `-u user:pass` (`-u user` means an empty password). */
export const basicAuth = (flag: Option.Option<string>): Record<string, string> =>
  Option.match(flag, {
    onNone: () => ({}),
    onSome: (credentials) => ({ authorization: `Basic ${Buffer.from(credentials, "utf8").toString("base64")}` })
  })
