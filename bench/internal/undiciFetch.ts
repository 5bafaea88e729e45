/**
 * What `volley fetch FILE -c N` does, hand-written on undici + p-limit: the reference for the
 * `volley fetch` row of the bench (a whole process against a whole process). Reads the list as
 * a stream, GETs each URL (at most N at once, a pool of N connections), reads the body, and
 * writes one NDJSON line per response (line, url, ok, status, ms, bytes, ttfbMs, as volley's
 * record has them; not connectMs), written once per event-loop turn as volley does.
 * Redirects, retries and error records are left out: the bench's URLs answer 200.
 *
 *   node dist/bench/internal/undiciFetch.js FILE [CONCURRENCY]
 */
import * as fs from "node:fs"
import * as readline from "node:readline"
import pLimit from "p-limit"
import { Agent, request } from "undici"

const [file = "", concurrencyArg = "64"] = process.argv.slice(2)
const concurrency = Number(concurrencyArg)
const agent = new Agent({ connections: concurrency })
const limit = pLimit(concurrency)

let pending = ""
let scheduled = false
const flush = () => {
  scheduled = false
  if (pending !== "") process.stdout.write(pending)
  pending = ""
}
const write = (line: string) => {
  pending += line
  if (pending.length >= 65_536) flush()
  else if (!scheduled) {
    scheduled = true
    setImmediate(flush)
  }
}

const fetchOne = async (url: string, line: number): Promise<void> => {
  const started = performance.now()
  try {
    const response = await request(url, { dispatcher: agent })
    const ttfbMs = Math.round((performance.now() - started) * 100) / 100
    let bytes = 0
    for await (const chunk of response.body) bytes += (chunk as Buffer).length
    const ok = response.statusCode < 400
    const ms = Math.round((performance.now() - started) * 100) / 100
    write(`{"line":${line},"url":${JSON.stringify(url)},"ok":${ok},"status":${response.statusCode},"ms":${ms},"bytes":${bytes},"attempts":1,"ttfbMs":${ttfbMs}}\n`)
  } catch (error) {
    write(`{"line":${line},"url":${JSON.stringify(url)},"ok":false,"message":${JSON.stringify(String(error))}}\n`)
  }
}

const main = async () => {
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })
  const running: Array<Promise<void>> = []
  let number = 0
  for await (const text of lines) {
    const line = ++number
    const url = text.trim()
    if (url === "" || url.startsWith("#")) continue
    running.push(limit(() => fetchOne(url, line)))
  }
  await Promise.all(running)
  flush()
  await agent.close()
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
