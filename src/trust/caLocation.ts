/**
 * Where the controller keeps its CA and join tokens under a data root, and whether a CA is there: light on purpose
 * (no x509), since every command asks it to pick its default controller URL.
 */
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { caKeyFile } from "../../trust/caFiles.ts"

/** Where the controller keeps its CA and join tokens under a data root (`--data-dir`, `CRANK_DATA_DIR`, `.crank`). */
export const caDirectory = (dataRoot: string): string => join(resolve(dataRoot), "controller")

/** Whether the controller's CA key is here: a command run beside the controller can then mint its own certificate. */
export const hasLocalCa = (dataRoot: string): boolean => existsSync(join(caDirectory(dataRoot), caKeyFile))
