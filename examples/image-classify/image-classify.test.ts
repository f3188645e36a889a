/**
 * image.classify: contract tests from its schemas (in the handler's path and on the wire, where the image is base64),
 * real images made here with sharp (PNG, JPEG, WebP, GIF; a gradient, greyscale, alpha), and the placement test:
 * the gpu registration serves exactly the requests that ask for a GPU.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { crc32 } from "node:zlib"
import { callHandler, startTestMesh } from "crank-mesh/testing"
import { Arbitrary, Effect, Exit, Schema } from "effect"
import fc from "fast-check"
import sharp from "sharp"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  ClassifyInput,
  ClassifyOutput,
  type colourNames,
  decodedLength,
  type Format,
  ImageClassify,
  maxBase64Length,
  maxImageBytes,
  maxPixels,
} from "./capability.ts"
import { sampleSide } from "./classify.ts"
import gpuWorker, { ranOnGpuRegistration } from "./gpu.ts"
import worker from "./index.ts"
import { labelRule } from "./pixelFacts.ts"

const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64")
const classifyInput = (input: ClassifyInput) => callHandler(worker, ImageClassify, input)
/** An image's bytes through the handler, base64-encoded as a caller would. */
const classify = ({ image, format }: { readonly image: Uint8Array; readonly format?: Format }) =>
  classifyInput({ image: base64(image), ...(format === undefined ? {} : { format }) })
const decodesAsOutput = (output: unknown): boolean => Exit.isSuccess(Schema.decodeUnknownExit(ClassifyOutput)(output))
const invalid = (reason: RegExp | string) => ({ code: "INVALID_INPUT", message: expect.stringMatching(reason) })

type Rgb = readonly [number, number, number]
const solid = (width: number, height: number, [r, g, b]: Rgb) => sharp({ create: { width, height, channels: 3, background: { r, g, b } } })
const redPng = () => solid(40, 30, [255, 0, 0]).png().toBuffer()

/** Raw 8-bit pixels, `channels` a pixel, from a function of the pixel's position. */
const rawImage = (width: number, height: number, channels: 1 | 3 | 4, pixel: (x: number, y: number) => ReadonlyArray<number>) => {
  const data = Buffer.alloc(width * height * channels)
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * channels)
  return sharp(data, { raw: { width, height, channels } })
}

/** A PNG whose header claims `width` × `height` (its IHDR rewritten, CRC and all) over a 1-pixel body. */
const pngClaiming = async (width: number, height: number): Promise<Buffer> => {
  const png = Buffer.from(await solid(1, 1, [0, 0, 0]).png().toBuffer())
  // The signature is 8 bytes; IHDR's length (4) and type (4) follow, then width and height, then its CRC at 29.
  png.writeUInt32BE(width, 16)
  png.writeUInt32BE(height, 20)
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29)
  return png
}

describe("image.classify: the contract", () => {
  it("accepts what its input schema accepts, and every answer decodes as its output", async () => {
    const valid: Array<{ image: Uint8Array; format?: Format }> = [
      { image: await redPng() },
      { image: await redPng(), format: "png" },
      { image: await solid(8, 8, [0, 0, 255]).jpeg().toBuffer(), format: "jpeg" },
      { image: await solid(8, 8, [0, 255, 0]).webp().toBuffer() },
      { image: await solid(8, 8, [255, 255, 0]).gif().toBuffer(), format: "gif" },
      { image: await solid(8, 8, [0, 255, 255]).tiff().toBuffer(), format: "tiff" },
      { image: await solid(8, 8, [0, 255, 255]).avif().toBuffer(), format: "avif" },
      {
        image: new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8" fill="#ff00ff"/></svg>'),
        format: "svg",
      },
    ]
    for (const { image, format } of valid) {
      const input: ClassifyInput = { image: base64(image), ...(format === undefined ? {} : { format }) }
      expect(Schema.is(ClassifyInput)(input)).toBe(true)
      expect(decodedLength(input.image)).toBe(image.length)
      const output = await classifyInput(input)
      expect(decodesAsOutput(output)).toBe(true)
      expect(output.format).toBe(format ?? output.format)
    }
  })

  it("accepts an image of exactly 8 MiB (a PNG padded after its end)", async () => {
    const png = await redPng()
    const image = Buffer.concat([png, Buffer.alloc(maxImageBytes - png.length)])
    expect(image.length).toBe(maxImageBytes)
    expect(base64(image).length).toBeLessThanOrEqual(maxBase64Length)
    expect(await classify({ image })).toMatchObject({ format: "png", width: 40, height: 30 })
  })

  it("refuses bytes that are no image, or a corrupt one, as INVALID_INPUT with sharp's reason", async () => {
    const png = await redPng()
    const corruptHeader = Buffer.from(png).fill(0, 12, 33) // IHDR zeroed
    const truncated = png.subarray(0, png.length - 20) // the last IDAT bytes and IEND cut off
    await expect(classify({ image: new TextEncoder().encode("hello, this is text") })).rejects.toMatchObject(invalid(/unsupported image format/))
    await expect(classify({ image: corruptHeader })).rejects.toMatchObject(invalid(/corrupt header|IHDR/i))
    await expect(classify({ image: truncated })).rejects.toMatchObject(invalid(/^sharp could not decode the image: .*(read error|truncated|premature)/i))
    await expect(classify({ image: png, format: "jpeg" })).rejects.toMatchObject(invalid("the image was declared jpeg but is png"))
  })

  it("refuses an image over the pixel limit from its header, before decoding it", async () => {
    const side = Math.ceil(Math.sqrt(maxPixels + 1))
    await expect(classify({ image: await pngClaiming(side, side) })).rejects.toMatchObject(invalid(/exceeds pixel limit/))
    // The same trick under the limit is a header sharp reads and then a body it cannot decode: another reason.
    await expect(classify({ image: await pngClaiming(100, 100) })).rejects.toMatchObject(invalid(/^sharp could not decode the image/))
  })

  it("answers every schema-valid input with output that decodes, or INVALID_INPUT: never INTERNAL", async () => {
    const inputs = await Effect.runPromise(Arbitrary.sampleEffect(Arbitrary.schema(ClassifyInput), { count: 100, seed: 13 }))
    for (const input of inputs) {
      const outcome = await classifyInput(input).then(
        (output) => decodesAsOutput(output),
        (error: { code?: string }) => error.code === "INVALID_INPUT",
      )
      expect(outcome, `${decodedLength(input.image)} bytes, format ${input.format}`).toBe(true)
    }
  })

  it("answers real images with random bytes overwritten with output that decodes, or INVALID_INPUT: never INTERNAL", async () => {
    const originals = [
      await redPng(),
      await solid(48, 32, [10, 120, 240]).jpeg().toBuffer(),
      await solid(48, 32, [240, 120, 10]).webp().toBuffer(),
      await solid(48, 32, [10, 240, 120]).gif().toBuffer(),
    ]
    let decoded = 0
    for (const [index, original] of originals.entries()) {
      const overwrites = fc.array(fc.tuple(fc.nat(original.length - 1), fc.nat(255)), { minLength: 1, maxLength: 8 })
      for (const writes of fc.sample(overwrites, { numRuns: 25, seed: 13 + index })) {
        const mutant = Buffer.from(original)
        for (const [offset, byte] of writes) mutant[offset] = byte
        const outcome = await classify({ image: mutant }).then(
          (output) => (decoded++, decodesAsOutput(output)),
          (error: { code?: string }) => error.code === "INVALID_INPUT",
        )
        expect(outcome, `image ${index}, overwrites ${JSON.stringify(writes)}`).toBe(true)
      }
    }
    // Some mutants still decode (a byte in a pixel), so both branches ran.
    expect(decoded).toBeGreaterThan(0)
    expect(decoded).toBeLessThan(originals.length * 25)
  })

  describe("on the wire (base64 through a real in-process mesh)", () => {
    let mesh: Awaited<ReturnType<typeof startTestMesh>>
    beforeAll(async () => {
      mesh = await startTestMesh([worker])
    })
    afterAll(() => mesh?.stop())

    it("serves base64 sent as JSON, as `crank invoke` does", async () => {
      const output = await mesh.invoke("image.classify@^1", { image: base64(await redPng()), format: "png" })
      expect(decodesAsOutput(output)).toBe(true)
      expect(output).toMatchObject({ format: "png", width: 40, height: 30, label: "colourful" })
    })

    const overByOne = Buffer.alloc(maxImageBytes + 1).toString("base64")
    const refused: Array<[string, unknown]> = [
      ["text that is not base64", { image: "this is not base64!" }],
      ["base64 of the wrong length", { image: "AQI" }],
      ["an empty image", { image: "" }],
      ["a missing image", { format: "png" }],
      ["an image that is not a string", { image: 42 }],
      ["an unknown format", { image: "AQID", format: "bmp" }],
      ["8 MiB + 1 byte (base64 within its length bound)", { image: overByOne }],
      ["base64 longer than 8 MiB encodes to", { image: `${overByOne}AAAA` }],
    ]
    for (const [what, input] of refused)
      it(`refuses ${what} as INVALID_INPUT, before the handler runs`, async () => {
        expect(Exit.isFailure(Schema.decodeUnknownExit(ClassifyInput)(input))).toBe(true)
        await expect(mesh.invoke("image.classify@^1", input)).rejects.toMatchObject({ code: "INVALID_INPUT" })
      })

    it("the 8 MiB + 1 byte case is refused by the byte bound, not the text bound", () => {
      expect(overByOne.length).toBe(maxBase64Length)
      expect(decodedLength(overByOne)).toBe(maxImageBytes + 1)
    })
  })
})

describe("image.classify: real images made with sharp", () => {
  it("a red PNG: its facts, one red dominant colour, colourful", async () => {
    const output = await classify({ image: await redPng() })
    expect(output).toMatchObject({ format: "png", width: 40, height: 30, channels: 3, hasAlpha: false, pages: 1, label: "colourful", labelRule, ranOn: "cpu" })
    expect(output.sample).toEqual({ width: 40, height: 30, opaquePixels: 40 * 30 })
    expect(output.dominantColours).toEqual([{ hex: "#ff0000", share: 1, name: "red" }])
    expect(output.meanBrightness).toBeCloseTo(0.2126, 6) // Rec. 709's weight of red
    expect(output.colourfulness).toBe(1)
  })

  it("a black JPEG is dark, and its sample fits within 64 x 64 with the aspect kept", async () => {
    const output = await classify({ image: await solid(200, 100, [0, 0, 0]).jpeg().toBuffer() })
    expect(output).toMatchObject({ format: "jpeg", width: 200, height: 100, channels: 3, label: "dark" })
    expect(output.sample).toEqual({ width: sampleSide, height: sampleSide / 2, opaquePixels: (sampleSide * sampleSide) / 2 })
    expect(output.dominantColours).toEqual([{ hex: "#000000", share: 1, name: "black" }])
    expect(output.meanBrightness).toBeCloseTo(0, 2)
  })

  it("a red-to-green gradient: brightness and colourfulness as computed from its pixels, five equal buckets along it", async () => {
    const width = 256
    const red = (x: number) => 255 - x
    const image = await rawImage(width, 32, 3, (x) => [red(x), x, 0])
      .png()
      .toBuffer()
    const output = await classify({ image })
    const xs = [...Array(width).keys()]
    const mean = (f: (x: number) => number) => xs.reduce((sum, x) => sum + f(x), 0) / width / 255
    expect(output.meanBrightness).toBeCloseTo(
      mean((x) => 0.2126 * red(x) + 0.7152 * x),
      2,
    )
    expect(output.colourfulness).toBeCloseTo(
      mean((x) => Math.max(red(x), x)),
      2,
    )
    expect(output.label).toBe("colourful")
    // Red falls and green rises: 8 buckets of 32 levels each hold an eighth, and every bucket's colour is on the line.
    expect(output.dominantColours).toHaveLength(5)
    for (const { hex, share } of output.dominantColours) {
      expect(share).toBeCloseTo(1 / 8, 2)
      const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)) as [number, number, number]
      expect(r + g).toBeGreaterThanOrEqual(250)
      expect(r + g).toBeLessThanOrEqual(260)
      expect(b).toBe(0)
    }
    expect(new Set(output.dominantColours.map((c) => c.name))).toEqual(new Set(["green", "yellow"]))
  })

  it("a greyscale PNG (one channel): greyscale, no colour, grey names only", async () => {
    const image = await rawImage(256, 16, 1, (x) => [x])
      .toColourspace("b-w")
      .png()
      .toBuffer()
    const output = await classify({ image, format: "png" })
    expect(output).toMatchObject({ format: "png", channels: 1, hasAlpha: false, label: "greyscale", colourfulness: 0 })
    expect(output.meanBrightness).toBeCloseTo(255 / 2 / 255, 2)
    for (const { name } of output.dominantColours) expect(["black", "grey", "white"]).toContain(name)
  })

  it("a lossy WebP, half blue and half yellow: two dominant colours of about half each", async () => {
    const image = await rawImage(64, 64, 3, (x) => (x < 32 ? [30, 80, 200] : [250, 220, 20]))
      .webp({ quality: 80 })
      .toBuffer()
    const output = await classify({ image, format: "webp" })
    expect(output).toMatchObject({ format: "webp", width: 64, height: 64, hasAlpha: false, label: "colourful" })
    const [first, second] = output.dominantColours
    expect(new Set([first?.name, second?.name])).toEqual(new Set(["blue", "yellow"]))
    // Lossy compression blurs the edge between the halves: a few pixels fall in other buckets.
    expect(first!.share + second!.share).toBeGreaterThan(0.9)
    for (const colour of [first!, second!]) expect(colour.share).toBeCloseTo(0.5, 1)
  })

  it("a PNG with alpha: transparent pixels count for nothing; a fully transparent one is labelled transparent", async () => {
    // Left half a transparent red, right half an opaque green.
    const half = await rawImage(64, 64, 4, (x) => (x < 32 ? [255, 0, 0, 0] : [0, 160, 0, 255]))
      .png()
      .toBuffer()
    const output = await classify({ image: half })
    expect(output).toMatchObject({ format: "png", channels: 4, hasAlpha: true, label: "colourful" })
    expect(output.sample.opaquePixels).toBe(32 * 64)
    expect(output.dominantColours).toEqual([{ hex: "#00a000", share: 1, name: "green" }])
    expect(output.meanBrightness).toBeCloseTo((0.7152 * 160) / 255, 6)

    const clear = await rawImage(16, 16, 4, () => [0, 160, 0, 0])
      .png()
      .toBuffer()
    expect(await classify({ image: clear })).toMatchObject({
      hasAlpha: true,
      label: "transparent",
      dominantColours: [],
      meanBrightness: null,
      colourfulness: null,
      sample: { opaquePixels: 0 },
    })
  })

  it("an animated GIF: its frames counted, its first frame analysed", async () => {
    const frames = await Promise.all([
      solid(16, 16, [255, 0, 0]).png().toBuffer(),
      solid(16, 16, [0, 0, 255]).png().toBuffer(),
      solid(16, 16, [0, 255, 0]).png().toBuffer(),
    ])
    const image = await sharp(frames, { join: { animated: true } })
      .gif()
      .toBuffer()
    const output = await classify({ image, format: "gif" })
    expect(output).toMatchObject({ format: "gif", width: 16, height: 16, pages: 3 })
    expect(output.dominantColours.map((c) => c.name)).toEqual(["red"])
  })

  it("an SVG is rendered from its own bytes: an <image> of a local file is not loaded", async () => {
    const folder = mkdtempSync(join(tmpdir(), "image-classify-"))
    try {
      const green = join(folder, "green.png")
      writeFileSync(green, await solid(8, 8, [0, 255, 0]).png().toBuffer())
      const svg =
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="8" height="8">' +
        `<rect width="8" height="8" fill="#ff0000"/><image width="8" height="8" xlink:href="${pathToFileURL(green).href}"/><image width="8" height="8" href="${green}"/></svg>`
      const output = await classify({ image: new TextEncoder().encode(svg), format: "svg" })
      expect(output.dominantColours).toEqual([{ hex: "#ff0000", share: 1, name: "red" }])
      // The same <image> with the PNG inside the SVG (a data: URL) is drawn: the file was refused, not the element.
      const inline = svg.replace(/<image .*?\/>/, `<image width="8" height="8" href="data:image/png;base64,${base64(readFileSync(green))}"/>`)
      expect((await classify({ image: new TextEncoder().encode(inline), format: "svg" })).dominantColours[0]?.name).toBe("green")
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
  })

  it("gives each label to an image made for it, by the stated rule", async () => {
    const cases: Array<[Rgb, string]> = [
      [[32, 32, 32], "dark"], // luma 0.125 < 0.2
      [[230, 230, 230], "bright"], // luma 0.9 > 0.8
      [[128, 128, 128], "greyscale"], // luma 0.5, chroma 0
      [[160, 128, 112], "muted"], // luma about 0.52, chroma 48/255 about 0.19
      [[0, 0, 255], "dark"], // pure blue, but luma 0.07: dark comes before colourful in the rule
      [[40, 200, 90], "colourful"], // luma about 0.62, chroma 160/255
    ]
    const labels = await Promise.all(cases.map(async ([rgb]) => (await classify({ image: await solid(8, 8, rgb).png().toBuffer() })).label))
    expect(labels).toEqual(cases.map(([, label]) => label))
  })

  it("names colours by the stated hue sectors", async () => {
    const cases: Array<[Rgb, (typeof colourNames)[number]]> = [
      [[20, 20, 20], "black"],
      [[0, 0, 40], "black"], // a colour, but value 40/255 < 0.2
      [[128, 128, 135], "grey"],
      [[250, 250, 250], "white"],
      [[255, 0, 0], "red"],
      [[255, 128, 0], "orange"], // hue 30
      [[255, 230, 0], "yellow"], // hue 54
      [[0, 200, 0], "green"], // hue 120
      [[0, 200, 200], "cyan"], // hue 180
      [[0, 0, 255], "blue"], // hue 240
      [[128, 0, 255], "purple"], // hue 270
      [[255, 0, 255], "magenta"], // hue 300
      [[255, 0, 48], "red"], // hue 349: red again
    ]
    const names = await Promise.all(cases.map(async ([rgb]) => (await classify({ image: await solid(4, 4, rgb).png().toBuffer() })).dominantColours[0]?.name))
    expect(names).toEqual(cases.map(([, name]) => name))
  })
})

describe("image.classify: placement", () => {
  const rounds = 10
  const input = async (): Promise<ClassifyInput> => ({ image: base64(await redPng()) })

  it("with both registrations, requests asking for a GPU all go to the gpu worker and the others never do", async () => {
    const mesh = await startTestMesh([worker, gpuWorker])
    try {
      const image = await input()
      const onGpu: Array<{ worker: string; ranOn: string }> = []
      const unlabelled: Array<{ worker: string; ranOn: string }> = []
      // Interleaved, so that neither kind of request can be served by taking turns.
      for (let i = 0; i < rounds; i++) {
        onGpu.push(await mesh.invoke(ImageClassify, image, { placement: { gpu: true } }))
        unlabelled.push(await mesh.invoke(ImageClassify, image))
      }
      expect(onGpu.map((o) => o.ranOn)).toEqual(Array(rounds).fill(ranOnGpuRegistration))
      expect(unlabelled.map((o) => o.ranOn)).toEqual(Array(rounds).fill("cpu"))
      const gpuWorkers = new Set(onGpu.map((o) => o.worker))
      const cpuWorkers = new Set(unlabelled.map((o) => o.worker))
      expect(gpuWorkers.size).toBe(1)
      expect(cpuWorkers.size).toBe(1)
      expect([...gpuWorkers][0]).not.toBe([...cpuWorkers][0])
    } finally {
      await mesh.stop()
    }
  })

  it("with only the cpu registration, a request asking for a GPU is NO_WORKER", async () => {
    const mesh = await startTestMesh([worker])
    try {
      const image = await input()
      await expect(mesh.invoke(ImageClassify, image, { placement: { gpu: true } })).rejects.toMatchObject({ code: "NO_WORKER" })
      expect((await mesh.invoke(ImageClassify, image)).ranOn).toBe("cpu")
    } finally {
      await mesh.stop()
    }
  })
})
