/**
 * The client's configuration against real loopback sockets: TLS trust, and the options read
 * from the environment.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Layer, Logger } from "effect"
import { coreOf } from "../src/internal/client/core.js"
import * as Client from "../src/Client.js"
import { testCertificate } from "./support/FaultServer.js"
import { clientLayer, faultServer } from "./support/effect.js"
import { failure } from "./support/client.js"

describe("Client: TLS", () => {
  it.scoped("an untrusted certificate is a Tls error; the test CA makes it work", () =>
    Effect.gen(function*() {
      const server = yield* faultServer({ tls: true })
      const error = yield* failure(Client.text(`${server.url}/ok`))
      expect(error._tag === "NetworkError" && error.reason).toBe("Tls")
      const ok = yield* Effect.provide(Client.text(`${server.url}/ok`), clientLayer({ ca: testCertificate.cert }))
      expect(ok).toBe("ok")
    }))

  it.scoped("insecureTls works only by name, and warns", () =>
    Effect.gen(function*() {
      const server = yield* faultServer({ tls: true })
      const logs: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push(String(message))))
      const ok = yield* Effect.provide(Client.text(`${server.url}/ok`), clientLayer({ insecureTls: true })).pipe(Effect.provide(capture))
      expect(ok).toBe("ok")
      expect(logs.join("\n")).toContain("DISABLED")
    }))
})

describe("Client: configuration from the environment", () => {
  it.scoped("layerConfig reads VOLLEY_* variables; overrides win", () =>
    Effect.gen(function*() {
      const server = yield* faultServer()
      const provider = ConfigProvider.fromMap(
        new Map([
          ["VOLLEY_USER_AGENT", "agent-from-env"],
          ["VOLLEY_DEADLINE", "2 seconds"],
          ["VOLLEY_RETRY_MAX_ATTEMPTS", "1"]
        ]),
        { pathDelim: "_" }
      )
      const layer = Client.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(provider)))
      const echoed = (yield* Effect.provide(Client.json(`${server.url}/echo`), layer)) as { headers: Record<string, string> }
      expect(echoed.headers["user-agent"]).toBe("agent-from-env")
      const client = yield* Effect.provide(Client.Client, layer)
      // The resolved configuration is internal (the client's core is opaque): read it there.
      expect(coreOf(client).config.deadlineMs).toBe(2000)
      expect(coreOf(client).config.retry.maxAttempts).toBe(1)
      const overridden = yield* Effect.provide(Client.Client, Client.layerConfig({ userAgent: "mine" }).pipe(Layer.provide(Layer.setConfigProvider(provider))))
      expect(coreOf(overridden).config.userAgent).toBe("mine")
    }))

  it.effect("every option the environment can set maps to its ClientOptions field", () =>
    Effect.gen(function*() {
      const env = new Map([
        ["VOLLEY_CONNECTIONS_PER_ORIGIN", "32"],
        ["VOLLEY_KEEP_ALIVE_TIMEOUT", "2 seconds"],
        ["VOLLEY_DEADLINE", "10 seconds"],
        ["VOLLEY_CONNECT_TIMEOUT", "3 seconds"],
        ["VOLLEY_HEADERS_TIMEOUT", "4 seconds"],
        ["VOLLEY_IDLE_TIMEOUT", "5 seconds"],
        ["VOLLEY_MAX_REDIRECTS", "3"],
        ["VOLLEY_MAX_BODY_BYTES", "1048576"],
        ["VOLLEY_USER_AGENT", "ua"],
        ["VOLLEY_ALLOW_HTTPS_DOWNGRADE", "true"],
        ["VOLLEY_RETRY_MAX_ATTEMPTS", "5"],
        ["VOLLEY_RETRY_BASE_DELAY", "100 millis"],
        ["VOLLEY_RETRY_FACTOR", "3"],
        ["VOLLEY_RETRY_MAX_DELAY", "20 seconds"],
        ["VOLLEY_RETRY_JITTER", "false"],
        ["VOLLEY_RETRY_MAX_RETRY_AFTER", "2 minutes"],
        ["VOLLEY_RETRY_NON_IDEMPOTENT", "true"]
      ])
      const options = yield* Effect.withConfigProvider(Client.config, ConfigProvider.fromMap(env, { pathDelim: "_" }))
      const ms = (d: unknown) => Duration.toMillis(d as Duration.Duration)
      expect({
        ...options,
        keepAliveTimeout: ms(options.keepAliveTimeout),
        deadline: ms(options.deadline),
        connectTimeout: ms(options.connectTimeout),
        headersTimeout: ms(options.headersTimeout),
        idleTimeout: ms(options.idleTimeout),
        retry: {
          ...options.retry,
          baseDelay: ms(options.retry?.baseDelay),
          maxDelay: ms(options.retry?.maxDelay),
          maxRetryAfter: ms(options.retry?.maxRetryAfter)
        }
      }).toEqual({
        connectionsPerOrigin: 32,
        keepAliveTimeout: 2000,
        deadline: 10_000,
        connectTimeout: 3000,
        headersTimeout: 4000,
        idleTimeout: 5000,
        maxRedirects: 3,
        maxBodyBytes: 1_048_576,
        userAgent: "ua",
        allowHttpsDowngrade: true,
        retry: { maxAttempts: 5, baseDelay: 100, factor: 3, maxDelay: 20_000, jitter: false, maxRetryAfter: 120_000, retryNonIdempotent: true }
      })
      // Nothing set: nothing overridden, so every default applies.
      expect(yield* Effect.withConfigProvider(Client.config, ConfigProvider.fromMap(new Map()))).toEqual({})
    }))

  it.effect("a malformed variable is a ConfigError naming it", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromMap(new Map([["VOLLEY_DEADLINE", "soon"]]), { pathDelim: "_" })
      const error = yield* Effect.flip(Effect.provide(Client.Client, Client.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(provider)))))
      expect(String(error)).toContain("DEADLINE")
    }))
})
