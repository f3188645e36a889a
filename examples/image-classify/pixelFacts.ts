/**
 * What a sample of pixels says: its dominant colours, mean brightness, colourfulness and a coarse label, each by a
 * rule stated here (and returned with every answer). Pure: the sample comes from classify.ts, already decoded.
 */
import type { DominantColour, Label } from "./capability.ts"
import { colourName } from "./colourName.ts"

/** A pixel counts when its alpha is at least this (of 255); the others are background and count for nothing. */
export const opaqueAlpha = 128
/** Bits kept per channel when bucketing colours: 3 bits, 8 levels of 32, 512 buckets. */
export const bucketBits = 3
export const maxDominantColours = 5

export const darkBelow = 0.2
export const brightAbove = 0.8
export const greyscaleBelow = 0.06
export const colourfulFrom = 0.3

export const paletteRule =
  `opaque sample pixels (alpha >= ${opaqueAlpha}) bucketed by the top ${bucketBits} bits of R, G and B (${2 ** (3 * bucketBits)} buckets); ` +
  `the ${maxDominantColours} most populous buckets (ties by bucket order), each as its pixels' mean colour and its share of the opaque pixels`

export const labelRule =
  `the first that holds: transparent if no sample pixel is opaque (alpha >= ${opaqueAlpha}); dark if meanBrightness < ${darkBelow}; ` +
  `bright if meanBrightness > ${brightAbove}; greyscale if colourfulness < ${greyscaleBelow}; colourful if colourfulness >= ${colourfulFrom}; muted otherwise. ` +
  "meanBrightness is the mean Rec. 709 luma (0.2126 R + 0.7152 G + 0.0722 B, gamma-encoded sRGB, 0-1) and colourfulness the mean chroma " +
  "(max - min of R, G, B, 0-1), both over the opaque sample pixels"

export interface PixelFacts {
  readonly opaquePixels: number
  readonly dominantColours: ReadonlyArray<DominantColour>
  readonly meanBrightness: number | null
  readonly colourfulness: number | null
  readonly label: Label
}

const hex = (value: number): string => Math.round(value).toString(16).padStart(2, "0")

/** `labelRule` applied. */
export const labelOf = (meanBrightness: number | null, colourfulness: number | null): Label => {
  if (meanBrightness === null || colourfulness === null) return "transparent"
  if (meanBrightness < darkBelow) return "dark"
  if (meanBrightness > brightAbove) return "bright"
  if (colourfulness < greyscaleBelow) return "greyscale"
  return colourfulness >= colourfulFrom ? "colourful" : "muted"
}

/** The facts of `rgba`: 8-bit sRGB pixels, four bytes each, R G B A. */
export const pixelFacts = (rgba: Uint8Array): PixelFacts => {
  const shift = 8 - bucketBits
  const counts = new Uint32Array(1 << (3 * bucketBits))
  const sums = new Float64Array(counts.length * 3)
  let opaque = 0
  let lumaSum = 0
  let chromaSum = 0
  for (let i = 0; i + 3 < rgba.length; i += 4) {
    if (rgba[i + 3]! < opaqueAlpha) continue
    const r = rgba[i]!
    const g = rgba[i + 1]!
    const b = rgba[i + 2]!
    opaque++
    lumaSum += 0.2126 * r + 0.7152 * g + 0.0722 * b
    chromaSum += Math.max(r, g, b) - Math.min(r, g, b)
    const key = ((r >> shift) << (2 * bucketBits)) | ((g >> shift) << bucketBits) | (b >> shift)
    counts[key]!++
    sums[key * 3] = sums[key * 3]! + r
    sums[key * 3 + 1] = sums[key * 3 + 1]! + g
    sums[key * 3 + 2] = sums[key * 3 + 2]! + b
  }
  const populous = [...counts.keys()]
    .filter((key) => counts[key]! > 0)
    .sort((a, b) => counts[b]! - counts[a]! || a - b)
    .slice(0, maxDominantColours)
  const dominantColours = populous.map((key): DominantColour => {
    const n = counts[key]!
    const [r, g, b] = [sums[key * 3]! / n, sums[key * 3 + 1]! / n, sums[key * 3 + 2]! / n]
    return { hex: `#${hex(r)}${hex(g)}${hex(b)}`, share: n / opaque, name: colourName(Math.round(r), Math.round(g), Math.round(b)) }
  })
  // The weights sum to 1 only up to rounding: clamp, so a white image is 1 and never just above it.
  const meanBrightness = opaque === 0 ? null : Math.min(1, lumaSum / opaque / 255)
  const colourfulness = opaque === 0 ? null : chromaSum / opaque / 255
  return { opaquePixels: opaque, dominantColours, meanBrightness, colourfulness, label: labelOf(meanBrightness, colourfulness) }
}
