/**
 * Keepalive for the WebSocket transport: one timer pings every connection of a transport, and a connection
 * whose peer has not answered the previous ping by the next tick is dropped.
 *
 * One timer, not one per connection: a controller may hold thousands of connections. The timer runs only
 * while there are connections to ping, and never keeps the process alive on its own (`unref`).
 */

/** What the keepalive needs from a connection. */
export interface Pingable {
  /** Cleared by each tick, set again by the peer's pong. */
  alive: boolean
  readonly ping: () => void
  /** The peer missed a pong: drop the connection, giving `reason`. */
  readonly lost: (reason: string) => void
}

export class Keepalive {
  private readonly members = new Set<Pingable>()
  private timer: ReturnType<typeof setInterval> | undefined = undefined

  /** `intervalMs` 0 turns keepalive off. */
  constructor(private readonly intervalMs: number) {}

  add(member: Pingable): void {
    if (this.intervalMs <= 0) return
    member.alive = true
    this.members.add(member)
    if (this.timer === undefined) {
      this.timer = setInterval(this.tick, this.intervalMs)
      this.timer.unref()
    }
  }

  delete(member: Pingable): void {
    this.members.delete(member)
    if (this.members.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  private readonly tick = (): void => {
    for (const member of this.members) {
      if (!member.alive) {
        member.lost(`no pong from the peer within ${this.intervalMs} ms`)
      } else {
        member.alive = false
        member.ping()
      }
    }
  }
}
