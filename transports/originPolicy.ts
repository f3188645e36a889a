/**
 * Which browser pages may open a WebSocket to a listener: the `Origin` check of the upgrade.
 *
 * A browser lets any page open a WebSocket to any address and sends the page's origin along; the server is the one
 * that must say no (RFC 6455 §10.2). Without this check a page on another site, open in a browser on the operator's
 * machine, could talk to a controller on localhost. Non-browser clients (workers, the CLI) send no `Origin` and are
 * not affected: they are judged by their certificate.
 *
 * Allowed: the listener's own origin (`http://<host>:<port>` for `ws://`, `https://` for `wss://`), and for a
 * listener bound to a loopback or wildcard address the loopback names at its port (`localhost`, `127.0.0.1`,
 * `[::1]`), plus every entry of `allowedOrigins`. The `Host` header is never trusted for this: a page served from an
 * attacker's name that resolves to 127.0.0.1 (DNS rebinding) sends its own name in both `Origin` and `Host`. Any
 * other name the listener is reached by must be listed. Origins compare after URL normalisation (case, default
 * port); `Origin: null` (sandboxed frames, `file:` pages) is never allowed.
 *
 * @example
 * ```ts
 * const policy = makeOriginPolicy(normalizeOrigins(["http://dash.example:8080"]), "ws", "127.0.0.1", 7070)
 * policy.refusal("http://127.0.0.1:7070") // undefined: allowed
 * policy.refusal("https://evil.example")   // "the page's origin https://evil.example is not allowed ..."
 * policy.refusal(undefined)                // undefined: not a browser
 * ```
 */

export interface OriginPolicy {
  /** Why an upgrade carrying this `Origin` header is refused, or `undefined` when it may proceed. */
  readonly refusal: (origin: string | undefined) => string | undefined
}

/** `origin` as `URL` writes it (lower case, default port dropped), or `undefined` when it is not an http(s) origin. */
const normalize = (origin: string): string | undefined => {
  try {
    const url = new URL(origin)
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined
    return url.origin
  } catch {
    return undefined
  }
}

/** Checks a configured allow-list once, at `make`: a typo there would otherwise refuse every page silently. */
export const normalizeOrigins = (origins: ReadonlyArray<string> | undefined): ReadonlyArray<string> =>
  (origins ?? []).map((origin) => {
    const normalized = normalize(origin)
    if (normalized === undefined) throw new TypeError(`allowedOrigins: ${JSON.stringify(origin)} is not an http:// or https:// origin`)
    return normalized
  })

const loopbackOrWildcard = new Set(["127.0.0.1", "::1", "localhost", "0.0.0.0", "::", ""])

/** `host` is the bound address without brackets, as the listener parsed it; `port` the real port. */
export const makeOriginPolicy = (allowed: ReadonlyArray<string>, scheme: "ws" | "wss", host: string, port: number): OriginPolicy => {
  const httpScheme = scheme === "wss" ? "https" : "http"
  const at = (name: string) => normalize(`${httpScheme}://${name}:${port}`)
  const own = [at(host.includes(":") ? `[${host}]` : host)]
  if (loopbackOrWildcard.has(host)) own.push(at("localhost"), at("127.0.0.1"), at("[::1]"))
  const origins = new Set<string>([...allowed, ...own.filter((origin): origin is string => origin !== undefined)])
  return {
    refusal: (origin) => {
      if (origin === undefined) return undefined
      const normalized = normalize(origin)
      if (normalized !== undefined && origins.has(normalized)) return undefined
      return `the page's origin ${JSON.stringify(origin.slice(0, 200))} is not allowed to open a WebSocket here (allowed: ${[...origins].join(", ")})`
    },
  }
}
