/**
 * volley: structured-concurrency HTTP for Effect on Node.
 *
 * @since 0.1.0
 */
/**
 * @since 0.1.0
 */
export * as Batch from "./Batch.js"
/**
 * @since 0.1.0
 */
export * as Client from "./Client.js"
/**
 * @since 0.1.0
 */
export * as Download from "./Download.js"
/**
 * @since 0.1.0
 */
export * as DurableBatch from "./DurableBatch.js"
/**
 * @since 0.1.0
 */
export * as Errors from "./Errors.js"
/**
 * @since 0.1.0
 */
export * as HttpClient from "./HttpClient.js"
/**
 * @since 0.1.0
 */
export * as Observe from "./Observe.js"
/**
 * @since 0.1.0
 */
export * as Retry from "./Retry.js"
/**
 * @since 0.1.0
 */
export * as Transport from "./Transport.js"
/**
 * @since 0.1.0
 */
export * as FanOut from "./server/FanOut.js"
/**
 * @since 0.1.0
 */
export * as GracefulServer from "./server/GracefulServer.js"
/**
 * @since 0.1.0
 */
export * as JobPool from "./server/JobPool.js"
/**
 * @since 0.1.0
 */
export * as DurableJobs from "./server/DurableJobs.js"
/**
 * @since 0.1.0
 */
export * as Middleware from "./server/Middleware.js"
/**
 * @since 0.1.0
 */
export * as Prometheus from "./server/Prometheus.js"
