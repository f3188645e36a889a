/**
 * `image.classify@1.0.0`: the facts of an image as sharp decodes it (format, size, channels, alpha), the colours
 * and brightness of a small sample of it, and a coarse label by a stated rule. The image travels as base64 text,
 * checked by the schema before any work: text that is not base64 is `INVALID_INPUT`, as is an empty image or one
 * over 8 MiB.
 */
import { defineCapability } from "crank-mesh"
import { Schema } from "effect"

/** The largest image accepted: 8 MiB of bytes, about 10.7 MiB of base64, well under the transport's 16 MiB frame. */
export const maxImageBytes = 8 * 1024 * 1024
/** The longest base64 text accepted: exactly what `maxImageBytes` bytes encode to, with padding and no line breaks. */
export const maxBase64Length = 4 * Math.ceil(maxImageBytes / 3)
/**
 * The most pixels (width × height, read from the header before anything is decoded) an image may have: sharp's
 * `limitInputPixels`. 25 megapixels, e.g. 5000 × 5000: a decompression bomb is refused before it costs memory.
 */
export const maxPixels = 25_000_000

/** The formats this capability reads, by sharp's names (`avif` is sharp's `heif` with AV1 compression). */
export const formats = ["jpeg", "png", "webp", "gif", "tiff", "avif", "heif", "svg"] as const
export const Format = Schema.Literals(formats)
export type Format = typeof Format.Type

/** The labels, one per image; `labelRule` (in the output and the README) says which one an image gets. */
export const labels = ["transparent", "dark", "bright", "greyscale", "colourful", "muted"] as const
export const Label = Schema.Literals(labels)
export type Label = typeof Label.Type

/** Coarse colour names by hue sector; `colourNameRule` (colourName.ts) states the sectors. */
export const colourNames = ["black", "grey", "white", "red", "orange", "yellow", "green", "cyan", "blue", "purple", "magenta"] as const
export const ColourName = Schema.Literals(colourNames)
export type ColourName = typeof ColourName.Type

/** How many bytes padded base64 text decodes to: three for every four characters, less the padding. */
export const decodedLength = (base64: string): number => (base64.length / 4) * 3 - (base64.endsWith("==") ? 2 : base64.endsWith("=") ? 1 : 0)

/**
 * Base64 text (RFC 4648, padded, no line breaks), its size checked without decoding it. Text rather than bytes
 * decoded by the schema: Effect's base64 encoder, which a TypeScript caller's client would run on the bytes, took
 * 0.3-0.65 s for 1 MiB here against under 1 ms for Node's Buffer (README, measure.ts), and every caller has a native one.
 */
const ImageBase64 = Schema.String.check(
  Schema.isMaxLength(maxBase64Length),
  Schema.isBase64(),
  Schema.makeFilter((text: string) => decodedLength(text) >= 1 || "the image is empty"),
  Schema.makeFilter((text: string) => decodedLength(text) <= maxImageBytes || `the image is ${decodedLength(text)} bytes: at most ${maxImageBytes}`),
)

export const ClassifyInput = Schema.Struct({
  /** The image file's bytes in base64, e.g. `readFileSync(path).toString("base64")`. */
  image: ImageBase64,
  /** The format the caller says the image is in: a different one is `INVALID_INPUT`. Without it, any of `formats`. */
  format: Schema.optionalKey(Format),
})
export type ClassifyInput = typeof ClassifyInput.Type

const Unit = Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))
const PositiveInt = Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(1))

export const DominantColour = Schema.Struct({
  /** The mean colour of the sample pixels in this bucket, `#rrggbb` in sRGB. */
  hex: Schema.String.check(Schema.isPattern(/^#[0-9a-f]{6}$/)),
  /** The bucket's share of the sample's opaque pixels. */
  share: Unit,
  name: ColourName,
})
export type DominantColour = typeof DominantColour.Type

export const ClassifyOutput = Schema.Struct({
  format: Format,
  /** As stored: EXIF orientation is not applied. */
  width: PositiveInt,
  height: PositiveInt,
  /** As stored: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA or CMYK. */
  channels: PositiveInt,
  hasAlpha: Schema.Boolean,
  /** Frames of an animated image (GIF, WebP); only the first is analysed. */
  pages: PositiveInt,
  /** The size of the sample the colours, brightness and label are computed from (`sampleRule`). */
  sample: Schema.Struct({ width: PositiveInt, height: PositiveInt, opaquePixels: Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)) }),
  /** At most 5, largest share first; none when no sample pixel is opaque. */
  dominantColours: Schema.Array(DominantColour).check(Schema.isMaxLength(5)),
  /** Mean Rec. 709 luma of the opaque sample pixels, 0 (black) to 1 (white); null when none is opaque. */
  meanBrightness: Schema.NullOr(Unit),
  /** Mean chroma (max − min of R, G, B) of the opaque sample pixels, 0 (grey) to 1; null when none is opaque. */
  colourfulness: Schema.NullOr(Unit),
  label: Label,
  /** The rules, as applied: the label's, how the sample is taken, how colours are bucketed and named. */
  labelRule: Schema.String,
  sampleRule: Schema.String,
  paletteRule: Schema.String,
  colourNameRule: Schema.String,
  /** Which worker answered, and on what hardware it ran. */
  worker: Schema.String,
  ranOn: Schema.String,
})
export type ClassifyOutput = typeof ClassifyOutput.Type

export const ImageClassify = defineCapability({
  id: "image.classify",
  version: "1.0.0",
  name: "Classify an image",
  description:
    "Decodes an image (base64, at most 8 MiB and 25 megapixels) with sharp: format, size, channels, alpha, dominant colours, mean Rec. 709 brightness and a coarse label (dark, bright, greyscale, colourful, muted, transparent) by a stated rule.",
  input: ClassifyInput,
  output: ClassifyOutput,
  idempotent: true,
  tags: ["example", "image"],
  estimatedDurationMs: 30,
})
