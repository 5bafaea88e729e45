/**
 * The checksums of downloads: which digests a download computes and verifies, and the
 * `algorithm:hex` form they are written in (or bare hex, as `sha256sum`-style files list them).
 *
 * Every name here is exported by `volley/Download`; import it from there.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Hash from "./internal/download/hash.js"

/**
 * Digest algorithms a download can compute and verify.
 *
 * @category models
 * @since 0.1.0
 */
export type HashAlgorithm = "sha256" | "sha512" | "sha1" | "md5"

/**
 * An expected digest: algorithm plus lower-case hex.
 *
 * @category models
 * @since 0.1.0
 */
export interface Checksum {
  readonly algorithm: HashAlgorithm
  readonly hex: string
}

/**
 * Parses `algorithm:hex` (`sha256:9f86…`, also sha512, sha1, md5) or bare hex whose length
 * implies the algorithm. `Left` carries what is wrong.
 *
 * @category downloading
 * @since 0.1.0
 */
export const parseChecksum = (input: string): Either.Either<Checksum, string> => {
  const parsed = Hash.parseChecksum(input)
  return typeof parsed === "string" ? Either.left(parsed) : Either.right(parsed)
}

/**
 * Formats a checksum as `algorithm:hex`, the form {@link parseChecksum} reads.
 *
 * @category downloading
 * @since 0.1.0
 */
export const formatChecksum: (checksum: Checksum) => string = Hash.formatChecksum

/**
 * The algorithm whose digest has this many hex digits (`sha256sum`-style files name none).
 *
 * @category downloading
 * @since 0.1.0
 */
export const algorithmForLength: (hexDigits: number) => HashAlgorithm | undefined = Hash.algorithmForLength
