/** The transport every CLI command uses: WebSocket for other nodes, in-memory for actors in this process. */
import { combine } from "../../transports/combine.ts"
import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import type { Transport } from "../../transports/Transport.ts"
import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"

export const cliTransport = (options?: WebSocketTransport.WebSocketTransportOptions): Transport =>
  combine(MemoryTransport.make(), WebSocketTransport.make(options))
