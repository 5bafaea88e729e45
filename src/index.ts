/**
 * volley: structured-concurrency HTTP for Effect on Node.
 *
 * @since 0.1.0
 */
export * as Client from "./Client.js"
export * as Errors from "./Errors.js"
export * as Retry from "./Retry.js"
