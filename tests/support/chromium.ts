/**
 * Debian's Chromium for the browser tests, driven by playwright-core: never a downloaded browser.
 *
 * When `/usr/bin/chromium` is missing, a root process installs it with apt-get (as .ci/run does); anyone else gets
 * a failure naming the exact command to run. Launch flags keep it headless, quiet and off the network.
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { chromium, type Browser } from "playwright-core"

export const chromiumPath = "/usr/bin/chromium"

export const installChromium = "sudo apt-get update && sudo apt-get install -y chromium"

export const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
] as const

/** The path of Chromium, installing it first when this process is root. Throws, with the command, otherwise. */
export const ensureChromium = (): string => {
  if (existsSync(chromiumPath)) return chromiumPath
  if (process.getuid?.() !== 0) {
    throw new Error(`Chromium is not installed at ${chromiumPath}. Install it (as root): ${installChromium}`)
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  execFileSync("apt-get", ["update"], { stdio: "inherit", env, timeout: 300_000 })
  execFileSync("apt-get", ["install", "-y", "chromium"], { stdio: "inherit", env, timeout: 600_000 })
  if (!existsSync(chromiumPath)) throw new Error(`apt-get install chromium did not provide ${chromiumPath}; run: ${installChromium}`)
  return chromiumPath
}

export const launchChromium = (): Promise<Browser> =>
  chromium.launch({ executablePath: ensureChromium(), headless: true, args: [...chromiumArgs] })
