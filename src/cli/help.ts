/**
 * The short help of each command: what it does, its common flags with their defaults, a few
 * examples, and where the rest is (`--help all`, @effect/cli's full reference). Written by
 * hand, as curl's is: a generated list of every flag was 200+ lines.
 */

const top = `volley: structured-concurrency HTTP for Effect (0.1.0)

Usage: volley COMMAND [flags]

Commands:
  fetch URL...       run HTTP requests, bounded and timed; one NDJSON record (or table row) each
  download URL...    download files into a folder: concurrent, checksum-verified, resumable
  serve              run the example REST API on durable jobs (graceful shutdown on SIGTERM)
  jobs list|retry    inspect the durable job queue of \`volley serve\`, re-queue dead letters
  batch status|results|retry   a durable batch of \`volley fetch --db\`
  demo               the self-contained demo: server, fan-out, download, background jobs

Examples:
  volley fetch https://example.com/ -v
  volley fetch -i urls.txt -c 64 -o table
  volley download https://example.com/a.iso -d out

Run \`volley COMMAND --help\` for a command's flags, \`--help all\` for every detail.
Also: --version, --completions bash|zsh|fish|sh.
`

const fetch = `volley fetch: run HTTP requests, bounded and timed; one result per request as it completes.

Usage: volley fetch [flags] URL...       URLs as arguments
       volley fetch [flags] -i FILE      a list: one URL or NDJSON request per line (- for stdin)

  -c, --concurrency N     requests in flight at once (16)
      --per-host N        in flight per host (no limit), or adaptive; --rate R: starts/s
      --timeout D         deadline of each attempt: 500ms, 10s, 2m (30s)
      --max-time D        deadline of each request, retries and waits included (none)
      --retries N         retries of a transient failure, idempotent requests only (2)
  -X, --method M          method (GET; POST with -d or --json)
  -H, --header "N: v"     a header on every request (repeatable)
  -d, --data TEXT|@FILE   request body, form content-type; --json TEXT|@FILE for JSON
  -u, --user USER:PASS    Basic auth, to the URLs' own origins only
  -v, --verbose           trace each attempt on stderr: which status led to which retry
  -o, --output FORMAT     ndjson (default) or table; --show-query: query values unmasked
      --body              put each body in its record (cut at --body-limit, 1M)
      --output-file FILE  every body into FILE; -O, --output-dir DIR: a file per body
      --summary json      the summary as one JSON object (text); --fail-fast: stop at a failure

Examples:
  volley fetch https://example.com/ -v
  volley fetch -i urls.txt -c 64 --per-host 8 -o table
  volley fetch --json '{"name":"Ada","email":"ada@example.com"}' http://127.0.0.1:8080/users

Exit: 0 all ok, 1 some failed, 2 usage or input error, 130 interrupted.
Every flag (--proxy, --compressed, --summary-file, ...): volley fetch --help all
`

const download = `volley download: download files into a folder: concurrent, checksum-verified, resumable.

Usage: volley download [flags] URL...     URLs as arguments
       volley download [flags] -i FILE    a list: URL [MIRROR...] [sha256:HEX] [NAME] per line

  -d, --dir DIR            folder to download into, created if missing (.)
      --checksums FILE     sha256sum-style file, matched by file name
  -c, --concurrency N      downloads at once (4); --per-host N: per host (2)
      --retries N          retries after a transient failure, each resuming (3)
      --timeout D          deadline of one attempt (none); --idle-timeout D: longest stall (30s)
      --max-size SIZE      largest file accepted: 500M, 2GiB (no limit)
      --limit-rate RATE    most bytes per second per download: 500K, 2M (no limit)
      --force              replace existing files that do not match
  -u, --user USER:PASS     Basic auth, to the URLs' own origins only
      --db URL             keep the list and outcomes in file:PATH or postgres://...: a rerun
                           skips finished files, several workers share a list (--batch, --lease)

Examples:
  volley download https://example.com/a.iso https://example.com/b.iso -d out
  volley download -i list.txt -d out --checksums SHA256SUMS
  volley download -i list.txt -d out     (again after Ctrl-C: resumes the .part files)
  volley download --db postgres://u:p@db/dl -i list.txt -d /shared/out   (on each machine)

Exit: 0 all downloaded, 1 some failed, 2 usage or input error, 130 interrupted.
Every flag (--compressed, --content-disposition, --ca, --proxy, ...): volley download --help all
`

const serve = `volley serve: run the example REST API on the durable job queue until SIGTERM/SIGINT,
then drain: requests in flight finish, queued jobs get --drain-timeout to complete.

Usage: volley serve [flags]

      --port N             port to listen on, 0 for a free one (8080)
      --host ADDR          address to bind (127.0.0.1)
      --db URL             file:PATH (SQLite) or postgres://... ($VOLLEY_DB, else file:.volley/volley.db)
      --workers N          background email workers (4)
      --drain-timeout S    seconds queued jobs get on shutdown (15)
      --outbox DIR         folder the welcome emails are written to (outbox)

Examples:
  volley serve --port 8080
  curl http://127.0.0.1:8080/
  curl --json '{"name":"Ada","email":"ada@example.com"}' http://127.0.0.1:8080/users

Needs a database driver: npm i @effect/sql-libsql (SQLite) or @effect/sql-pg (PostgreSQL).
Every flag (--lease, --mail-latency): volley serve --help all
`

const jobs = `volley jobs: inspect the durable job queue of \`volley serve\`.

Usage: volley jobs list [--state queued|running|done|dead] [--limit N] [--db URL]
       volley jobs retry ID [--db URL]

  list     counts by state, then one line per job, oldest first (--limit 100)
  retry    queue a dead letter again, with a fresh retry budget
  --db     the same database as \`volley serve\` ($VOLLEY_DB, else file:.volley/volley.db)

Every flag: volley jobs list --help all
`

const batch = `volley batch: inspect a durable batch of \`volley fetch --db\`.

Usage: volley batch status NAME [--db URL]
       volley batch results NAME [--order input|finished] [--db URL]
       volley batch retry NAME --failed|--unknown [--db URL]

  status    counts by state, throughput, the workers seen, the oldest claim
  results   every stored record once, as NDJSON (input order by default)
  retry     queue failed (or unknown) items again; rerun the fetch to send them
  --db      the batch's database ($VOLLEY_DB, else file:.volley/volley.db)

NAME is what \`volley fetch --db\` printed (list-<sha256> unless --batch named it).
Every flag: volley batch status --help all
`

const demo = `volley demo: the self-contained demo of \`npm start\`, on 127.0.0.1 only: the example
server, a Batch fan-out, a verified Download, background jobs and a graceful drain.

Usage: volley demo
`

const texts: Readonly<Record<string, string>> = { "": top, fetch, download, serve, jobs, "jobs list": jobs, "jobs retry": jobs, batch, "batch status": batch, "batch results": batch, "batch retry": batch, demo }

/** The short help for a command path (`[]` is the top level), or `undefined` for none. */
export const shortHelp = (path: ReadonlyArray<string>): string | undefined => texts[path.join(" ")]
