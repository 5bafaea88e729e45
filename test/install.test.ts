/**
 * The package as a user gets it: `npm pack`, then the README's install command in a clean
 * folder (the npm registry, through the local cache when it can), then the README's Quick
 * start run as written, and the bundled `volley` command. On Effect 4, npm refuses the install
 * with a peer-dependency error (ERESOLVE) instead of nesting a second Effect.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FaultServer, startFaultServer } from "./support/FaultServer.js"
import { root } from "./support/spawn.js"

const run = promisify(execFile)
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")

/** The first fenced block of `lang` after `heading`. */
const block = (heading: string, lang: string): string => {
  const from = readme.indexOf(`\n${heading}\n`)
  const match = new RegExp("```" + lang + "\\n([\\s\\S]*?)```").exec(readme.slice(from))
  if (from < 0 || match === null) throw new Error(`README: no ${lang} block under ${heading}`)
  return match[1]!
}

const npmFlags = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"]
let dir: string
let tarball: string
let server: FaultServer

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "volley-install-"))
  // dist/ is built by the suite's global setup; the tarball holds what `files` selects.
  const packed = await run("npm", ["pack", "--ignore-scripts", "--pack-destination", dir, "--loglevel=error"], { cwd: root })
  tarball = path.join(dir, packed.stdout.trim().split("\n").pop()!)
  server = await startFaultServer()
}, 60_000)

afterAll(async () => {
  await server?.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

const project = (name: string): string => {
  const folder = path.join(dir, name)
  fs.mkdirSync(folder)
  fs.writeFileSync(path.join(folder, "package.json"), JSON.stringify({ name, private: true, type: "module" }))
  return folder
}

/** The README's install command, with `volley` replaced by the tarball. */
const installArgs = (): Array<string> => {
  const command = block("## Install", "sh").trim().split(/\s+/)
  expect(command.slice(0, 3)).toEqual(["npm", "i", "volley"])
  return ["i", tarball, ...command.slice(3)]
}

describe("installed from the packed tarball", () => {
  it("with Effect 3 (the README's command): the Quick start prints, and the CLI runs", async () => {
    const app = project("app")
    await run("npm", [...installArgs(), ...npmFlags], { cwd: app, timeout: 120_000 })
    const installed = JSON.parse(fs.readFileSync(path.join(app, "node_modules/effect/package.json"), "utf8")) as { version: string }
    expect(installed.version).toMatch(/^3\./)
    // The client does not drag the database drivers in (optional peers).
    expect(fs.existsSync(path.join(app, "node_modules/@effect/sql-libsql"))).toBe(false)
    expect(fs.existsSync(path.join(app, "node_modules/@effect/sql-pg"))).toBe(false)
    // A shipped example whose dependency is a dev dependency is not shipped.
    expect(fs.existsSync(path.join(app, "node_modules/volley/dist/examples/opentelemetry.js"))).toBe(false)

    fs.writeFileSync(path.join(app, "quickstart.mjs"), block("## Quick start", "ts"))
    const quick = await run(process.execPath, ["quickstart.mjs", `${server.url}/health`], { cwd: app, timeout: 30_000 })
    expect(quick.stdout).toBe("status: ok\n")

    const bin = path.join(app, "node_modules/.bin/volley")
    const fetched = await run(bin, ["fetch", `${server.url}/json`], { cwd: app, timeout: 30_000 })
    expect(JSON.parse(fetched.stdout)).toMatchObject({ ok: true, status: 200 })

    // Durable jobs without their optional driver: a message naming the package, no stack.
    const served = await run(bin, ["serve", "--port", "0"], { cwd: app, timeout: 30_000 }).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e
    )
    expect(served.code).toBe(1)
    expect(served.stderr).toContain("npm i @effect/sql-libsql")
    expect(served.stderr).not.toMatch(/\n\s+at /)
  }, 180_000)

  it("with Effect 4: npm refuses with a peer-dependency error", async () => {
    const app = project("app4")
    const result = await run("npm", ["i", tarball, "effect@4", "@effect/platform-node", "--dry-run", ...npmFlags], {
      cwd: app,
      timeout: 120_000
    }).then(() => ({ code: 0, stderr: "" }), (e: { code: number; stderr: string }) => e)
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain("ERESOLVE")
    expect(result.stderr).toMatch(/peer effect@"\^3\./)
  }, 180_000)
})
