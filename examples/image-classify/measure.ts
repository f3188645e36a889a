/**
 * The figures in README.md: how long one classification takes through the worker's request path (schema checks,
 * base64 decoding, sharp, output encoding), and what base64 costs a caller with Effect's encoder against Node's.
 * Run: `npx tsx --conditions @crank/source examples/image-classify/measure.ts` (prints milliseconds, 3 rounds each).
 */
import { cpus, loadavg } from "node:os"
import { callHandler } from "crank-mesh/testing"
import { Schema } from "effect"
import sharp from "sharp"
import { ImageClassify } from "./capability.ts"
import worker from "./index.ts"

const rounds = 3

const timed = async (run: () => unknown): Promise<string> => {
  const times: Array<string> = []
  for (let i = 0; i < rounds; i++) {
    const start = performance.now()
    await run()
    times.push((performance.now() - start).toFixed(1))
  }
  return times.join(", ")
}

/** Pixels that do not compress away: a multiplicative hash of each byte's index. */
const busy = (width: number, height: number) => {
  const data = Buffer.alloc(width * height * 3)
  for (let i = 0; i < data.length; i++) data[i] = Math.imul(i, 2654435761) >>> 24
  return sharp(data, { raw: { width, height, channels: 3 } })
}

console.log(`${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)}`)
const images: Array<[string, Buffer]> = [
  ["1000 x 1000 JPEG", await busy(1000, 1000).jpeg({ quality: 85 }).toBuffer()],
  ["4000 x 3000 JPEG", await busy(4000, 3000).jpeg({ quality: 85 }).toBuffer()],
  ["4000 x 3000 PNG", await busy(4000, 3000).png().toBuffer()],
]
for (const [what, bytes] of images) {
  const image = bytes.toString("base64")
  console.log(`classify ${what} (${(bytes.length / 1048576).toFixed(2)} MiB): ${await timed(() => callHandler(worker, ImageClassify, { image }))} ms`)
}
const effectBase64 = Schema.encodeSync(Schema.Uint8ArrayFromBase64)
for (const mib of [1, 8]) {
  const bytes = new Uint8Array(mib * 1048576).fill(7)
  console.log(
    `base64 of ${mib} MiB: Effect ${await timed(() => effectBase64(bytes))} ms; Buffer ${await timed(() => Buffer.from(bytes).toString("base64"))} ms`,
  )
}
