/**
 * The batch of `volley fetch`: its sources (URLs given as arguments, lists, stdin) as one
 * stream of requests, run through `Batch.stream` with the handler the flags ask for.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as Batch from "../../Batch.js"
import type * as Client from "../../Client.js"
import type { HttpError } from "../../Errors.js"
import { countBody, type FetchedBody, makeNamer, readBody } from "./fetchBody.js"
import { type FetchItem, type FetchSettings, type Source, parseLine } from "./fetchInput.js"
import type { FetchOutcome } from "./fetchOutput.js"
import * as Lines from "./lines.js"

/** An input line with the name messages give its source (`FILE`, `<stdin>`, `argument`). */
export interface SourcedLine extends Lines.Line {
  readonly source: string
}

export const lines = (source: Source): Stream.Stream<SourcedLine, Lines.InputError> =>
  source._tag === "Url"
    ? Stream.succeed({ source: "argument", number: source.position, text: source.url })
    : Stream.map(Lines.read(source.path), (line) => ({ ...line, source: Lines.displayName(source.path) }))

/** Checks each list is readable before anything is sent (a typo is a usage error). */
export const checkSources = (sources: ReadonlyArray<Source>): Effect.Effect<void, Lines.InputError> =>
  Effect.forEach(sources, (source) => {
    if (source._tag === "Url") return Effect.void
    return Effect.mapError(Lines.checkReadable(source.path), (error) =>
      error.detail === "no such file" && !source.path.includes("/") && /\.[a-z]{2,}$/i.test(source.path)
        // `volley fetch example.com`: a host without its scheme.
        ? new Lines.InputError({ source: error.source, detail: "no such file (a URL needs its scheme: http:// or https://)" })
        : error)
  }, { discard: true })

/** Meaningful inputs, for the progress total: URLs plus each list's lines (`undefined` for stdin). */
export const countInputs = (sources: ReadonlyArray<Source>): Effect.Effect<number | undefined> =>
  Effect.reduce(sources, 0 as number | undefined, (total, source) =>
    total === undefined
      ? Effect.succeed(undefined)
      : source._tag === "Url"
      ? Effect.succeed(total + 1)
      : Effect.map(Lines.countMeaningful(source.path), (n) => (n === undefined ? undefined : total + n)))

/** The requests of every source in turn; an invalid line goes to `onInvalid` and is skipped. */
export const items = (
  settings: FetchSettings,
  onInvalid: (where: string, message: string) => void
): Stream.Stream<FetchItem, Lines.InputError> =>
  Stream.filterMap(Stream.flatMap(Stream.fromIterable(settings.sources), lines), (line) => {
    const parsed = parseLine(line.text, line.number, settings.defaults)
    if (parsed._tag === "Item") return Option.some(parsed.item)
    if (parsed._tag === "Invalid") onInvalid(`${line.source}:${line.number}`, parsed.message)
    return Option.none()
  })

/** `--output-file`: each body, read whole, appended to one file as its response completes. */
const appendBody = (fd: number, file: string) => (response: Client.Response): Effect.Effect<FetchedBody, HttpError> =>
  Effect.map(response.bytes, (body) => {
    fs.writeSync(fd, body)
    return { status: response.status, bytes: body.length, bodyFields: "", file, timing: response.timing }
  })

/** The outcomes of the batch, as they complete. `outputFd` is the open `--output-file`. */
export const outcomes = (
  settings: FetchSettings,
  input: Stream.Stream<FetchItem, Lines.InputError>,
  outputFd: number | undefined
): Stream.Stream<FetchOutcome, Lines.InputError | Batch.BatchDeadlineError, Client.Client> => {
  const { bodyLimit, outputDir, outputFile } = settings
  if (outputFd !== undefined && outputFile !== undefined) {
    return Batch.stream(input, { ...settings.batch, toRequest: (item) => item.request, handle: appendBody(outputFd, outputFile) })
  }
  const nameFor = outputDir === undefined ? undefined : makeNamer(outputDir)
  return bodyLimit === undefined && nameFor === undefined
    ? Batch.stream(input, { ...settings.batch, toRequest: (item) => item.request, handle: countBody })
    : Batch.stream(input, {
      ...settings.batch,
      // -O saves bodies of any size; --body alone keeps only the head anyway.
      requestOptions: { ...settings.batch.requestOptions, maxBodyBytes: Number.MAX_SAFE_INTEGER },
      toRequest: (item) => item.request,
      handle: (response, item) => readBody(response, bodyLimit, nameFor?.(item.line, response.url))
    })
}
