/**
 * The image-classify worker: `image.classify@1.0.0` on the CPU, with sharp (classify.ts). It offers no GPU, so it
 * serves the requests that do not ask for one. Its twin in gpu.ts registers the same capability with the same code
 * from a worker labelled `placement: { gpu: true }`.
 * Run it with `npx crank dev examples/image-classify`, or on its own node with `npx crank worker examples/image-classify`.
 */
import { defineWorker } from "crank-mesh"
import { classifyImage } from "./classify.ts"
import gpuWorker from "./gpu.ts"

export const classify = classifyImage("cpu")

const worker = defineWorker({ name: "image-classify", implements: [classify] })
export default worker

/** Both registrations of image.classify: `crank dev` (and `npm start`) runs the GPU-labelled one beside this one. */
export const workers = [worker, gpuWorker]
