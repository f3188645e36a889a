/**
 * Key affinity: a consistent-hash ring with virtual nodes. Each worker owns `virtualNodes` points on a 32-bit
 * ring; a key goes to the owner of the first point at or after its hash. A worker joining N others takes about
 * 1/(N+1) of the keys, all from others, and a worker leaving hands only its own keys on: requests for one key
 * keep landing on one worker (its caches stay warm) while membership changes around it.
 *
 * A worker that is not eligible (unhealthy, breaker open) is walked past to the next point's owner, without
 * rebuilding the ring, so its keys come back to it when it does.
 */

/** FNV-1a over UTF-16 code units, finished with murmur3's fmix32 so that near keys spread over the whole ring. */
export const hash32 = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Points per worker: 160 keeps each worker's share within a few percent of fair (as ketama uses). */
export const defaultVirtualNodes = 160

export class HashRing<T extends { readonly id: string }> {
  private readonly points: Uint32Array
  private readonly owners: ReadonlyArray<T>

  constructor(members: ReadonlyArray<T>, virtualNodes: number = defaultVirtualNodes) {
    const all: Array<{ readonly hash: number; readonly owner: T }> = []
    for (const member of members) {
      for (let v = 0; v < virtualNodes; v++) all.push({ hash: hash32(`${member.id}#${v}`), owner: member })
    }
    // Ties (rare) are broken by id, so every router builds the same ring from the same members.
    all.sort((a, b) => a.hash - b.hash || (a.owner.id < b.owner.id ? -1 : a.owner.id > b.owner.id ? 1 : 0))
    this.points = Uint32Array.from(all, (p) => p.hash)
    this.owners = all.map((p) => p.owner)
  }

  get size(): number {
    return this.points.length
  }

  /**
   * The worker owning `key`, walking on past owners `accept` refuses; `undefined` when the ring is empty or
   * refuses everyone.
   *
   * @example
   * ```ts
   * const ring = new HashRing(workers)
   * ring.lookup(String(input.userId), (w) => w.routable)
   * ```
   */
  lookup(key: string, accept?: (owner: T) => boolean): T | undefined {
    const n = this.points.length
    if (n === 0) return undefined
    const h = hash32(key)
    let lo = 0
    let hi = n
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.points[mid]! < h) lo = mid + 1
      else hi = mid
    }
    for (let i = 0; i < n; i++) {
      const owner = this.owners[(lo + i) % n]!
      if (accept === undefined || accept(owner)) return owner
    }
    return undefined
  }
}
