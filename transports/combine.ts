/**
 * One transport made of several, chosen by the address's scheme: a node that listens on WebSocket can still
 * reach in-memory peers, and a client dials whatever address a route names.
 */
import * as Effect from "effect/Effect"
import { schemeOf, type Transport, TransportError } from "./Transport.ts"

export const combine = (...transports: ReadonlyArray<Transport>): Transport => {
  const byScheme = new Map<string, Transport>()
  for (const transport of transports) for (const scheme of transport.schemes) byScheme.set(scheme, transport)
  const pick = (address: string) => {
    const transport = byScheme.get(schemeOf(address))
    return transport === undefined
      ? Effect.fail(
          new TransportError({ reason: "UnsupportedAddress", address, message: `no transport for "${address}" (known: ${[...byScheme.keys()].join(", ")})` }),
        )
      : Effect.succeed(transport)
  }
  return {
    schemes: [...byScheme.keys()],
    listen: (address, accept, options) => Effect.flatMap(pick(address), (t) => t.listen(address, accept, options)),
    connect: (address, handlers) => Effect.flatMap(pick(address), (t) => t.connect(address, handlers)),
  }
}
