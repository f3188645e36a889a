/**
 * Regenerates the lifecycle pictures in docs/ from the machine definition:
 * `npx tsx scripts/writeDocs.ts` writes docs/lifecycle.mmd and docs/lifecycle.svg.
 * Run it after changing actors/workerLifecycle.ts; the diagram tests check the machine, not these files.
 */
import { mkdir, writeFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { workerLifecycle } from "../actors/workerLifecycle.ts"
import { diagram } from "../src/diagram/index.ts"

const docs = fileURLToPath(new URL("../docs/", import.meta.url))

await mkdir(docs, { recursive: true })
const mmd = await diagram(workerLifecycle, { format: "mermaid" })
const svgText = await diagram(workerLifecycle, { format: "svg" })
await writeFile(`${docs}lifecycle.mmd`, mmd)
await writeFile(`${docs}lifecycle.svg`, svgText)
console.log(`wrote ${docs}lifecycle.mmd (${mmd.length} bytes) and ${docs}lifecycle.svg (${svgText.length} bytes)`)
