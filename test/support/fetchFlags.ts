/** `volley fetch`'s flags as @effect/cli hands them over, at their defaults: for parsing tests. */
import * as Option from "effect/Option"
import type { FetchFlags } from "../../src/cli/internal/fetchInput.js"

export const defaultFetchFlags: FetchFlags = {
  inputs: ["in.txt"],
  inputFile: Option.none(),
  data: Option.none(),
  json: Option.none(),
  verbose: false,
  showQuery: false,
  outputFile: Option.none(),
  concurrency: 16,
  perHost: Option.none(),
  rate: Option.none(),
  timeout: Option.none(),
  maxTime: Option.none(),
  retries: 2,
  method: Option.none(),
  header: [],
  output: "ndjson",
  body: false,
  bodyLimit: "1M",
  outputDir: Option.none(),
  summary: "text",
  summaryFile: Option.none(),
  failFast: false
}
