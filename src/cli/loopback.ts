/**
 * Which hosts a plain-text listener (`crank controller --insecure`, `crank dev`) may bind without
 * `--insecure-anywhere`: those only this machine can reach.
 *
 * @example
 * ```ts
 * isLoopbackHost("127.0.0.1") // true
 * isLoopbackHost("0.0.0.0")   // false: every interface
 * ```
 */
export const isLoopbackHost = (host: string): boolean => {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase()
  return bare === "localhost" || bare === "::1" || /^127(\.\d{1,3}){3}$/.test(bare)
}
