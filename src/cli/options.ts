/**
 * Flags and their environment twins, so containers configure by environment what people type as flags.
 * A flag wins over its twin; the twin wins over the default.
 */
import { type ParseArgsConfig, parseArgs } from "node:util"
import { type CrankError, crankError, messageOf } from "../../capabilities/CrankError.ts"
import { environment } from "./environment.ts"
import { UsageError } from "./errors.ts"

export { environment } from "./environment.ts"
export { UsageError } from "./errors.ts"

export const defaultPort = 7070
export const defaultHost = "127.0.0.1"

export type Options = ParseArgsConfig["options"] & {}

/** What `parse` returns: the flags' values by name, and the positional arguments. */
export type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>

export const parse = <const O extends Options>(argv: ReadonlyArray<string>, options: O): Parsed<O> => {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true })
  } catch (error) {
    throw new UsageError(messageOf(error))
  }
}

/** A string flag, its environment twin, or the default. */
export const pick = (value: unknown, twin: keyof typeof environment, fallback?: string): string | undefined =>
  typeof value === "string" ? value : (process.env[environment[twin]] ?? fallback)

export const pickNumber = (value: unknown, twin: keyof typeof environment, fallback?: number): number | undefined => {
  const text = pick(value, twin)
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${twin} (${environment[twin]}) must be a non-negative number, got "${text}"`)
  return n
}

export const controllerUrl = (value: unknown): string => pick(value, "controller") ?? `ws://${defaultHost}:${pickNumber(undefined, "port", defaultPort)}`

/** Bracket an IPv6 literal for a URL. */
export const hostForUrl = (host: string): string => (host.includes(":") && !host.startsWith("[") ? `[${host}]` : host)

export const parseJsonInput = (text: string | undefined): unknown | CrankError => {
  if (text === undefined) return {}
  try {
    return JSON.parse(text)
  } catch (error) {
    return crankError("INVALID_INPUT", `input is not JSON: ${messageOf(error)}`)
  }
}
