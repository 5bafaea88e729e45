/**
 * Server-side building blocks: supervised background jobs (in memory and durable), request guards (deadline,
 * concurrency limit) and a Node HTTP server that drains on shutdown.
 *
 * @since 0.1.0
 */
export * as GracefulServer from "./GracefulServer.js"
export * as JobPool from "./JobPool.js"
export * as DurableJobs from "./DurableJobs.js"
export * as Middleware from "./Middleware.js"
export * as FanOut from "./FanOut.js"
export * as Prometheus from "./Prometheus.js"
