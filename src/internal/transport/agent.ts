/// <reference path="./undiciLib.d.ts" />
/**
 * The undici dispatcher under the real transport, built from the client's options: a pooled
 * `Agent`, or undici's `EnvHttpProxyAgent` when a proxy is set; HTTP/2 by ALPN when asked.
 */
import * as Tls from "node:tls"
import type { Dispatcher } from "undici"
// undici's own files, not its index: the index loads every feature (fetch, WebSocket, the
// cache, mocks) when imported, 8-9 MiB of RSS (undici alone after import: 59.7 against 51.0
// MiB, Node 20) that a client which only dispatches never uses (bench row `Download.file peak
// RSS`). Types: `undiciLib.d.ts` (referenced above, so that every program compiling this file
// has them); the CLI bundle does the same (scripts/bundle-cli.mjs). These paths are not undici's
// public API: package.json takes undici 7.30.x only (`~`), and a newer one must first pass
// test/downloadFootprint.test.ts.
import api from "undici/lib/api/index.js"
import Agent from "undici/lib/dispatcher/agent.js"
import UndiciDispatcher from "undici/lib/dispatcher/dispatcher.js"
import EnvHttpProxyAgent from "undici/lib/dispatcher/env-http-proxy-agent.js"
import buildConnector from "undici/lib/core/connect.js"
import type { ClientOptions } from "../../Client.js"
import { defaults } from "../client/settings.js"
import { millis } from "../duration.js"
import { redactUrl } from "../redact.js"

// What undici's index does to its dispatchers: each gets `request`, `stream`, `pipeline`,
// `upgrade` and `connect` (its proxy agent tunnels with `connect`). Only the missing ones, so a
// wrapper someone put on the shared prototype stays. (The index also installs a global
// dispatcher for `fetch`, which volley does not use.) test/downloadFootprint.test.ts checks
// that the index, loaded after, changes nothing more on the dispatcher classes.
const prototype: Record<string, unknown> = UndiciDispatcher.prototype as unknown as Record<string, unknown>
for (const [name, method] of Object.entries(api)) {
  if (!(name in prototype)) prototype[name] = method
}

/** `host:port` of each proxy, so the transport can tell a proxy that failed from a target that did. */
export const proxyAddresses = (proxy: ClientOptions["proxy"]): ReadonlyArray<string> => {
  const urls = typeof proxy === "string" ? [proxy] : proxy === undefined ? [] : [proxy.http, proxy.https]
  return urls.flatMap((url) => {
    if (url === undefined || url === "") return []
    const parsed = new URL(url)
    return [`${parsed.hostname.replace(/^\[|\]$/g, "")}:${parsed.port || (parsed.protocol === "https:" ? "443" : "80")}`]
  })
}

/** Why a proxy setting is unusable (naming it, credentials masked), or `undefined`. */
export const invalidProxy = (proxy: ClientOptions["proxy"]): string | undefined => {
  const urls = typeof proxy === "string" ? [proxy] : proxy === undefined ? [] : [proxy.http, proxy.https]
  for (const url of urls) {
    if (url === undefined || url === "") continue
    let parsed: URL | undefined
    try {
      parsed = new URL(url)
    } catch {
      parsed = undefined
    }
    if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
      return `volley: the proxy must be an http:// or https:// URL, got ${redactUrl(url)}`
    }
  }
  return undefined
}

export const makeAgent = (options: ClientOptions): Dispatcher => {
  const ca = options.ca === undefined ? undefined : Array.isArray(options.ca) ? [...options.ca] : (options.ca as string | Buffer)
  // TLS trust is set here, never by the environment. Left unset, Node's `tls.connect` (which
  // undici calls with these options) turns verification off under
  // NODE_TLS_REJECT_UNAUTHORIZED=0 and trusts NODE_EXTRA_CA_CERTS: so verification is
  // always explicit, and the trust store is the given `ca` or Node's bundled Mozilla roots
  // (`tls.rootCertificates`), in one context built once per client (a `ca` per connection
  // would parse every root again on each connect). To add a CA, pass it in `ca`.
  // Built on the first https connection, not with the client: parsing the ~140 roots takes
  // 25-90 ms here, most of a one-URL `volley fetch` over http.
  let tlsOptions: { readonly secureContext: Tls.SecureContext; readonly rejectUnauthorized: boolean } | undefined
  const tls = () =>
    (tlsOptions ??= {
      secureContext: Tls.createSecureContext({ ca: ca ?? Tls.rootCertificates.slice() }),
      rejectUnauthorized: options.insecureTls !== true
    })
  const keepAlive = millis(options.keepAliveTimeout ?? defaults.keepAliveTimeout) ?? 0
  const agentOptions: Agent.Options = {
    connections: options.connectionsPerOrigin ?? defaults.connectionsPerOrigin,
    keepAliveTimeout: keepAlive,
    // A server's `Keep-Alive: timeout=N` hint may shorten it, never lengthen it: undici follows
    // a longer hint up to `keepAliveMaxTimeout` (10 minutes by default), holding idle sockets.
    keepAliveMaxTimeout: keepAlive,
    // Phase timeouts run on the Effect clock above the transport; undici's own are off so
    // they never race ours. The connect timeout is a socket-level matter and stays here.
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: lazyTlsConnector(millis(options.connectTimeout ?? defaults.connectTimeout) ?? 0, options.http2 === true, tls),
    ...(options.http2 === true ? { allowH2: true } : {})
  }
  const proxy = typeof options.proxy === "string" ? { http: options.proxy, https: options.proxy } : options.proxy
  if (proxy === undefined || (!proxy.http && !proxy.https)) return new Agent(agentOptions)
  // undici's own proxy agent; "" (not undefined) so it never falls back to process.env:
  // the environment is read by `layerConfig`, through Effect's Config.
  return new EnvHttpProxyAgent({
    ...agentOptions,
    httpProxy: proxy.http ?? "",
    httpsProxy: proxy.https ?? "",
    noProxy: proxy.noProxy ?? "",
    // http is forwarded, https tunnelled (CONNECT), as curl does.
    proxyTunnel: false,
    // TLS to the target through the tunnel, and to an https proxy, trusts what the client does.
    requestTls: tls(),
    proxyTls: tls()
  } as EnvHttpProxyAgent.Options)
}


/**
 * undici's connector (the one it builds from connect options), with the TLS options asked for
 * on the first https connection: plain http never builds the trust context. One connector per
 * protocol, so TLS sessions are cached per client as undici's own connector does.
 */
const lazyTlsConnector = (
  timeout: number,
  allowH2: boolean,
  tls: () => Tls.SecureContextOptions & { readonly rejectUnauthorized: boolean }
): buildConnector.connector => {
  let plain: buildConnector.connector | undefined
  let secure: buildConnector.connector | undefined
  return (options, callback) =>
    options.protocol === "https:"
      ? (secure ??= buildConnector({ timeout, allowH2, ...tls() }))(options, callback)
      : (plain ??= buildConnector({ timeout }))(options, callback)
}
