/** A transport's address as a URL of one of its schemes, or the `UnsupportedAddress` error every transport gives. */
import { TransportError } from "./Transport.ts"

export const urlOf = (address: string, schemes: ReadonlyArray<string>): URL | TransportError => {
  let url: URL
  try {
    url = new URL(address)
  } catch {
    return new TransportError({ reason: "UnsupportedAddress", address, message: `not a URL: ${address}` })
  }
  if (!schemes.includes(url.protocol.slice(0, -1))) {
    return new TransportError({ reason: "UnsupportedAddress", address, message: `not a ${schemes.map((s) => `${s}://`).join(" or ")} address: ${address}` })
  }
  return url
}
