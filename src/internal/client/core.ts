/**
 * A client's core: what Batch, Download and the HttpClient bridge compose their own policies
 * over. Public code sees it as the opaque `Client.ClientCore` member of every client; this is
 * what it holds. Every client is built by `client.ts`'s `make`, so every client has one.
 */
import type * as Effect from "effect/Effect"
import type { ClientCore, ClientCoreTypeId, ClientService, RequestOptions } from "../../Client.js"
import type { InvalidRequestError, InvalidUrlError } from "../../Errors.js"
import type { HostState, Hosts } from "../policy/hosts.js"
import type * as Policy from "../policy/policy.js"
import type { AnyRequestInput, PreparedRequest } from "./request.js"
import type { CallSettings, ResolvedConfig } from "./settings.js"

/** The mark of a client's core (declared in `Client.ts` as `ClientCoreTypeId`). */
export const TypeId: ClientCoreTypeId = Symbol.for("volley/Client/Core") as ClientCoreTypeId

/** What a client's core holds. */
export interface Core extends ClientCore {
  /** The client's resolved configuration (durations in ms), for the retry policy and timeouts. */
  readonly config: ResolvedConfig
  /** What the client knows of each origin (pauses, pacing, retry budget), shared by all its consumers. */
  readonly hosts: Hosts
  /** Prepares a request with its call's settings and origin, for a consumer composing its own policies over `attempts`. */
  readonly prepared: <A, E, R>(
    input: AnyRequestInput,
    options: RequestOptions | undefined,
    f: (request: PreparedRequest, settings: CallSettings, host: HostState) => Effect.Effect<A, E, R>,
    invalid?: () => void
  ) => Effect.Effect<A, E | InvalidUrlError | InvalidRequestError, R>
  /** The client's step below its retry: the attempt (its deadline), breaker, pause gate, adaptive limit and exchange. */
  readonly attempts: Policy.Step<Policy.Call>
}

/** The core of a client (every client is built with one: see `Client.ClientCore`). */
export const coreOf = (client: ClientService): Core => client.core as Core
