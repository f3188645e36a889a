/**
 * A supervisor's restart strategies, as OTP names them; one sentence each:
 * one-for-one restarts only the dead child; one-for-all restarts every child; rest-for-one restarts the dead child
 * and every child started after it.
 */
export type Strategy = "one-for-one" | "one-for-all" | "rest-for-one"

export const strategies: ReadonlyArray<Strategy> = ["one-for-one", "one-for-all", "rest-for-one"]
