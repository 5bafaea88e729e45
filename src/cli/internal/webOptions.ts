/**
 * The option definitions of the flags `fetch` and `download` share for the real web (see
 * webFlags.ts for their resolution). Kept apart from it so defining the commands does not load
 * the HTTP client: the CLI loads the client only when a command runs.
 */
import * as Options from "@effect/cli/Options"

export const proxyFlag = Options.text("proxy").pipe(
  Options.optional,
  Options.withDescription("Forward proxy URL, e.g. http://user:pass@proxy:3128 (default: HTTP_PROXY / HTTPS_PROXY / NO_PROXY)")
)

export const userFlag = Options.text("user").pipe(
  Options.withAlias("u"),
  Options.optional,
  Options.withDescription("user:password for HTTP Basic auth (sent to the URLs' own origins only, never across a redirect)")
)
