/**
 * A `ws` client that speaks no protocol: it sends what it is told (text or binary, valid or not) and records the
 * frames and the close that come back. For tests that hand-write frames against a listener (bad frames, fuzzing).
 */
import WebSocket from "ws"
import { until } from "./poll.ts"

export type Frame = Record<string, unknown>

export interface RawPeerOptions {
  /** Called with each frame as it arrives, after it is recorded (to answer requests the listener sends, say). */
  readonly onFrame?: (frame: Frame, peer: RawPeer) => void
}

export class RawPeer {
  readonly frames: Array<Frame> = []
  closed: { code: number; reason: string } | undefined = undefined
  private read = 0

  private constructor(
    readonly socket: WebSocket,
    options: RawPeerOptions,
  ) {
    socket.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as Frame
      this.frames.push(frame)
      options.onFrame?.(frame, this)
    })
    socket.on("close", (code, reason) => (this.closed = { code, reason: reason.toString() }))
    socket.on("error", () => {})
  }

  static connect(address: string, options: RawPeerOptions = {}): Promise<RawPeer> {
    const socket = new WebSocket(address)
    return new Promise((resolve, reject) => {
      socket.once("open", () => resolve(new RawPeer(socket, options)))
      socket.once("error", reject)
    })
  }

  send(data: string | Buffer | Uint8Array, binary = false): void {
    this.socket.send(data, { binary })
  }

  /** The next frame not yet read. */
  async next(): Promise<Frame> {
    await until("a frame from the listener", () => this.frames.length > this.read)
    return this.frames[this.read++]!
  }

  async waitClosed(): Promise<{ code: number; reason: string }> {
    await until("the listener to close the connection", () => this.closed !== undefined)
    return this.closed!
  }

  close(): void {
    this.socket.terminate()
  }
}
