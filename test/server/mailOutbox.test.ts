/**
 * The example API's mailer writes into its outbox without following a link left there: a
 * `welcome-N.eml.tmp` symlinked to a file outside leaves that file untouched.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Api from "../../examples/api.js"

describe("example API: the mailer's outbox", () => {
  it.scoped("a temp file planted as a symlink is replaced, never written through", () =>
    Effect.gen(function*() {
      const root = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "volley-outbox-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const outbox = path.join(root, "outbox")
      fs.mkdirSync(outbox)
      const victim = path.join(root, "victim.txt")
      fs.writeFileSync(victim, "keep me\n")
      fs.symlinkSync(victim, path.join(outbox, "welcome-7.eml.tmp"))
      const mailer = yield* Effect.provide(Api.Mailer, Api.MailerLive(outbox, 0))
      yield* mailer.sendWelcome({ id: 7, name: "Ann", email: "ann@example.com" })
      expect(fs.readFileSync(victim, "utf8")).toBe("keep me\n")
      const sent = path.join(outbox, "welcome-7.eml")
      expect(fs.lstatSync(sent).isFile()).toBe(true)
      expect(fs.readFileSync(sent, "utf8")).toContain("To: ann@example.com")
      expect(fs.readdirSync(outbox)).toEqual(["welcome-7.eml"])
    }))
})
