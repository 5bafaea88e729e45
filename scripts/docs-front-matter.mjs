/**
 * After docgen: its markdown formatter turns each page's opening `---` into `***`, so the
 * front matter (title, nav_order, parent) renders on GitHub as a rule and a paragraph instead
 * of a metadata table. Puts the `---` back.
 */
import * as fs from "node:fs"
import * as path from "node:path"

const walk = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))

let fixed = 0
for (const file of walk("docs/modules").filter((f) => f.endsWith(".md"))) {
  const text = fs.readFileSync(file, "utf8")
  if (!text.startsWith("***\n\ntitle:")) continue
  fs.writeFileSync(file, `---\n${text.slice("***\n\n".length)}`)
  fixed++
}
process.stdout.write(`docs-front-matter: ${fixed} page(s) fixed\n`)
