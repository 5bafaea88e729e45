/**
 * The client `volley fetch` runs on: one pool sized by the flags, the proxy, decoding, and with
 * `-v` the tracer that prints each exchange (its `traceparent` header is not sent: tracing here
 * is only for the user's eyes).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Layer from "effect/Layer"
import * as Client from "../../Client.js"
import type { FetchSettings } from "./fetchInput.js"
import * as Verbose from "./verbose.js"

/** The flags `fetch` shares with `download` for the real web, resolved. */
export interface WebSettings {
  readonly proxy: Client.ClientOptions["proxy"]
  readonly decompress: boolean
}

export const fetchLayer = (settings: FetchSettings, web: WebSettings): Layer.Layer<Client.Client> => {
  const client = Client.layer({
    connectionsPerOrigin: settings.connections,
    decompress: web.decompress,
    ...(web.proxy !== undefined ? { proxy: web.proxy } : {})
  })
  if (!settings.verbose) return client
  return Layer.mergeAll(
    client,
    Verbose.layer(true, (line) => void process.stderr.write(line)),
    Layer.locallyScoped(HttpClient.currentTracerPropagation, false)
  )
}
