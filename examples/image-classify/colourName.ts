/**
 * A coarse name for an sRGB colour: very dark colours are black, colours with little chroma are white or grey,
 * the others are named by their HSV hue sector. Coarse on purpose (no brown, no pink): the rule fits in one
 * sentence, and the hex beside the name says the rest.
 */
import type { ColourName } from "./capability.ts"

/** HSV value (max of R, G, B, over 255) below which a colour is black whatever its hue. */
export const blackValue = 0.2
/** Chroma (max − min of R, G, B, over 255) below which a colour has no hue worth naming. */
export const achromaticChroma = 0.15
/** HSV value above which an achromatic colour is white rather than grey. */
export const whiteValue = 0.85

/** Hue sectors in degrees, [start, end); red wraps around 0. */
const hueSectors: ReadonlyArray<readonly [start: number, end: number, name: ColourName]> = [
  [0, 15, "red"],
  [15, 45, "orange"],
  [45, 70, "yellow"],
  [70, 165, "green"],
  [165, 195, "cyan"],
  [195, 255, "blue"],
  [255, 290, "purple"],
  [290, 345, "magenta"],
  [345, 360, "red"],
]

export const colourNameRule =
  `HSV value (max of R, G, B, 0-1) < ${blackValue}: black; else chroma (max - min, 0-1) < ${achromaticChroma}: white if value > ${whiteValue}, grey otherwise; ` +
  `else by HSV hue in degrees: ${hueSectors.map(([start, end, name]) => `${name} [${start}, ${end})`).join(", ")}`

/** HSV hue in degrees [0, 360) of a colour with chroma `delta`: the standard piecewise formula. */
const hue = (r: number, g: number, b: number, max: number, delta: number): number => {
  const sector = max === r ? (g - b) / delta : max === g ? (b - r) / delta + 2 : (r - g) / delta + 4
  return (sector * 60 + 360) % 360
}

/** The name of an sRGB colour (channels 0 to 255) by `colourNameRule`. */
export const colourName = (r: number, g: number, b: number): ColourName => {
  const max = Math.max(r, g, b)
  const delta = max - Math.min(r, g, b)
  if (max / 255 < blackValue) return "black"
  if (delta / 255 < achromaticChroma) return max / 255 > whiteValue ? "white" : "grey"
  const h = hue(r, g, b, max, delta)
  return hueSectors.find(([, end]) => h < end)![2]
}
