/**
 * The plain HTTP URL on the same port as a WebSocket address: the controller's dashboard and the workers' probes
 * share their listener's port (`ws://h:p` → `http://h:p/`, `wss://` → `https://`).
 *
 * @example
 * ```ts
 * httpUrlOf("ws://127.0.0.1:7070") // "http://127.0.0.1:7070/"
 * httpUrlOf("wss://[::1]:7070/crank", "/api/events") // "https://[::1]:7070/api/events"
 * ```
 */
export const httpUrlOf = (address: string, path = "/"): string | undefined => {
  let url: URL
  try {
    url = new URL(address)
  } catch {
    return undefined
  }
  const scheme = url.protocol === "ws:" || url.protocol === "http:" ? "http:" : url.protocol === "wss:" || url.protocol === "https:" ? "https:" : undefined
  return scheme === undefined ? undefined : `${scheme}//${url.host}${path}`
}
