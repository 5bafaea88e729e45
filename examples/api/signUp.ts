/**
 * The example API's `POST /users` on the in-memory job pool, and what both sign-up handlers
 * (in memory, durable in examples/signups.ts) share: the body read within limits, the 400.
 */
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import * as JobPool from "../../src/server/JobPool.js"
import * as Middleware from "../../src/server/Middleware.js"
import { Mailer } from "./mail.js"
import { limits, NewUser, Users } from "./users.js"

/** 400 naming each field that did not decode, or saying the body was not JSON. */
export const badRequest = (error: ParseResult.ParseError | { readonly _tag: "RequestError" }) =>
  HttpServerResponse.unsafeJson(
    error._tag === "ParseError"
      ? {
        error: "invalid body",
        fields: ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({ field: issue.path.join("."), message: issue.message }))
      }
      : { error: "body is not valid JSON" },
    { status: 400 }
  )

/**
 * `POST /users`: validate, store, queue the welcome email, answer 201 (the handler, unguarded).
 * When the email queue is full the sign-up is taken back and the client told when to retry:
 * a 503 that had kept the user would make that retry a duplicate.
 */
export const createUser = Effect.gen(function*() {
  const body = yield* readSignUp
  if (Either.isLeft(body)) return body.left
  const input = body.right
  const users = yield* Users
  const user = yield* users.add(input)
  const mailer = yield* Mailer
  const jobId = yield* JobPool.submit({
    name: "welcome-email",
    run: mailer.sendWelcome(user),
    timeout: "10 seconds",
    retry: { times: 3, base: "200 millis" }
  }).pipe(Effect.tapError(() => users.remove(user.id)))
  return HttpServerResponse.unsafeJson({ ...user, welcomeEmail: jobId }, { status: 201 })
}).pipe(
  Effect.catchTags({
    ParseError: badRequest,
    RequestError: badRequest,
    JobQueueFull: (e) => Effect.succeed(Middleware.serviceUnavailable(e.retryAfter, "email queue full")),
    UsersFull: () => Effect.succeed(HttpServerResponse.text("user store full", { status: 507 }))
  })
)

/**
 * A sign-up's body, read within {@link limits}: the user's fields, or the refusal to answer
 * with (see {@link bodyRefusal}). Both sign-up handlers (in memory, durable) read it so.
 */
export const readSignUp = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const refused = bodyRefusal(request.headers["content-length"])
  if (refused !== undefined) return Either.left(refused)
  // Read, parsed and depth-checked here rather than by `schemaBodyJson`: a deeply nested
  // value (16 KB of `[`) overflows the stack while a ParseError's message is built (a 500).
  const text = yield* request.text.pipe(
    // Node reads no more than Content-Length; this cap is the platform's own, in case it does.
    HttpIncomingMessage.withMaxBodySize(Option.some(limits.bodyBytes))
  )
  const json = parseJson(text)
  if (json === undefined) return Either.left(badRequestJson)
  if (nestedDeeperThan(json.value, limits.jsonDepth)) {
    return Either.left(HttpServerResponse.unsafeJson({ error: `body nested deeper than ${limits.jsonDepth} levels` }, { status: 400 }))
  }
  const input = yield* Schema.decodeUnknown(NewUser)(json.value)
  return Either.right(input)
})

const badRequestJson = HttpServerResponse.unsafeJson({ error: "body is not valid JSON" }, { status: 400 })

const parseJson = (text: string): { readonly value: unknown } | undefined => {
  try {
    return { value: JSON.parse(text) as unknown }
  } catch {
    return undefined
  }
}

/** Whether `value` nests arrays or objects deeper than `max` (iterative: no stack to overflow). */
const nestedDeeperThan = (value: unknown, max: number): boolean => {
  const stack: Array<readonly [unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [next, depth] = stack.pop()!
    if (typeof next !== "object" || next === null) continue
    if (depth >= max) return true
    for (const child of Object.values(next)) stack.push([child, depth + 1])
  }
  return false
}

/**
 * The body limit, decided on the headers alone, before any of the body is read (the
 * platform reads a body whole and, by default, with no limit at all): 413 beyond
 * {@link limits}, 411 when the length is not given. A sign-up is a small JSON document and
 * every client sends its length; refusing a chunked body of unknown length is what lets the
 * limit be checked up front. `Connection: close`, so Node does not read the rest of a refused
 * body to reuse the connection.
 */
const bodyRefusal = (contentLength: string | undefined): HttpServerResponse.HttpServerResponse | undefined => {
  const close = { connection: "close" }
  if (contentLength === undefined) return HttpServerResponse.text("length required", { status: 411, headers: close })
  if (!/^\d+$/.test(contentLength)) return HttpServerResponse.text("bad content-length", { status: 400, headers: close })
  if (Number(contentLength) > limits.bodyBytes) {
    return HttpServerResponse.text(`body larger than ${limits.bodyBytes} bytes`, { status: 413, headers: close })
  }
  return undefined
}
