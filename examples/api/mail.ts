/**
 * The example API's welcome email: a Mailer writing to an outbox folder, one file per user.
 */
import { Context, type Duration, Effect, Layer, Schema } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { controlChars, type User } from "./users.js"

/** Sends mail by writing it to an outbox folder; takes about a second, like a real SMTP call. */
export class Mailer extends Context.Tag("example/Mailer")<Mailer, {
  readonly sendWelcome: (user: User) => Effect.Effect<void, MailError>
}>() {}

export class MailError extends Schema.TaggedError<MailError>()("MailError", { reason: Schema.String }) {}

export const MailerLive = (outbox: string, latency: Duration.DurationInput = "1 second") =>
  Layer.effect(
    Mailer,
    Effect.gen(function*() {
      yield* Effect.promise(() => fs.mkdir(outbox, { recursive: true }))
      return {
        sendWelcome: (user) =>
          Effect.gen(function*() {
            // One file per job key (the user): a redelivered job finds it and does not send twice.
            const file = path.join(outbox, `welcome-${user.id}.eml`)
            if (yield* Effect.promise(() => fs.access(file).then(() => true, () => false))) return
            yield* Effect.sleep(latency)
            // A header value is one line: an address with a control character is refused, and
            // the name goes out as an RFC 2047 encoded word, so CR/LF in it cannot start a
            // header line of its own (`Bob\r\nBcc: ...`), whoever built the `User`.
            if (controlChars.test(user.email)) return yield* new MailError({ reason: "address contains a control character" })
            const body = [
              `To: ${user.email}`,
              `Subject: ${encodedWord(`Welcome, ${user.name}!`)}`,
              "MIME-Version: 1.0",
              "Content-Type: text/plain; charset=utf-8",
              "",
              "Thanks for signing up.",
              ""
            ].join("\r\n")
            // Write then rename: a crash never leaves half an email in the outbox. The temp file
            // is created exclusively ("wx": never through a link left at its name).
            const temp = `${file}.tmp`
            yield* Effect.tryPromise({
              try: async () => {
                await fs.rm(temp, { force: true })
                await fs.writeFile(temp, body, { flag: "wx" })
                await fs.rename(temp, file)
              },
              catch: (e) => new MailError({ reason: String(e) })
            })
          })
      }
    })
  )

/** A header value as printable ASCII: as is when it already is, else an RFC 2047 base64 word. */
const encodedWord = (value: string): string =>
  /^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, "utf8").toString("base64")}?=`
