/**
 * One server for the jobs benchmark, in its own process: the example API on the in-memory job
 * pool (`memory`) or on the durable queue (a database URL). Prints `port <n>` when listening;
 * SIGTERM stops it gracefully.
 *
 *   node dist/bench/internal/jobsServer.js <memory|DB-URL> <outbox> <workers> <mail-latency-ms>
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpServer from "@effect/platform/HttpServer"
import { Console, Duration, Effect, Layer } from "effect"
import * as Api from "../../examples/api.js"

const [db = "memory", outbox = "outbox", workers = "4", latency = "1"] = process.argv.slice(2)
const common = { port: 0, outbox, workers: Number(workers), mailLatency: Duration.millis(Number(latency)), queueCapacity: 1_000_000 }
const announce = Layer.effectDiscard(HttpServer.addressWith((a) => Console.log(`port ${a._tag === "TcpAddress" ? a.port : 0}`)))
const program = db === "memory"
  ? Layer.launch(Layer.provideMerge(announce, Api.layer(common)))
  : Layer.launch(Layer.provideMerge(announce, Api.durableLayer({ ...common, db, lease: "5 seconds" })))

NodeRuntime.runMain(program.pipe(Effect.asVoid))
