/**
 * Server-side building blocks: supervised background jobs (in memory and durable), request guards (deadline,
 * concurrency limit) and a Node HTTP server that drains on shutdown.
 *
 * @since 0.1.0
 */
/**
 * @since 0.1.0
 */
export * as GracefulServer from "./GracefulServer.js"
/**
 * @since 0.1.0
 */
export * as JobPool from "./JobPool.js"
/**
 * @since 0.1.0
 */
export * as DurableJobs from "./DurableJobs.js"
/**
 * @since 0.1.0
 */
export * as Middleware from "./Middleware.js"
/**
 * @since 0.1.0
 */
export * as FanOut from "./FanOut.js"
/**
 * @since 0.1.0
 */
export * as Prometheus from "./Prometheus.js"
