/**
 * "Did you mean ...?" for capability ids: the known ids closest to a mistyped one, by edit distance.
 *
 * Runs only when a request has already failed (`NO_WORKER` for an id no worker offers), so it favours plain code
 * over speed: two rows of integers per comparison, a few dozen ids in a mesh.
 */

/**
 * Edits (insert, delete, substitute, or swap two neighbours) turning `a` into `b`: the optimal string alignment
 * distance. Swaps count as one edit because `hello.graet` is one slip of the fingers, not two.
 *
 * @example
 * ```ts
 * editDistance("hello.gret", "hello.greet") // 1
 * editDistance("hello.graet", "hello.greet") // 1
 * ```
 */
export const editDistance = (a: string, b: string): number => {
  if (a === b) return 0
  if (a.length === 0) return b.length
  if (b.length === 0) return a.length
  let beforePrevious = new Array<number>(b.length + 1).fill(0)
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  let current = new Array<number>(b.length + 1).fill(0)
  for (let i = 1; i <= a.length; i++) {
    current[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, beforePrevious[j - 2]! + 1)
      current[j] = best
    }
    ;[beforePrevious, previous, current] = [previous, current, beforePrevious]
  }
  return previous[b.length]!
}

/**
 * How far a suggestion may be from what was typed: two edits, or a quarter of the id's length for long ids. Far
 * enough for typos, near enough that `mail.send` is not offered for `math.sum`.
 */
export const maxDistanceFor = (id: string): number => Math.max(2, Math.floor(id.length / 4))

/**
 * The known ids nearest to `id`, closest first (ties alphabetical), at most `limit` of them and none farther
 * than `maxDistanceFor(id)`. Empty when nothing is near: a message should then list what exists instead.
 *
 * @example
 * ```ts
 * nearestIds("hello.gret", ["hello.greet", "math.sum"]) // ["hello.greet"]
 * ```
 */
export const nearestIds = (id: string, known: Iterable<string>, limit = 3): Array<string> => {
  const max = maxDistanceFor(id)
  const near: Array<{ readonly id: string; readonly distance: number }> = []
  for (const candidate of new Set(known)) {
    if (candidate === id) continue
    const distance = editDistance(id, candidate)
    if (distance <= max) near.push({ id: candidate, distance })
  }
  near.sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return near.slice(0, limit).map((n) => n.id)
}
