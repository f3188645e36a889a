/**
 * A transport whose listeners see each accepted connection with the peer the test names, as mutual TLS would
 * prove it (`Connection.peer`): the controller's authorization tested in memory, without certificates on a wire.
 * The connection itself is the inner one (an object whose prototype is it), so everything else behaves the same.
 */

import type { Transport } from "../../transports/Transport.ts"
import type { Identity } from "../../trust/identity.ts"

export interface PeerTransport extends Transport {
  /** The identity the next accepted connection proves (`undefined`: none, as a TLS client without a certificate). */
  as: Identity | undefined
}

export const withPeers = (inner: Transport): PeerTransport => {
  const transport: PeerTransport = {
    as: undefined,
    schemes: inner.schemes,
    connect: inner.connect,
    listen: (address, accept, options) =>
      inner.listen(address, (connection) => accept(Object.create(connection, { peer: { value: transport.as, enumerable: true } })), options),
  }
  return transport
}
