/**
 * An `HttpApi` defined with @effect/platform, served by its node server on 127.0.0.1 and called
 * through `HttpApiClient.make` over volley's HttpClient layer: success, a typed API error, a
 * schema decode error, a timeout (with volley's reason behind it).
 */
import { describe, expect, it } from "@effect/vitest"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { HttpApi, HttpApiBuilder, HttpApiClient, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, HttpServer } from "@effect/platform"
import { Context, Effect, Layer, Option, Schema } from "effect"
import * as http from "node:http"
import * as VolleyHttpClient from "../src/HttpClient.js"

class UserNotFound extends Schema.TaggedError<UserNotFound>()("UserNotFound", { id: Schema.Number }, HttpApiSchema.annotations({ status: 404 })) {}

const User = Schema.Struct({ id: Schema.Number, name: Schema.String })

const getUser = HttpApiEndpoint.get("getUser", "/users/:id")
  .setPath(Schema.Struct({ id: Schema.NumberFromString }))
  .addSuccess(User)
  .addError(UserNotFound)
const slow = HttpApiEndpoint.get("slow", "/slow").addSuccess(Schema.String)

/** The server's view: `/legacy` answers string ids. */
const ServerApi = HttpApi.make("users").add(
  HttpApiGroup.make("users").add(getUser).add(slow).add(HttpApiEndpoint.get("legacy", "/legacy").addSuccess(Schema.Struct({ id: Schema.String })))
)
/** A client built from an older contract that expects numeric ids there: its decode must fail. */
const ClientApi = HttpApi.make("users").add(
  HttpApiGroup.make("users").add(getUser).add(slow).add(HttpApiEndpoint.get("legacy", "/legacy").addSuccess(Schema.Struct({ id: Schema.Number })))
)

const UsersLive = HttpApiBuilder.group(ServerApi, "users", (handlers) =>
  handlers
    .handle("getUser", ({ path }) => path.id === 1 ? Effect.succeed({ id: 1, name: "Ada" }) : Effect.fail(new UserNotFound({ id: path.id })))
    .handle("slow", () => Effect.as(Effect.sleep("5 seconds"), "late"))
    .handle("legacy", () => Effect.succeed({ id: "abc" })))

/** Serves the API on 127.0.0.1:0 in the current scope; its base URL. */
const serveApi = Effect.gen(function*() {
  const context = yield* Layer.build(
    HttpApiBuilder.serve().pipe(
      Layer.provide(HttpApiBuilder.api(ServerApi).pipe(Layer.provide(UsersLive))),
      Layer.provideMerge(NodeHttpServer.layer(() => http.createServer(), { port: 0, host: "127.0.0.1" }))
    )
  )
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
  return `http://127.0.0.1:${address.port}`
})

describe("HttpApiClient over volley's HttpClient layer", () => {
  it.scopedLive("success, typed API error, schema decode error, timeout", () =>
    Effect.gen(function*() {
      const baseUrl = yield* serveApi
      const program = Effect.gen(function*() {
        const api = yield* HttpApiClient.make(ClientApi, { baseUrl })
        expect(yield* api.users.getUser({ path: { id: 1 } })).toEqual({ id: 1, name: "Ada" })

        const notFound = yield* Effect.flip(api.users.getUser({ path: { id: 2 } }))
        expect(notFound).toBeInstanceOf(UserNotFound)
        expect(notFound._tag === "UserNotFound" && notFound.id).toBe(2)

        const undecodable = yield* Effect.flip(api.users.legacy())
        expect(undecodable._tag).toBe("ParseError")

        const timedOut = yield* Effect.flip(api.users.slow())
        expect(timedOut._tag).toBe("RequestError")
        if (timedOut._tag !== "RequestError") return
        expect(timedOut.reason).toBe("Transport")
        const volley = Option.getOrThrow(VolleyHttpClient.volleyError(timedOut))
        expect(volley._tag === "NetworkError" && volley.reason).toBe("Timeout")
      })
      yield* Effect.provide(program, VolleyHttpClient.layer({ deadline: "300 millis", retry: { maxAttempts: 1 } }))
    }))
})
