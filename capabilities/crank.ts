/**
 * The controller's own capabilities, served by the controller itself (as Moleculer's `$node` services are):
 * tools such as `crank status` and `crank drain` are ordinary clients invoking these.
 */
import * as Schema from "effect/Schema"
import { defineCapability, PlacementSchema, strategyNames } from "./Capability.ts"

const Transition = Schema.Struct({
  workerId: Schema.String,
  from: Schema.String,
  to: Schema.String,
  event: Schema.String,
  at: Schema.Number,
})

export const WorkerStatus = Schema.Struct({
  id: Schema.String,
  nodeId: Schema.String,
  state: Schema.String,
  address: Schema.optionalKey(Schema.String),
  capabilities: Schema.Array(Schema.Struct({ id: Schema.String, version: Schema.String })),
  maxInFlight: Schema.Number,
  inFlight: Schema.Number,
  completed: Schema.Number,
  stats: Schema.Array(
    Schema.Struct({
      capability: Schema.String,
      version: Schema.String,
      outcomes: Schema.Record(Schema.String, Schema.Number),
      latencyBuckets: Schema.Array(Schema.Number),
      latencySumMs: Schema.Number,
    }),
  ),
  registeredAt: Schema.Number,
  lastHeartbeatAt: Schema.Number,
  transitions: Schema.Array(Transition),
  /** The controller's circuit breaker for this worker (its relay stops routing to it while open); absent from older controllers. */
  breaker: Schema.optionalKey(Schema.Literals(["closed", "open", "half-open"])),
})
export type WorkerStatus = typeof WorkerStatus.Type

/**
 * One controller of a federation (actors/Federation.ts, docs/federation.md) as the answering controller knows it:
 * itself (`self`, its capabilities read now) or a peer (as its last delta said), with where each capability lives
 * there and how many routable workers serve it.
 */
export const FederatedController = Schema.Struct({
  id: Schema.String,
  /** Its forwarding listener on NATS (`nats://host:port/controller-<id>`). */
  address: Schema.String,
  self: Schema.optionalKey(Schema.Boolean),
  /** Heard from within the federation's stale period (a peer past it is dropped, with its routes, at the next check). */
  alive: Schema.Boolean,
  /** Its snapshot is applied: only then are requests forwarded to it. */
  synced: Schema.Boolean,
  lastHeardAt: Schema.Number,
  capabilities: Schema.Array(
    Schema.Struct({ id: Schema.String, version: Schema.String, workers: Schema.Number, inFlight: Schema.Number, maxInFlight: Schema.Number }),
  ),
})
export type FederatedController = typeof FederatedController.Type

export const MeshStatus = Schema.Struct({
  controller: Schema.Struct({
    address: Schema.String,
    startedAt: Schema.Number,
    /** Within a heartbeat interval of starting: workers may still be re-registering (see `crank.routes`). */
    recovering: Schema.optionalKey(Schema.Boolean),
    heartbeatIntervalMs: Schema.Number,
    staleAfterMs: Schema.Number,
    evictAfterMs: Schema.Number,
  }),
  nodes: Schema.Array(Schema.Struct({ id: Schema.String, workers: Schema.Array(Schema.String) })),
  /** One page of workers, in id order; `next` is the cursor of the following page, absent on the last. */
  workers: Schema.Array(WorkerStatus),
  next: Schema.optionalKey(Schema.String),
  capabilities: Schema.Array(
    Schema.Struct({ id: Schema.String, version: Schema.String, name: Schema.String, description: Schema.String, workers: Schema.Array(Schema.String) }),
  ),
  /** The federation's controllers, this one first, when the controller is federated; absent otherwise. */
  controllers: Schema.optionalKey(Schema.Array(FederatedController)),
})
export type MeshStatus = typeof MeshStatus.Type

export const CrankStatus = defineCapability({
  id: "crank.status",
  version: "1.0.0",
  name: "Mesh status",
  description: "Nodes, workers with their lifecycle state, and the capability catalog, as the controller sees them.",
  /** `after`: the `next` of the previous page; workers come in pages so no answer outgrows a frame. */
  input: Schema.Struct({ after: Schema.optionalKey(Schema.String) }),
  output: MeshStatus,
  idempotent: true,
  tags: ["system"],
})

export const CrankDrain = defineCapability({
  id: "crank.drain",
  version: "1.0.0",
  name: "Drain a worker",
  description: "Stops routing to a worker; it finishes in-flight work within the deadline, then deregisters.",
  input: Schema.Struct({ workerId: Schema.String, deadlineMs: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0))) }),
  output: Schema.Struct({ workerId: Schema.String, draining: Schema.Boolean }),
  errors: [{ code: "UNKNOWN_WORKER", description: "the controller knows no worker with this id", retriable: false }],
  tags: ["system"],
})

/** Where clients can dial workers directly: the routing table of the data path. */
export const CrankRoutes = defineCapability({
  id: "crank.routes",
  version: "1.0.0",
  name: "Routing table",
  description: "Routable workers with their addresses and capabilities, for clients that call workers directly.",
  /** `after`: the `next` of the previous page; routes come in pages so no answer outgrows a frame. */
  input: Schema.Struct({ after: Schema.optionalKey(Schema.String) }),
  output: Schema.Struct({
    workers: Schema.Array(
      Schema.Struct({
        id: Schema.String,
        address: Schema.String,
        /** The worker's node, for clients that prefer their own; absent from older controllers. */
        nodeId: Schema.optionalKey(Schema.String),
        /** What the worker offers (a GPU, labels), when it offers anything: for calls that ask for a placement. */
        placement: Schema.optionalKey(PlacementSchema),
        /**
         * Only the capabilities whose placement the worker meets, each with its default strategy and its own
         * placement requirement when it has them.
         */
        capabilities: Schema.Array(
          Schema.Struct({
            id: Schema.String,
            version: Schema.String,
            idempotent: Schema.Boolean,
            strategy: Schema.optionalKey(Schema.Literals(strategyNames)),
            placement: Schema.optionalKey(PlacementSchema),
          }),
        ),
      }),
    ),
    /**
     * The controller started less than a heartbeat interval ago and its workers are still re-registering: the
     * table may be missing live workers, so a client keeps the routes it had and only adds these.
     */
    recovering: Schema.optionalKey(Schema.Boolean),
    /** The cursor of the next page, absent on the last. */
    next: Schema.optionalKey(Schema.String),
  }),
  idempotent: true,
  tags: ["system"],
})

/**
 * How a peer gets a certificate from the controller's CA (docs/security.md). With a join token: for the token's
 * role and the `id` asked for (a node's id for a worker), the token spent. Without one: a renewal, over a
 * connection whose own certificate proves that very identity. The CA decides what the certificate says; the CSR
 * only proves its sender holds the key. Served by the controller to anyone, as it is how one gets credentials.
 */
export const CertificateSignCsr = defineCapability({
  id: "certificate.sign_csr",
  version: "1.0.0",
  name: "Sign a certificate request",
  description:
    "Signs a peer's CSR with the controller's CA: with a join token, for its role and the id asked; without one, a renewal of the caller's own identity.",
  input: Schema.Struct({
    /** PEM (PKCS#10) of an ECDSA P-256 key the caller keeps. */
    csr: Schema.String.check(Schema.isMaxLength(16_384)),
    /** The identity's id: a node's id for a worker (its workers are `<id>/<name>`). */
    id: Schema.String.check(Schema.isMaxLength(128)),
    /** A join token (`crank token create`); absent: a renewal of the identity the caller's certificate proves. */
    token: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(512))),
  }),
  output: Schema.Struct({
    /** The caller's certificate (PEM): `spiffe://crank/<role>/<id>` as its one URI SAN. */
    certificate: Schema.String,
    /** The CA's certificate (PEM): the one CA the caller trusts from now on. */
    caCertificate: Schema.String,
    role: Schema.Literals(["worker", "client", "operator"]),
    id: Schema.String,
    /** When the certificate expires (ms since the epoch): renew before. */
    notAfter: Schema.Number,
  }),
  errors: [
    {
      code: "UNAUTHORIZED",
      description: "no join token and no certificate to renew, or a token that is malformed, unknown, wrong, revoked, expired or used up",
      retriable: false,
    },
    { code: "FORBIDDEN", description: "a renewal of another identity than the caller's own, or an id another live connection holds", retriable: false },
  ],
  tags: ["system"],
})

/**
 * Refuses an identity's certificate from now on (docs/security.md, "Revoking"): its connections are closed, it can
 * neither connect, renew nor join again under that id until every certificate it could hold has expired. Operators
 * only; a controller without a CA (`--insecure`) has nothing to revoke.
 */
export const CrankRevoke = defineCapability({
  id: "crank.revoke",
  version: "1.0.0",
  name: "Revoke a certificate",
  description:
    "Refuses a worker's, client's or operator's certificate from now on: its connections are closed, and it cannot renew or join again until it would have expired.",
  input: Schema.Struct({ role: Schema.Literals(["worker", "client", "operator"]), id: Schema.String.check(Schema.isMaxLength(128)) }),
  output: Schema.Struct({
    role: Schema.String,
    id: Schema.String,
    /** Until when it is refused (ms since the epoch): a certificate lifetime from now. */
    until: Schema.Number,
    /** Connections presenting it that were closed. */
    closed: Schema.Number,
  }),
  idempotent: true,
  tags: ["system"],
})

export const systemCapabilities = [CrankStatus, CrankDrain, CrankRoutes, CertificateSignCsr, CrankRevoke] as const
