/**
 * Digests for downloads: which algorithms, how an expected checksum is written, and how it
 * is compared.
 */
import type { Checksum, HashAlgorithm } from "../../DownloadChecksum.js"

/** Hex length of each algorithm's digest. */
export const hexLength: Readonly<Record<HashAlgorithm, number>> = { sha256: 64, sha512: 128, sha1: 40, md5: 32 }

const algorithms: ReadonlyArray<HashAlgorithm> = ["sha256", "sha512", "sha1", "md5"]

/** Whether a string names a supported algorithm. */
export const isAlgorithm = (s: string): s is HashAlgorithm => (algorithms as ReadonlyArray<string>).includes(s)

/** The algorithm whose digest has this many hex digits (the `sha256sum`-style files carry no name). */
export const algorithmForLength = (length: number): HashAlgorithm | undefined =>
  algorithms.find((a) => hexLength[a] === length)

/**
 * Parses `algorithm:hex` (e.g. `sha256:9f86…`) or a bare hex digest whose length implies the
 * algorithm. Returns a message saying what is wrong otherwise.
 */
export const parseChecksum = (input: string): Checksum | string => {
  const text = input.trim()
  const colon = text.indexOf(":")
  const name = colon >= 0 ? text.slice(0, colon).toLowerCase().replace("-", "") : undefined
  const hex = (colon >= 0 ? text.slice(colon + 1) : text).toLowerCase()
  if (!/^[0-9a-f]+$/.test(hex)) return `checksum ${JSON.stringify(input)} is not hex`
  if (name !== undefined) {
    if (!isAlgorithm(name)) return `unsupported checksum algorithm ${JSON.stringify(name)} (sha256, sha512, sha1, md5)`
    if (hex.length !== hexLength[name]) return `${name} checksum must have ${hexLength[name]} hex digits, got ${hex.length}`
    return { algorithm: name, hex }
  }
  const algorithm = algorithmForLength(hex.length)
  return algorithm === undefined ? `checksum of ${hex.length} hex digits matches no supported algorithm` : { algorithm, hex }
}

/** Formats a checksum as `algorithm:hex`. */
export const formatChecksum = (checksum: Checksum): string => `${checksum.algorithm}:${checksum.hex}`
