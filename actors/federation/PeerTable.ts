/**
 * What one controller knows of the others in its federation: for each peer, its forwarding address, the last delta
 * applied, when it was last heard, and its summary per capability version. Pure: the federation actor feeds it
 * messages with the time and acts on what it answers (ask a peer for a snapshot).
 *
 * The rules: a peer first heard of (or restarted: a new `run`) is asked for a snapshot once, and deltas that come
 * meanwhile wait for it; after the snapshot, delta `seq + 1` applies, an older one is ignored, a later one is a gap
 * and asks for a fresh snapshot, as does an `Alive` whose `seq` is past the last delta applied (the peer's last delta
 * was lost). A peer not heard from within `staleAfterMs` is dropped with all its routes.
 */
import { satisfies } from "../../capabilities/CapabilityRef.ts"
import type { Alive, Delta, Snapshot, SummaryEntry } from "./federationProtocol.ts"
import { summaryKey } from "./localSummary.ts"

/** Deltas kept while a peer's snapshot is awaited; past it they are dropped (the snapshot covers them, or a gap asks again). */
const maxWaitingDeltas = 256

export interface Peer {
  readonly id: string
  run: string
  address: string
  /** The last delta applied (or the snapshot's), -1 before the snapshot. */
  seq: number
  lastHeardAt: number
  /** Whether its snapshot has been applied: only then are its routes used. */
  synced: boolean
  /** Whether a snapshot request is under way (asked once, not again per message). */
  asking: boolean
  readonly entries: Map<string, SummaryEntry>
  readonly waiting: Array<Delta>
  /** Requests this controller has forwarded to it and not yet had answered: counted in its load until its next delta says. */
  forwarding: number
  /** How often it was picked: breaks ties between equally loaded peers. */
  picks: number
}

/** What the caller must do after a message: nothing, or ask the peer for a snapshot. */
export type Verdict = "ok" | "askSnapshot"

/** A peer as `crank status` shows it. */
export interface PeerView {
  readonly id: string
  readonly address: string
  readonly synced: boolean
  readonly lastHeardAt: number
  readonly capabilities: ReadonlyArray<SummaryEntry>
}

export class PeerTable {
  private readonly peers = new Map<string, Peer>()

  constructor(
    /** This controller's own id: its own messages, which NATS delivers back to it, are ignored. */
    readonly selfId: string,
  ) {}

  /** A peer's heartbeat. */
  alive(message: Alive, now: number): Verdict {
    if (message.from === this.selfId) return "ok"
    const peer = this.heard(message.from, message.run, message.address, now)
    if (peer.synced && message.seq > peer.seq) peer.synced = false
    return this.askIfNeeded(peer)
  }

  /** A peer's delta. */
  delta(message: Delta, now: number): Verdict {
    if (message.from === this.selfId) return "ok"
    const peer = this.heard(message.from, message.run, undefined, now)
    if (!peer.synced) {
      if (peer.waiting.length < maxWaitingDeltas) peer.waiting.push(message)
      return this.askIfNeeded(peer)
    }
    if (message.seq <= peer.seq) return "ok"
    if (message.seq !== peer.seq + 1) {
      peer.synced = false
      peer.waiting.push(message)
      return this.askIfNeeded(peer)
    }
    this.apply(peer, message)
    return "ok"
  }

  /** A peer's answer to the snapshot request. */
  snapshot(message: Snapshot, now: number): Verdict {
    if (message.from === this.selfId) return "ok"
    const peer = this.heard(message.from, message.run, message.address, now)
    peer.asking = false
    peer.entries.clear()
    for (const entry of message.entries) if (entry.workers > 0) peer.entries.set(summaryKey(entry.capability, entry.version), entry)
    peer.seq = message.seq
    peer.synced = true
    // Deltas that came while it was asked for: those past the snapshot apply in order; a hole asks again.
    const waiting = peer.waiting.splice(0).sort((a, b) => a.seq - b.seq)
    for (const delta of waiting) {
      if (delta.seq <= peer.seq) continue
      if (delta.seq !== peer.seq + 1) {
        peer.synced = false
        return this.askIfNeeded(peer)
      }
      this.apply(peer, delta)
    }
    return "ok"
  }

  /** The snapshot request to `peerId` failed: the next message from it asks again. */
  snapshotFailed(peerId: string): void {
    const peer = this.peers.get(peerId)
    if (peer !== undefined) peer.asking = false
  }

  /** Drops the peers not heard from within `staleAfterMs` of `now`; gives their ids. */
  sweep(now: number, staleAfterMs: number): ReadonlyArray<string> {
    const dropped: Array<string> = []
    for (const [id, peer] of this.peers) {
      if (now - peer.lastHeardAt > staleAfterMs) {
        this.peers.delete(id)
        dropped.push(id)
      }
    }
    return dropped
  }

  /**
   * The least-loaded peer with a worker for `capability@range`, skipping `exclude`: load is in flight (its last
   * delta's, plus what this controller has forwarded there since) over capacity.
   */
  pick(capability: string, range: string, exclude?: ReadonlySet<string>): Peer | undefined {
    let best: Peer | undefined
    let bestLoad = Number.POSITIVE_INFINITY
    for (const peer of this.peers.values()) {
      if (!peer.synced || exclude?.has(peer.id)) continue
      for (const entry of peer.entries.values()) {
        if (entry.capability !== capability || entry.workers === 0 || !satisfies(entry.version, range)) continue
        const load = (entry.inFlight + peer.forwarding) / Math.max(1, entry.maxInFlight)
        // Equal loads (idle peers, sequential callers) take turns: the one picked less often goes.
        if (load < bestLoad || (load === bestLoad && best !== undefined && peer.picks < best.picks)) {
          best = peer
          bestLoad = load
        }
      }
    }
    if (best !== undefined) best.picks++
    return best
  }

  get(peerId: string): Peer | undefined {
    return this.peers.get(peerId)
  }

  views(): ReadonlyArray<PeerView> {
    return [...this.peers.values()]
      .map((peer) => ({
        id: peer.id,
        address: peer.address,
        synced: peer.synced,
        lastHeardAt: peer.lastHeardAt,
        capabilities: [...peer.entries.values()].sort((x, y) => x.capability.localeCompare(y.capability) || x.version.localeCompare(y.version)),
      }))
      .sort((a, b) => a.id.localeCompare(b.id))
  }

  /** The peer `id` as of this message: a new record when it was unknown or has restarted (another `run`). */
  private heard(id: string, run: string, address: string | undefined, now: number): Peer {
    let peer = this.peers.get(id)
    if (peer === undefined || peer.run !== run) {
      peer = {
        id,
        run,
        address: address ?? "",
        seq: -1,
        lastHeardAt: now,
        synced: false,
        asking: false,
        entries: new Map(),
        waiting: [],
        forwarding: 0,
        picks: 0,
      }
      this.peers.set(id, peer)
    }
    peer.lastHeardAt = now
    if (address !== undefined) peer.address = address
    return peer
  }

  private askIfNeeded(peer: Peer): Verdict {
    if (peer.synced || peer.asking) return "ok"
    peer.asking = true
    return "askSnapshot"
  }

  private apply(peer: Peer, delta: Delta): void {
    for (const change of delta.changes) {
      const key = summaryKey(change.capability, change.version)
      if (change.workers === 0) peer.entries.delete(key)
      else peer.entries.set(key, change)
    }
    peer.seq = delta.seq
  }
}
