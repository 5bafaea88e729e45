/**
 * volley: structured-concurrency HTTP for Effect on Node.
 *
 * @since 0.1.0
 */
export * as Batch from "./Batch.js"
export * as Client from "./Client.js"
export * as Download from "./Download.js"
export * as Errors from "./Errors.js"
export * as HttpClient from "./HttpClient.js"
export * as Observe from "./Observe.js"
export * as Retry from "./Retry.js"
export * as FanOut from "./server/FanOut.js"
export * as GracefulServer from "./server/GracefulServer.js"
export * as JobPool from "./server/JobPool.js"
export * as Middleware from "./server/Middleware.js"
export * as Prometheus from "./server/Prometheus.js"
