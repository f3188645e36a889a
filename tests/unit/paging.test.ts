import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { byId, pageOf, readAllPages } from "../../actors/paging.ts"

const items = byId(Array.from({ length: 10 }, (_, i) => ({ id: `w${i}`, size: 10 })))
const size = (item: { readonly size: number }) => item.size

describe("pageOf", () => {
  it("pages by count and by bytes, in id order, each page after the cursor", () => {
    expect(pageOf(items, undefined, 4, 1_000, size)).toEqual({ items: items.slice(0, 4), next: "w3" })
    expect(pageOf(items, "w3", 4, 1_000, size)).toEqual({ items: items.slice(4, 8), next: "w7" })
    expect(pageOf(items, "w7", 4, 1_000, size)).toEqual({ items: items.slice(8), next: undefined })
    expect(pageOf(items, undefined, 100, 35, size)).toEqual({ items: items.slice(0, 3), next: "w2" })
  })

  it("always makes progress, and a cursor past the end or between ids still works", () => {
    expect(pageOf(items, undefined, 10, 1, size).items).toHaveLength(1)
    expect(pageOf(items, "w9", 10, 1_000, size)).toEqual({ items: [], next: undefined })
    expect(pageOf(items, "w35", 2, 1_000, size).items.map((i) => i.id)).toEqual(["w4", "w5"])
  })
})

describe("readAllPages", () => {
  it("asks page after page until there is no next, and returns every worker with the last page", async () => {
    const asked: Array<string | undefined> = []
    const all = await Effect.runPromise(
      readAllPages((after) =>
        Effect.sync(() => {
          asked.push(after)
          const page = pageOf(items, after, 4, 1_000, size)
          return { workers: page.items, ...(page.next === undefined ? {} : { next: page.next }), total: items.length }
        }),
      ),
    )
    expect(asked).toEqual([undefined, "w3", "w7"])
    expect(all.workers.map((w) => w.id)).toEqual(items.map((i) => i.id))
    expect(all.total).toBe(10)
  })
})
