/** The transport every CLI command runs on: WebSocket for other nodes, in memory for actors in this process. */
import * as Layer from "effect/Layer"
import { combine } from "../../transports/combine.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"

export const cliTransport: Layer.Layer<Transport> = Layer.sync(Transport, () => combine(MemoryTransport.make(), WebSocketTransport.make()))
