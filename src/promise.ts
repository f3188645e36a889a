/**
 * A Promise facade for programs that do not use Effect: start a mesh, invoke, stop.
 *
 * @example
 * ```ts
 * const mesh = await startMesh({ workers: [helloWorker] })
 * const { greeting } = await mesh.invoke(HelloGreet, { message: "hi" }) // rejects with a CrankError
 * await mesh.stop()
 * ```
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { InvokeOptions, StreamOptions } from "../actors/Client.ts"
import type { Capability, InputOf, OutputOf } from "../capabilities/Capability.ts"
import type { MeshStatus } from "../capabilities/crank.ts"
import * as Mesh from "./Mesh.ts"

export interface PromiseMesh {
  /** The client's `invoke` as a Promise: one signature, so a wrong input field is reported as such. */
  readonly invoke: <T extends Capability | string>(target: T, input: InputOf<T>, options?: InvokeOptions) => Promise<OutputOf<T>>
  /**
   * The client's `stream` as an async iterable: `for await (const item of mesh.stream(Cap, input))`. Breaking out
   * of the loop cancels the work on the worker; a failure is thrown as a `CrankError`.
   */
  readonly stream: <T extends Capability | string>(target: T, input: InputOf<T>, options?: StreamOptions) => AsyncIterable<OutputOf<T>>
  readonly status: () => Promise<MeshStatus>
  /** Drains every worker and stops the mesh. */
  readonly stop: () => Promise<void>
  /** The Effect-level mesh, for mixing both styles. */
  readonly mesh: Mesh.Mesh
}

/** Starts an in-process mesh; it logs warnings and errors only unless `logLevel` asks for more. */
export const startMesh = async (options: Mesh.MeshOptions): Promise<PromiseMesh> => {
  const scope = Effect.runSync(Scope.make())
  const start = Mesh.start(options).pipe(Scope.provide(scope))
  const mesh = await Effect.runPromise(start).catch(async (error) => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw error
  })
  return {
    invoke: (target, input, invokeOptions) => Effect.runPromise(mesh.client.invoke(target, input, invokeOptions)),
    stream: (target, input, streamOptions) => Stream.toAsyncIterable(mesh.client.stream(target, input, streamOptions)),
    status: () => Effect.runPromise(mesh.client.status),
    stop: () => Effect.runPromise(Scope.close(scope, Exit.void)),
    mesh,
  }
}
