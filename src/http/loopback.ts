/**
 * Loopback names and addresses: the hosts only this machine can reach. A plain-text listener (`crank controller
 * --insecure`, `crank dev`) binds only these without `--insecure-anywhere`, and an open controller's HTTP pages
 * answer only requests that name one (`Host`), so a page that reached it through DNS rebinding reads nothing.
 *
 * @example
 * ```ts
 * isLoopbackHost("127.0.0.1") // true
 * isLoopbackHost("0.0.0.0")   // false: every interface
 * hostNameOf("[::1]:7070")    // "::1"
 * ```
 */
export const isLoopbackHost = (host: string): boolean => {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase()
  return bare === "localhost" || bare === "::1" || /^127(\.\d{1,3}){3}$/.test(bare)
}

/** The host name of a `Host` header (`127.0.0.1:7070` → `127.0.0.1`, `[::1]:7070` → `::1`), or `undefined`. */
export const hostNameOf = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined
  try {
    return new URL(`http://${header}`).hostname.replace(/^\[|\]$/g, "")
  } catch {
    return undefined
  }
}

/** Whether a socket's address (IPv4, IPv6, IPv4-mapped IPv6) is a loopback one. */
export const isLoopbackAddress = (address: string | undefined): boolean => address !== undefined && (address === "::1" || /^(::ffff:)?127\./.test(address))
