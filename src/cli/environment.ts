/**
 * The environment twin of each flag, so containers configure by environment what people type as flags.
 * A flag wins over its twin; the twin wins over the default. Only variables something reads are listed.
 */
export const environment = {
  controller: "CRANK_CONTROLLER_URL",
  host: "CRANK_HOST",
  port: "CRANK_PORT",
  token: "CRANK_TOKEN",
  timeout: "CRANK_TIMEOUT_MS",
  heartbeat: "CRANK_HEARTBEAT_MS",
  stale: "CRANK_STALE_AFTER_MS",
  evict: "CRANK_EVICT_AFTER_MS",
  listen: "CRANK_WORKER_LISTEN",
  advertise: "CRANK_WORKER_ADVERTISE",
  node: "CRANK_NODE_ID",
  perHost: "CRANK_MAX_CONNECTIONS_PER_HOST",
  dataDir: "CRANK_DATA_DIR",
  insecure: "CRANK_INSECURE",
} as const
