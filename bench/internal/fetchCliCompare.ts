/** `fetchCli` side by side: its whole-process table with both builds' `volley fetch` (see `../fetchCli.ts`). */
export { compare } from "../fetchCli.js"
