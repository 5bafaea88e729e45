/**
 * Types for the undici files the transport imports directly (see `agent.ts`): each file's
 * `module.exports` is the export of the same name in undici's index (or, for `lib/api`, the
 * methods the index adds to every dispatcher), whose types these reuse.
 * `test/downloadFootprint.test.ts` checks they are the very same values.
 */
declare module "undici/lib/dispatcher/agent.js" {
  import { Agent } from "undici"
  export = Agent
}

declare module "undici/lib/dispatcher/env-http-proxy-agent.js" {
  import { EnvHttpProxyAgent } from "undici"
  export = EnvHttpProxyAgent
}

declare module "undici/lib/core/connect.js" {
  import { buildConnector } from "undici"
  export = buildConnector
}

declare module "undici/lib/dispatcher/dispatcher.js" {
  import { Dispatcher } from "undici"
  export = Dispatcher
}

declare module "undici/lib/api/index.js" {
  import type { Dispatcher } from "undici"
  const api: Pick<Dispatcher, "request" | "stream" | "pipeline" | "upgrade" | "connect">
  export = api
}
