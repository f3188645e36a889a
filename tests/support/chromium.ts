/**
 * The Chromium inside the `@sparticuz/chromium` npm package (a devDependency), driven headless by playwright-core.
 *
 * Always this one, on every machine: never a system Chromium (`/usr/bin/chromium`), never apt-get, never a
 * download. `executablePath()` extracts the packaged binary to the temp directory the first time (about 2 s) and
 * reuses it after that, so `npm ci` is all the browser tests need.
 *
 * The package's own `chromium.args` are for AWS Lambda (they include --disable-web-security and --single-process);
 * these are a minimal, safe list instead: headless, quiet, off the network.
 */
import sparticuz from "@sparticuz/chromium"
import { type Browser, chromium } from "playwright-core"

export const chromiumArgs = [
  // The tests may run as root (CI containers), where Chromium's sandbox cannot start.
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
] as const

/** The packaged Chromium's path, extracting it on first use. */
export const chromiumPath = (): Promise<string> => sparticuz.executablePath()

export const launchChromium = async (): Promise<Browser> => chromium.launch({ executablePath: await chromiumPath(), headless: true, args: [...chromiumArgs] })
