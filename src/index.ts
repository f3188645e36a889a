/**
 * Crank's public surface: everything a worker author, a mesh operator or a tool needs, by name.
 * Internals (the mailbox, the request server, the router) stay behind these exports.
 */

export type { InvokeFunction, InvokeOptions, StreamFunction, StreamOptions } from "../actors/Client.ts"
export * as Client from "../actors/Client.ts"
// Actors, for assembling nodes by hand.
export * as Controller from "../actors/Controller.ts"
export type { Handler, HandlerContext, Implementation, StreamHandler } from "../actors/Implementation.ts"
// Workers: what an author writes.
export { implement, implementStream } from "../actors/Implementation.ts"
export type { Timings, Tunables } from "../actors/Tunables.ts"
export { defaults as defaultTunables, layer as tunablesLayer, Tunable, withTunables } from "../actors/Tunables.ts"
export type { RunningWorker, WorkerOptions } from "../actors/Worker.ts"
export * as Worker from "../actors/Worker.ts"
export type { WorkerDefinition, WorkerEnvironment, WorkerHook } from "../actors/WorkerDefinition.ts"
export { defineWorker, isWorkerDefinition } from "../actors/WorkerDefinition.ts"
export type { LifecycleEvent, LifecycleState } from "../actors/workerLifecycle.ts"
export { lifecycleStates, workerLifecycle } from "../actors/workerLifecycle.ts"
export type { Capability, CapabilityDescriptor, ErrorSpec, ErrorsOf, InputOf, OutputOf, Placement } from "../capabilities/Capability.ts"
// Capabilities: contracts and how callers name them.
export { defineCapability, descriptorOf, InvalidCapability, keyOf } from "../capabilities/Capability.ts"
export type { CapabilityRef } from "../capabilities/CapabilityRef.ts"
export { formatRef, parseRef, refOf } from "../capabilities/CapabilityRef.ts"
export type { Catalog, CatalogEntry } from "../capabilities/Catalog.ts"
export { catalogOf } from "../capabilities/Catalog.ts"
export type { SystemErrorCode } from "../capabilities/CrankError.ts"
export { CrankError, crankError, isCrankError, SystemErrorCodes } from "../capabilities/CrankError.ts"
export type { MeshStatus, WorkerStatus } from "../capabilities/crank.ts"
// System capabilities served by the controller.
export { CrankDrain, CrankRoutes, CrankStatus } from "../capabilities/crank.ts"
export type { DeclaredCode } from "../capabilities/declaredError.ts"
export { declaredError } from "../capabilities/declaredError.ts"
export { combine as combineTransports } from "../transports/combine.ts"
export type { Envelope } from "../transports/Envelope.ts"
// Transports.
export * as MemoryTransport from "../transports/MemoryTransport.ts"
export type { CloseInfo, Connection, Handlers, HttpHandler, Listener, ListenOptions } from "../transports/Transport.ts"
export { layerOf as transportLayer, Transport, TransportError } from "../transports/Transport.ts"
export * as WebSocketTransport from "../transports/WebSocketTransport.ts"
export type { DiagramFormat } from "./diagram/index.ts"
// Diagrams of the lifecycle machine.
export { diagram } from "./diagram/index.ts"
export * as Mesh from "./Mesh.ts"
export * as Node from "./Node.ts"
export type { PromiseMesh } from "./promise.ts"
export { startMesh } from "./promise.ts"
// Assembly: supervisor, nodes, the in-process mesh.
export * as Supervisor from "./supervisor/Supervisor.ts"
