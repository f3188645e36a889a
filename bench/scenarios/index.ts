/**
 * Every benchmark scenario `npm run bench` (bench/run.ts) runs, in the order they are reported. Append new
 * scenarios to the list; the smoke test (tests/integration/bench.test.ts) runs each of them for a fraction of a
 * second.
 */
import type { Scenario } from "../harness/Scenario.ts"
import { anchors } from "./anchors.ts"
import { cliScenarios } from "./cli.ts"
import { crank } from "./crank.ts"
import { failureScenarios } from "./failure.ts"
import { federationScenarios } from "./federation.ts"
import { federationTrafficScenarios } from "./federationTraffic.ts"
import { scaleScenarios } from "./scale.ts"
import { tlsScenarios } from "./tls.ts"

export const scenarios: ReadonlyArray<Scenario> = [
  ...anchors,
  ...crank,
  ...federationScenarios,
  ...tlsScenarios,
  ...scaleScenarios,
  ...federationTrafficScenarios,
  ...failureScenarios,
  ...cliScenarios,
]
