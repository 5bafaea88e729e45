/**
 * The `@example` blocks of the public modules, run as programs (docgen only type-checks them):
 * each block is written to a file with `volley` imports pointed at the sources, run with tsx,
 * and must exit 0; the ones that print say what in their last comment, checked here.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, describe, expect, it } from "vitest"
import { root } from "./support/spawn.js"

const run = promisify(execFile)
const scratch = fs.mkdtempSync(path.join(root, ".tmp-examples-"))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

const modules = ["src/Batch.ts", "src/Download.ts", "src/Testing.ts", "src/Errors.ts"]

const examples = modules.flatMap((file) =>
  [...fs.readFileSync(path.join(root, file), "utf8").matchAll(/@example\n \* ```ts\n([\s\S]*?) \* ```/g)].map((m, i) => ({
    name: `${file} #${i + 1}`,
    code: m[1]!.replace(/^ \* ?/gm, "")
  }))
)

const resolveImports = (code: string): string =>
  code.replace(/from "volley(\/\w+)?"/g, (_, sub: string | undefined) => {
    const target = sub === undefined ? "src/index.ts" : sub.toLowerCase() === "/testing" ? "src/Testing.ts" : sub === "/server" ? "src/server/index.ts" : `src${sub}.ts`
    return `from ${JSON.stringify(path.join(root, target))}`
  })

/** What a printing example's comments after its last statement say it prints. */
const expectedOutput: Readonly<Record<string, string>> = {
  "src/Batch.ts #1": "[ 'user 1', 'user 2' ] [ 'https://api.test/users/3: StatusError' ]\n",
  "src/Testing.ts #1": "{ ok: true } [ '0 ms: 503', '1000 ms: 503', '3000 ms: 200' ]\n"
}

describe("JSDoc @example blocks run", () => {
  it("finds the main entry points' examples", () => {
    expect(examples.map((e) => e.name)).toEqual(expect.arrayContaining(["src/Batch.ts #1", "src/Download.ts #1", "src/Testing.ts #1"]))
  })

  it.each(examples)("$name", async ({ code, name }) => {
    const file = path.join(scratch, `${name.replace(/\W+/g, "-")}.ts`)
    fs.writeFileSync(file, resolveImports(code))
    const result = await run(process.execPath, ["--import", "tsx", file], { cwd: root, timeout: 60_000 })
    if (name in expectedOutput) expect(result.stdout).toBe(expectedOutput[name])
    if (name === "src/Download.ts #1") expect(result.stdout).toMatch(/ok a\.txt[\s\S]*2 downloaded\n$/)
  }, 90_000)
})
