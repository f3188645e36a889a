/**
 * The `image.classify` handler, shared by both registrations (index.ts, gpu.ts): sharp reads the header (format,
 * size, channels, alpha; the pixel limit is checked here, before anything is decoded), then decodes the first frame
 * into a small 8-bit sRGB sample for pixelFacts.ts. Anything sharp cannot read is the caller's image, so it is
 * `INVALID_INPUT` with sharp's own reason.
 */
import { type HandlerContext, type Implementation, implement } from "crank-mesh"
import sharp, { type Metadata, type SharpOptions } from "sharp"
import { type ClassifyInput, type ClassifyOutput, type Format, formats, ImageClassify, maxPixels } from "./capability.ts"
import { colourNameRule } from "./colourName.ts"
import { labelRule, paletteRule, pixelFacts } from "./pixelFacts.ts"

/** The sample's largest side: 4,096 pixels at most, plenty for a palette and a mean, and cheap whatever the image. */
export const sampleSide = 64

export const sampleRule =
  `the first frame, reduced by sharp to fit within ${sampleSide} x ${sampleSide} pixels (fit inside, aspect kept, never enlarged), ` +
  "converted to 8-bit sRGB with an alpha channel (opaque when the image has none)"

const accepted: ReadonlySet<string> = new Set(formats)

/** sharp's name for a format, with AVIF told apart from the other HEIF images as callers name it. */
const formatOf = (metadata: Metadata): string => (metadata.format === "heif" && metadata.compression === "av1" ? "avif" : metadata.format)

/** sharp's reason, without the dangling colon some libvips messages end with ("Input buffer has corrupt header:"). */
const reasonOf = (error: unknown): string => (error instanceof Error ? error.message : String(error)).trim().replace(/:$/, "")

type Context = HandlerContext<never>

const classify = async ({ image: base64, format: declared }: ClassifyInput, context: Context, ranOn: string): Promise<ClassifyOutput> => {
  const image = Buffer.from(base64, "base64") // the schema has checked it is base64 of 1 byte to 8 MiB
  // failOn "warning" (sharp's default) also refuses a truncated image rather than analysing its grey remainder.
  const options: SharpOptions = { limitInputPixels: maxPixels, failOn: "warning" }
  const metadata = await sharp(image, options)
    .metadata()
    .catch((error: unknown) => Promise.reject(context.error("INVALID_INPUT", `not an image sharp can read: ${reasonOf(error)}`)))
  const format = formatOf(metadata)
  if (!accepted.has(format)) throw context.error("INVALID_INPUT", `sharp reads the image as ${format}, which is not one of ${formats.join(", ")}`)
  if (declared !== undefined && declared !== format) throw context.error("INVALID_INPUT", `the image was declared ${declared} but is ${format}`)
  const { data, info } = await sharp(image, options)
    .resize(sampleSide, sampleSide, { fit: "inside", withoutEnlargement: true })
    .toColourspace("srgb")
    .ensureAlpha()
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true })
    .catch((error: unknown) => Promise.reject(context.error("INVALID_INPUT", `sharp could not decode the image: ${reasonOf(error)}`)))
  const facts = pixelFacts(data)
  return {
    format: format as Format,
    width: metadata.width,
    height: metadata.height,
    channels: metadata.channels,
    hasAlpha: metadata.hasAlpha,
    pages: metadata.pages ?? 1,
    sample: { width: info.width, height: info.height, opaquePixels: facts.opaquePixels },
    dominantColours: facts.dominantColours,
    meanBrightness: facts.meanBrightness,
    colourfulness: facts.colourfulness,
    label: facts.label,
    labelRule,
    sampleRule,
    paletteRule,
    colourNameRule,
    worker: context.workerId,
    ranOn,
  }
}

/**
 * `image.classify` as run on `ranOn`, the hardware the answer says it ran on: the same code for every
 * registration, only that sentence differs.
 */
export const classifyImage = (ranOn: string): Implementation<ClassifyInput, ClassifyOutput, never> =>
  implement(ImageClassify, (input, context) => classify(input, context, ranOn))
