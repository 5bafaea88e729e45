/**
 * Text from elsewhere (a server's body snippet, its messages, a URL from an input file) made
 * safe to print on a terminal: every control character is shown as an escape instead of being
 * sent, so a server cannot retitle the window (`ESC ] 0 ; … BEL`), clear the screen
 * (`ESC [ 2 J`), move the cursor over earlier output, or forge extra lines.
 *
 * Which: C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F; some terminals take U+009B as
 * CSI), plus the Unicode bidi overrides and isolates (U+202A–U+202E, U+2066–U+2069), which
 * reorder what is shown. Tab and newline included: each printed record is one line, and a tab
 * from a server would misalign the table; shown as `\t`, `\n`, `\r`, nothing is lost.
 * Everything else (any printable Unicode) passes as is. The progress display's own ANSI
 * sequences are written separately and never pass through here.
 */

// eslint-disable-next-line no-control-regex
const unsafe = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g

const named: Readonly<Record<string, string>> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" }

const escape = (char: string): string => {
  const name = named[char]
  if (name !== undefined) return name
  const code = char.charCodeAt(0)
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`
}

/** `text` with every control character replaced by a visible escape (see the module notes). */
export const terminalSafe = (text: string): string => {
  unsafe.lastIndex = 0
  // The common case, nothing to replace: no new string.
  return unsafe.test(text) ? text.replace(unsafe, escape) : text
}

// DEL, C1, the line/paragraph separators and the bidi controls: what `JSON.stringify` leaves raw.
const jsonUnsafe = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/**
 * `JSON.stringify(text)` with the controls it leaves raw (it escapes only C0) escaped as
 * `\uXXXX` too: the same string to a JSON reader, nothing a terminal acts on when the NDJSON
 * is shown on one.
 */
export const jsonSafe = (text: string): string => escapeJson(JSON.stringify(text))

/**
 * Serialized JSON (any value) with the controls `JSON.stringify` leaves raw escaped as
 * `\uXXXX`: outside strings JSON text is ASCII, so only string contents change, and a JSON
 * reader gets the same value back.
 */
export const escapeJson = (json: string): string => {
  jsonUnsafe.lastIndex = 0
  return jsonUnsafe.test(json) ? json.replace(jsonUnsafe, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) : json
}
