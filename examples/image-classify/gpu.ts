/**
 * The GPU registration of `image.classify@1.0.0`: the same handler as index.ts (classify.ts), from a worker labelled
 * `placement: { gpu: true }`, so that requests asking for a GPU (`invoke(..., { placement: { gpu: true } })`) have a
 * worker to go to and the others stay off it. There is no GPU on this machine and sharp does not use one: the work
 * runs on the CPU, and every answer says so in `ranOn`.
 * Run it with `npx crank worker examples/image-classify/gpu.ts` (`crank dev` loads only each example's index.ts).
 */
import { defineWorker } from "crank-mesh"
import { classifyImage } from "./classify.ts"

export const ranOnGpuRegistration = "cpu (registered as gpu; no GPU on this machine)"

export const classify = classifyImage(ranOnGpuRegistration)

export default defineWorker({ name: "image-classify-gpu", placement: { gpu: true }, implements: [classify] })
