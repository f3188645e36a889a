// The page's one event stream: /api/events, kept open. The browser reconnects a dropped stream by itself (after
// the `retry:` the controller sends) but gives up on an HTTP error (a controller shutting down answers 503): then
// a new stream is opened later, backing off from 1 s to 30 s, and the backoff resets once a stream opens.

export const firstDelayMs = 1_000
export const maxDelayMs = 30_000

/** The wait before the next attempt after one that waited `delayMs`. */
export const nextDelayMs = (delayMs) => Math.min(maxDelayMs, delayMs * 2)

/**
 * Opens /api/events and keeps it open. `onSnapshot` and `onTransition` get each event's parsed data; `onStatus`
 * gets `("live" | "reconnecting", text)` as the connection changes.
 */
export const connect = ({ onSnapshot, onTransition, onStatus }) => {
  let delayMs = firstDelayMs
  const open = () => {
    const source = new EventSource("/api/events")
    source.addEventListener("open", () => {
      delayMs = firstDelayMs
      onStatus("live", "live")
    })
    source.addEventListener("error", () => {
      if (source.readyState !== EventSource.CLOSED) return onStatus("reconnecting", "reconnecting…")
      onStatus("reconnecting", "disconnected, retrying…")
      setTimeout(open, delayMs)
      delayMs = nextDelayMs(delayMs)
    })
    source.addEventListener("snapshot", (e) => {
      onSnapshot(JSON.parse(e.data))
      onStatus("live", "live")
    })
    source.addEventListener("transition", (e) => onTransition(JSON.parse(e.data)))
  }
  open()
}
