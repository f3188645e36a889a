#!/usr/bin/env node
// The `crank` executable: runs the TypeScript CLI through tsx's loader, so the package ships its sources as-is.
import { register } from "tsx/esm/api"

register()
await import("../src/cli/main.ts")
