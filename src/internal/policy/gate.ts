/**
 * The host's pause gate as a policy: each dispatch waits for a pause or pacing its origin's
 * server asked for, checked right before it (so queued requests and retries wait too). When
 * the origin is neither paused nor paced it takes no effect step of its own.
 */
import type { Hosts } from "./hosts.js"
import type { Dispatch, Policy } from "./policy.js"

export const pauseGate = (hosts: Hosts): Policy<Dispatch> => (next) => (dispatch, accepted) =>
  hosts.gate(dispatch.host, dispatch, () => next(dispatch, accepted))
