/**
 * The ratios bench/RESULTS.md reports: a Crank row divided by its anchor, from the same run, with issue 10's goal
 * beside it. A ratio is taken in each round (the rows of one round ran minutes apart at most, under the same load)
 * and the median of the rounds is reported.
 */
import type { Figures } from "./Scenario.ts"

export interface Ratio {
  readonly group: string
  readonly label: string
  readonly numerator: string
  readonly denominator: string
  /** Which figure: requests per second (higher is better) or p99 latency (lower is better). */
  readonly figure: "perSecond" | "p99Us"
  /** The goal, e.g. `≥ 1.0×`; absent for ratios reported for context only. */
  readonly goal?: { readonly atLeast: number } | { readonly atMost: number }
}

const perSecond = (group: string, label: string, numerator: string, denominator: string, atLeast?: number): Ratio => ({
  group,
  label,
  numerator,
  denominator,
  figure: "perSecond",
  ...(atLeast === undefined ? {} : { goal: { atLeast } }),
})

export const ratios: ReadonlyArray<Ratio> = [
  perSecond("in process", "Effect client ÷ Moleculer local, sequential", "crank.memory.effect.sequential", "anchor.moleculer.local.sequential", 1.0),
  perSecond("in process", "Effect client ÷ Moleculer local, 256 concurrent", "crank.memory.effect.concurrent", "anchor.moleculer.local.concurrent", 1.0),
  perSecond("in process", "Promise facade ÷ Moleculer local, sequential", "crank.memory.promise.sequential", "anchor.moleculer.local.sequential", 1.0),
  perSecond("in process", "Promise facade ÷ Moleculer local, 256 concurrent", "crank.memory.promise.concurrent", "anchor.moleculer.local.concurrent", 1.0),
  perSecond("in process", "Effect client ÷ Map dispatch (floor), sequential", "crank.memory.effect.sequential", "anchor.map.sequential"),
  perSecond("in process", "Effect client ÷ Map dispatch (floor), 256 concurrent", "crank.memory.effect.concurrent", "anchor.map.concurrent"),
  perSecond("across processes", "direct ÷ raw ws echo, sequential", "crank.ws.direct.sequential", "anchor.ws.sequential", 0.9),
  perSecond("across processes", "direct ÷ raw ws echo, 256 in flight", "crank.ws.direct.concurrent", "anchor.ws.concurrent", 0.8),
  {
    group: "across processes",
    label: "direct p99 ÷ raw ws echo p99, 256 in flight",
    numerator: "crank.ws.direct.concurrent",
    denominator: "anchor.ws.concurrent",
    figure: "p99Us",
    goal: { atMost: 1.5 },
  },
  perSecond("across processes", "direct ÷ Moleculer TCP, sequential", "crank.ws.direct.sequential", "anchor.moleculer.tcp.sequential", 1.2),
  perSecond("across processes", "direct ÷ Moleculer TCP, 256 in flight", "crank.ws.direct.concurrent", "anchor.moleculer.tcp.concurrent", 1.5),
  perSecond("across processes", "relay ÷ raw ws echo, sequential", "crank.ws.relay.sequential", "anchor.ws.sequential"),
  perSecond("across processes", "relay ÷ raw ws echo, 256 in flight", "crank.ws.relay.concurrent", "anchor.ws.concurrent"),
  perSecond("across processes", "Moleculer TCP ÷ raw ws echo, sequential", "anchor.moleculer.tcp.sequential", "anchor.ws.sequential"),
  perSecond("across processes", "Moleculer TCP ÷ raw ws echo, 256 in flight", "anchor.moleculer.tcp.concurrent", "anchor.ws.concurrent"),
  perSecond("across processes", "remote controller over NATS ÷ ws relay, sequential", "crank.nats.remote-controller.sequential", "crank.ws.relay.sequential"),
  perSecond(
    "across processes",
    "remote controller over NATS ÷ ws relay, 256 in flight",
    "crank.nats.remote-controller.concurrent",
    "crank.ws.relay.concurrent",
  ),
  // What mutual TLS costs per request (issue 12): the same echo over wss:// with client certificates ÷ over ws://.
  perSecond("transport", "wss:// mutual TLS ÷ ws://, sequential", "crank.transport.wss-mtls.sequential", "crank.transport.ws.sequential"),
  perSecond("transport", "wss:// mutual TLS ÷ ws://, 256 in flight", "crank.transport.wss-mtls.concurrent", "crank.transport.ws.concurrent"),
]

/** The ratio in one round, when both rows produced the figure. */
export const ratioOf = (ratio: Ratio, numerator: Figures | undefined, denominator: Figures | undefined): number | undefined => {
  const a = numerator?.[ratio.figure]
  const b = denominator?.[ratio.figure]
  return a === undefined || b === undefined || b === 0 ? undefined : a / b
}

export const holds = (ratio: Ratio, value: number): boolean | undefined =>
  ratio.goal === undefined ? undefined : "atLeast" in ratio.goal ? value >= ratio.goal.atLeast : value <= ratio.goal.atMost

export const goalText = (ratio: Ratio): string =>
  ratio.goal === undefined ? "—" : "atLeast" in ratio.goal ? `≥ ${ratio.goal.atLeast.toFixed(1)}×` : `≤ ${ratio.goal.atMost.toFixed(1)}×`
