/**
 * `volley download`'s input, as unit tests: the URL list (plain and aria2-style), checksum
 * files, sizes and durations.
 */
import { describe, expect, it } from "vitest"
import * as Input from "../src/cli/internal/downloadInput.js"

describe("list and checksum parsing", () => {
  it("URL [algo:HEX] [NAME with spaces], comments and blank lines", () => {
    const hex = "ab".repeat(32)
    const { entries, errors } = Input.parseList(`# c\n\nhttps://h/a.bin\nhttps://h/b sha256:${hex}\nhttps://h/c sha256:${hex} my file.bin\nhttps://h/d plain name\nbogus\nhttps://h/e md5:${"f".repeat(32)}\nhttps://h/f sha1:xyz\n`)
    expect(entries).toEqual([
      { line: 3, url: "https://h/a.bin", mirrors: ["https://h/a.bin"], checksum: undefined, name: undefined, headers: undefined },
      { line: 4, url: "https://h/b", mirrors: ["https://h/b"], checksum: { algorithm: "sha256", hex }, name: undefined, headers: undefined },
      { line: 5, url: "https://h/c", mirrors: ["https://h/c"], checksum: { algorithm: "sha256", hex }, name: "my file.bin", headers: undefined },
      { line: 6, url: "https://h/d", mirrors: ["https://h/d"], checksum: undefined, name: "plain name", headers: undefined },
      { line: 8, url: "https://h/e", mirrors: ["https://h/e"], checksum: { algorithm: "md5", hex: "f".repeat(32) }, name: undefined, headers: undefined }
    ])
    expect(errors.map((e) => e.line)).toEqual([7, 9])
  })

  it("aria2-style: mirrors on one line, out= / checksum= / header= inline or on indented lines; bad options named by line", () => {
    const hex = "ab".repeat(32)
    const { entries, errors } = Input.parseList(
      [
        `https://a/x.iso https://b/x.iso\tout=x.iso checksum=sha-256=${hex}`,
        "  header=Authorization: Bearer t0k en",
        "https://c/y header=X-A:1 my y.bin",
        "  bogus=1",
        "https://d/z checksum=sha-256=12",
        "  out=",
        "https://e/w ftp://e/w"
      ].join("\n")
    )
    expect(entries).toEqual([
      {
        line: 1,
        url: "https://a/x.iso",
        mirrors: ["https://a/x.iso", "https://b/x.iso"],
        checksum: { algorithm: "sha256", hex },
        name: "x.iso",
        headers: { authorization: "Bearer t0k en" }
      }
    ])
    // Line 3 is skipped: its option line 4 is unknown. Nothing bad passes silently.
    expect(errors).toEqual([
      { line: 4, message: "unknown option \"bogus\" (out, checksum, header)" },
      { line: 5, message: "sha256 checksum must have 64 hex digits, got 2" },
      { line: 6, message: "option out= without a URL line before it" },
      { line: 7, message: "unsupported scheme ftp (http or https)" }
    ])
  })

  it("sha256sum text/binary lines, sha512 by length, BSD style; bad lines reported", () => {
    const a = "a".repeat(64)
    const b = "b".repeat(128)
    const { sums, errors } = Input.parseChecksums(`${a}  x.bin\n${b} *dir/y.bin\nSHA256 (z.bin) = ${a}\ngarbage\n${"c".repeat(10)}  short.bin\n`)
    expect(sums.get("x.bin")).toEqual({ algorithm: "sha256", hex: a })
    expect(sums.get("y.bin")).toEqual({ algorithm: "sha512", hex: b })
    expect(sums.get("z.bin")).toEqual({ algorithm: "sha256", hex: a })
    expect(errors.map((e) => e.line)).toEqual([4, 5])
  })

  it("sizes and durations", () => {
    expect(Input.parseSize("1M")).toBe(1024 * 1024)
    expect(Input.parseSize("2GiB")).toBe(2 * 1024 ** 3)
    expect(Input.parseSize("1.5k")).toBe(1536)
    expect(Input.parseSize("10MB")).toBe(10_000_000)
    expect(Input.parseSize("lots")).toBeUndefined()
    expect(Input.parseSize("0")).toBeUndefined()
    expect(Input.parseDuration("30")).toBe(30_000)
    expect(Input.parseDuration("500ms")).toBe(500)
    expect(Input.parseDuration("2m")).toBe(120_000)
    expect(Input.parseDuration("soon")).toBeUndefined()
  })
})
