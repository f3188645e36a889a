/**
 * The image-classify worker: `image.classify@1.0.0` on the CPU, with sharp (classify.ts). It offers no GPU, so it
 * serves the requests that do not ask for one. Its twin in gpu.ts registers the same capability with the same code
 * from a worker labelled `placement: { gpu: true }`.
 * Run it with `npx crank dev examples/image-classify`, or on its own node with `npx crank worker examples/image-classify`.
 */
import { defineWorker } from "crank-mesh"
import { classifyImage } from "./classify.ts"

export const classify = classifyImage("cpu")

export default defineWorker({ name: "image-classify", implements: [classify] })
