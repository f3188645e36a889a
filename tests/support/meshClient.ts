/**
 * A client of a multi-process mesh, inside the test process: the real `Client` over the WebSocket transport,
 * with a Promise face so tests can mix it with child processes. Each client owns a scope; `useMeshClients()`
 * closes every client a test opened after that test, pass or fail.
 */

import { Effect, Exit, Scope } from "effect"
import { afterAll, afterEach } from "vitest"
import * as Client from "../../actors/Client.ts"
import type { Capability, InputOf, OutputOf } from "../../capabilities/Capability.ts"
import type { CrankError } from "../../capabilities/CrankError.ts"
import type { MeshStatus } from "../../capabilities/crank.ts"
import { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"

export interface MeshClient {
  readonly client: Client.Client
  readonly invoke: <C extends Capability>(capability: C, input: InputOf<C>, options?: Client.InvokeOptions) => Promise<OutputOf<C>>
  /** The request's outcome as an `Exit`: never rejects, so a test can count every answer. */
  readonly settle: <C extends Capability>(capability: C, input: InputOf<C>, options?: Client.InvokeOptions) => Promise<Exit.Exit<OutputOf<C>, CrankError>>
  readonly status: () => Promise<MeshStatus>
  readonly close: () => Promise<void>
}

export const connectClient = async (controller: string, options: Partial<Omit<Client.ClientOptions, "transport" | "controller">> = {}): Promise<MeshClient> => {
  const scope = Effect.runSync(Scope.make())
  const close = () => Effect.runPromise(Scope.close(scope, Exit.void))
  const client = await Effect.runPromise(
    Client.make({ controller, timeoutMs: 5_000, ...options })
      .pipe(Effect.provideService(Transport, WebSocketTransport.make()))
      .pipe(Scope.provide(scope)),
  ).catch(async (error) => {
    await close()
    throw error
  })
  return {
    client,
    invoke: (capability, input, invokeOptions) => Effect.runPromise(client.invoke(capability, input, invokeOptions)),
    settle: (capability, input, invokeOptions) => Effect.runPromiseExit(client.invoke(capability, input, invokeOptions)),
    status: () => Effect.runPromise(client.status),
    close,
  }
}

/** Registers hooks that close every client opened through the returned function: after each test, and after the file. */
export const useMeshClients = () => {
  const open = new Set<MeshClient>()
  const closeAll = async () => {
    const clients = [...open]
    open.clear()
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)))
  }
  afterEach(closeAll)
  afterAll(closeAll)
  return async (controller: string, options?: Parameters<typeof connectClient>[1]): Promise<MeshClient> => {
    const client = await connectClient(controller, options)
    open.add(client)
    return client
  }
}
