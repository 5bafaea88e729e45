/**
 * The exit code of a command that may end on a signal: Node's runtime teardown sets 0 after
 * SIGINT/SIGTERM (a graceful stop), so the code is set again as the process exits.
 */

/** Makes the process exit with `code` even though the runtime's teardown asks for 0 after a signal. */
export const exitWith = (code: number): void => {
  process.exitCode = code
  process.once("exit", () => {
    process.exitCode = code
  })
}
