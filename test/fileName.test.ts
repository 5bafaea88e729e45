/**
 * File-name rules for downloads: whatever a URL or a server suggests, the result is one safe
 * name inside the target folder; collisions resolve predictably.
 */
import { describe, expect, it } from "vitest"
import * as path from "node:path"
import * as FileName from "../src/internal/download/fileName.js"

describe("sanitize", () => {
  it.each([
    ["../../x", "x"],
    ["/etc/passwd", "passwd"],
    ["a/b", "b"],
    ["a\\b", "b"],
    ["..\\..\\win.ini", "win.ini"],
    ["..", "download"],
    [".", "download"],
    ["", "download"],
    ["   ", "download"],
    ["/", "download"],
    ["evil\u0000.txt", "evil_.txt"],
    ["new\nline.txt", "new_line.txt"],
    ["tab\there", "tab_here"],
    ["\u007fdel", "_del"],
    ["gnp.\u202eexe", "gnp._exe"],
    [".bashrc", "bashrc"],
    ["trailing. . .", "trailing"],
    ["CON", "_CON"],
    ["con.txt", "_con.txt"],
    ["Nul", "_Nul"],
    ["COM1", "_COM1"],
    ["lpt9.log", "_lpt9.log"],
    ["console", "console"],
    ["a<b>c:d\"e|f?g*h", "a_b_c_d_e_f_g_h"],
    ["résumé.pdf", "résumé.pdf"],
    ["e\u0301.txt", "\u00e9.txt"],
    // Format characters (Cf) and line/paragraph separators (Zl, Zp) hide or reorder what is read.
    ["report\u061Cfdp.exe", "report_fdp.exe"],
    ["pay\u200Bpal.html", "pay_pal.html"],
    ["line\u2028sep.txt", "line_sep.txt"],
    ["para\u2029sep.txt", "para_sep.txt"],
    ["\uFEFFbom.txt", "_bom.txt"],
    ["soft\u00ADhyphen.txt", "soft_hyphen.txt"],
    ["zero\u200Dwidth\u2060joiner", "zero_width_joiner"],
    ["tag\u{E0041}.txt", "tag_.txt"],
    // A download's side files: never a name a server or URL can take.
    ["victim.bin.part", "victim.bin.part_"],
    ["victim.bin.part.meta", "victim.bin.part.meta_"],
    ["VICTIM.BIN.PART", "VICTIM.BIN.PART_"],
    ["x.Part.Meta", "x.Part.Meta_"],
    ["x.part.meta.", "x.part.meta_"],
    ["part", "part"],
    ["x.partial", "x.partial"],
    ["x.part.txt", "x.part.txt"]
  ])("%j -> %j", (input, expected) => {
    expect(FileName.sanitize(input)).toBe(expected)
  })

  it("bounds the length in UTF-8 bytes, keeping the extension and whole code points", () => {
    const long = FileName.sanitize(`${"€".repeat(300)}.tar.gz`)
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(FileName.maxNameBytes)
    expect(long.endsWith("€.tar.gz")).toBe(true)
    expect(long).not.toContain("\uFFFD")
    expect(Buffer.byteLength(FileName.sanitize("x".repeat(1000)))).toBe(FileName.maxNameBytes)
  })

  it("every output is a single name that resolves inside the folder", () => {
    const dir = path.resolve("/tmp/target")
    const nasty = ["../../x", "/abs", "..", "a/../../b", "\\\\server\\share", "C:\\Windows\\x", "~/.ssh/id", "x/..", "%2e%2e"]
    for (const raw of nasty) {
      const name = FileName.sanitize(raw)
      expect(name).not.toMatch(/[\\/\u0000]/)
      expect(name).not.toBe("..")
      expect(FileName.resolveInside(dir, name)).toBe(path.join(dir, name))
    }
  })
})

describe("fromUrl", () => {
  it("takes the last path segment, percent-decoded, ignoring query and fragment", () => {
    expect(FileName.fromUrl("https://h/a/b/file%20name.tar.gz?x=1#y")).toBe("file name.tar.gz")
    expect(FileName.fromUrl("https://h/dir/")).toBe("dir")
    expect(FileName.fromUrl("https://h/")).toBe("download")
    expect(FileName.fromUrl("https://h/%2e%2e%2f%2e%2e%2fetc%2fpasswd")).toBe("passwd")
    expect(FileName.fromUrl("https://h/bad%zzescape")).toBe("bad%zzescape")
    expect(FileName.fromUrl("not a url")).toBe("download")
  })
})

describe("Content-Disposition", () => {
  it("parses filename, quoted with escapes, and prefers RFC 5987 filename*", () => {
    expect(FileName.parseContentDisposition("attachment; filename=plain.txt")).toBe("plain.txt")
    expect(FileName.parseContentDisposition("attachment; filename=\"with \\\"quotes\\\".txt\"")).toBe("with \"quotes\".txt")
    expect(FileName.parseContentDisposition("attachment; filename=\"a;b.txt\"; size=3")).toBe("a;b.txt")
    expect(FileName.parseContentDisposition("attachment; filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt")).toBe("€ rates.txt")
    expect(FileName.parseContentDisposition("attachment; FILENAME*=iso-8859-1'en'%E9t%E9.txt")).toBe("été.txt")
    expect(FileName.parseContentDisposition("attachment; filename*=UTF-8''%FF%FE; filename=ok.txt")).toBe("ok.txt")
    expect(FileName.parseContentDisposition("inline")).toBeUndefined()
    expect(FileName.parseContentDisposition(undefined)).toBeUndefined()
    // Raw UTF-8 in a plain filename arrives decoded as Latin-1; it is repaired.
    expect(FileName.parseContentDisposition(`attachment; filename="${Buffer.from("naïve.txt").toString("latin1")}"`)).toBe("naïve.txt")
  })

  it("sanitizes what it parses", () => {
    expect(FileName.fromContentDisposition("attachment; filename=\"../../x\"")).toBe("x")
    expect(FileName.fromContentDisposition("attachment; filename*=UTF-8''%2Fetc%2Fpasswd")).toBe("passwd")
    expect(FileName.fromContentDisposition("attachment; filename*=UTF-8''a%00b")).toBe("a_b")
    expect(FileName.fromContentDisposition("attachment; filename=\"CON\"")).toBe("_CON")
  })
})

describe("resolveInside", () => {
  it("accepts names in the folder, refuses anything that lands elsewhere", () => {
    expect(FileName.resolveInside("/tmp/out", "a.txt")).toBe("/tmp/out/a.txt")
    expect(FileName.resolveInside("/tmp/out", "../a.txt")).toBeUndefined()
    expect(FileName.resolveInside("/tmp/out", "/etc/passwd")).toBeUndefined()
    expect(FileName.resolveInside("/tmp/out", "sub/a.txt")).toBeUndefined()
    expect(FileName.resolveInside("/tmp/out", ".")).toBeUndefined()
    expect(FileName.resolveInside("/tmp/out", "")).toBeUndefined()
    expect(FileName.resolveInside("/tmp/out-evil/../out", "a")).toBe("/tmp/out/a")
    expect(FileName.resolveInside("/", "a")).toBe("/a")
  })
})

describe("collisions", () => {
  it("with side files: a name never lands on another claim's side file, nor takes one's base", () => {
    const names = FileName.makeAllocator([".part", ".part.meta"])
    expect(["x", "x.part", "X.PART.META", "y.part", "y", "x"].map(names.claim)).toEqual([
      "x",
      "x (1).part",
      "X.PART (1).META",
      "y.part",
      "y (1)", // "y" would stage in "y.part", which is a name already
      "x (2)" // "x (1)" would stage in "x (1).part", likewise
    ])
  })

  it("name, name (1), name (2)… in claim order, counter before the extension, case-insensitive", () => {
    const names = FileName.makeAllocator()
    expect(["a.txt", "a.txt", "A.TXT", "b", "b", "a (1).txt", "x.tar.gz", "x.tar.gz"].map(names.claim)).toEqual([
      "a.txt",
      "a (1).txt",
      "A (2).TXT",
      "b",
      "b (1)",
      "a (1) (1).txt",
      "x.tar.gz",
      "x (1).tar.gz"
    ])
  })
})
