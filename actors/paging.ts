/**
 * Answers that list workers come in pages, so none can outgrow a frame however large the mesh: a page holds
 * workers in id order after a cursor (the last id of the previous page), up to a count and a byte budget, and
 * says where the next one starts. Pure; `crank.status` and `crank.routes` use it, and their callers (the client's
 * routing table, `crank status`, the dashboard) read every page.
 */

import * as Effect from "effect/Effect"

export interface Page<T> {
  readonly items: ReadonlyArray<T>
  /** The cursor of the next page (this page's last id), when items remain after this page. */
  readonly next: string | undefined
}

/**
 * The page of `sorted` (by `id`, ascending) that starts after `after`: at most `maxItems` items and about
 * `maxBytes` by `sizeOf`, but always at least one item when any remain, so a page always makes progress.
 *
 * @example
 * ```ts
 * pageOf(routes, undefined, 1_000, 2 ** 21, routeBytes) // { items: [...first 1,000...], next: "w0999" }
 * ```
 */
export const pageOf = <T extends { readonly id: string }>(
  sorted: ReadonlyArray<T>,
  after: string | undefined,
  maxItems: number,
  maxBytes: number,
  sizeOf: (item: T) => number,
): Page<T> => {
  let start = 0
  if (after !== undefined) {
    // The first id greater than the cursor: ids that came and went between pages do not matter.
    let high = sorted.length
    while (start < high) {
      const middle = (start + high) >>> 1
      if (sorted[middle]!.id <= after) start = middle + 1
      else high = middle
    }
  }
  const items: Array<T> = []
  let bytes = 0
  for (let i = start; i < sorted.length && items.length < maxItems; i++) {
    const item = sorted[i]!
    const size = sizeOf(item)
    if (items.length > 0 && bytes + size > maxBytes) break
    items.push(item)
    bytes += size
  }
  const last = start + items.length
  return { items, next: last < sorted.length ? items[items.length - 1]?.id : undefined }
}

/** Workers in id order, the order pages follow. */
export const byId = <T extends { readonly id: string }>(items: ReadonlyArray<T>): Array<T> =>
  [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))

/**
 * Reads every page: asks `page(after)` from the start until a page has no `next`, and gives the last page with the
 * workers of all of them. Bounded by `maxPages`, against a peer whose cursor never ends.
 */
export const readAllPages = <P extends { readonly workers: ReadonlyArray<unknown>; readonly next?: string | undefined }, E, R>(
  page: (after: string | undefined) => Effect.Effect<P, E, R>,
  maxPages = 1_000,
): Effect.Effect<P, E, R> =>
  Effect.gen(function* () {
    let current = yield* page(undefined)
    const workers = [...current.workers]
    for (let pages = 1; current.next !== undefined && pages < maxPages; pages++) {
      current = yield* page(current.next)
      workers.push(...current.workers)
    }
    return { ...current, workers }
  })
