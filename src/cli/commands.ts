/**
 * Every `crank` command: name, summary, usage and a loader. Plain text and lazy imports only, so `crank --help`
 * and `crank <command> --help` load nothing else (see Command.ts).
 */
import type { Command } from "./Command.ts"

/** The lifecycle timing flags `crank dev` and `crank controller` share (timings.ts reads them). */
const timingsUsage = `  --heartbeat-ms MS    heartbeat interval told to workers (env CRANK_HEARTBEAT_MS; default 30000)
  --stale-after-ms MS  silence before a worker is stale (env CRANK_STALE_AFTER_MS; default 120000)
  --evict-after-ms MS  how long a stale worker is kept (env CRANK_EVICT_AFTER_MS; default 300000)
  --max-connections-per-host N  connections one remote host may hold open (env CRANK_MAX_CONNECTIONS_PER_HOST; default 1000)`

export const commands: ReadonlyArray<Command> = [
  {
    name: "dev",
    summary: "run the whole mesh in one process: controller, example workers, dashboard",
    usage: `crank dev [module ...] [--host 127.0.0.1] [--port 7070] [--replicas 2]

  Starts a controller and the given worker modules in this process, under one supervisor, through
  the same loader as crank worker (a file, or a folder with index.ts; a module that exports
  \`workers\` has all of them run, e.g. both registrations of image.classify). Without modules it runs every
  example in the package's examples/ folder. Workers reach the controller in memory; other processes
  (crank invoke, crank status, crank worker) reach it on ws://HOST:PORT. Logs every lifecycle
  transition; Ctrl-C (SIGINT) or SIGTERM drains the workers and stops cleanly.
  module          e.g. examples/hello (default: all examples)
  --host HOST     env CRANK_HOST; default 127.0.0.1
  --port PORT     env CRANK_PORT; default 7070; 0 picks a free port
  --replicas N    instances of each worker (default 2)
  --data-dir DIR  workers keep their files in DIR/workers/<name> (env CRANK_DATA_DIR; default .crank)
${timingsUsage}`,
    load: () => import("./commands/dev.ts").then((m) => m.run),
  },
  {
    name: "controller",
    summary: "run a controller that workers on other nodes join over WebSocket",
    usage: `crank controller [--host 127.0.0.1] [--port 7070] [--token T]

  Listens for workers and clients on ws://HOST:PORT, keeps the registry, routes requests.
  Serves the dashboard, /metrics, /healthz and /readyz on http://HOST:PORT (docs/dashboard.md).
  SIGTERM or SIGINT closes every connection cleanly (workers reconnect to its successor).
  --host HOST   interface to bind (env CRANK_HOST; default 127.0.0.1; use :: or 0.0.0.0 deliberately)
  --port PORT   env CRANK_PORT; default 7070; 0 picks a free port
  --token T     require workers to join with this token (env CRANK_TOKEN)
${timingsUsage}`,
    load: () => import("./commands/controller.ts").then((m) => m.run),
  },
  {
    name: "worker",
    summary: "run the worker a module exports and join a controller",
    usage: `crank worker <module> [--controller URL] [--listen URL] [--advertise URL] [--replicas N] [--token T]

  Runs the worker exported by <module> (a file, or a folder with index.ts; e.g. examples/hello).
  It registers (retrying with backoff until the controller is there), heartbeats, serves, and
  reconnects after a dropped link. SIGTERM or SIGINT drains it: in-flight requests finish, new
  work goes elsewhere, then it deregisters and exits 0. Its listener port also answers HTTP probes:
  /healthz, /readyz (200 only while every worker is registered or healthy) and /metrics.
  --controller URL   env CRANK_CONTROLLER_URL; default ws://127.0.0.1:7070
  --listen URL       where clients dial it directly (env CRANK_WORKER_LISTEN; default ws://127.0.0.1:0)
  --advertise URL    the address to tell the controller, when it differs (env CRANK_WORKER_ADVERTISE)
  --replicas N       instances in this process (default 1)
  --token T          join token, when the controller requires one (env CRANK_TOKEN)
  --node ID          node id (env CRANK_NODE_ID; default node-<pid>)
  --drain-deadline MS  how long in-flight work may take on shutdown (default 30000)
  --data-dir DIR     the worker keeps its files in DIR/workers/<name> (env CRANK_DATA_DIR; default .crank)`,
    load: () => import("./commands/worker.ts").then((m) => m.run),
  },
  {
    name: "invoke",
    summary: "call a capability and print its result",
    usage: `crank invoke <capability[@range]> ['<json input>'] [--controller URL] [--timeout MS] [--json] [--stream] [--gpu] [--label K=V]

  Sends one request through the mesh and prints the output as JSON.
  <capability[@range]>  e.g. hello.greet or hello.greet@^1 (semver range; default: any version)
  <json input>          the input, as JSON (default {})
  --controller URL      controller to ask (env CRANK_CONTROLLER_URL; default ws://127.0.0.1:7070)
  --timeout MS          the request's deadline (env CRANK_TIMEOUT_MS; default 30000)
  --json                print the output compactly on one line
  --stream              call a streaming capability: one JSON line per item as it arrives
  --gpu                 only a worker offering a GPU may serve it (GPU workers serve only such calls)
  --label K=V           only a worker with this label may serve it (repeatable)

  Exit status 0 on success; on failure the typed code is printed (error NO_WORKER: ...) and the
  status is non-zero (see docs/errors.md).

  Example: crank invoke hello.greet '{"message":"hi"}'`,
    load: () => import("./commands/invoke.ts").then((m) => m.run),
  },
  {
    name: "status",
    summary: "show nodes, workers, their lifecycle state and capabilities",
    usage: `crank status [--controller URL] [--json] [--timeout MS]

  Asks the controller (crank.status) for what it knows: each worker's node, lifecycle state,
  capabilities, in-flight and completed requests as of its last heartbeat (whose age is shown),
  and the capability catalog.
  --controller URL  env CRANK_CONTROLLER_URL; default ws://127.0.0.1:7070
  --json            print the whole status as JSON (for scripts)`,
    load: () => import("./commands/status.ts").then((m) => m.run),
  },
  {
    name: "watch",
    summary: "print worker lifecycle transitions as they happen",
    usage: `crank watch [--controller URL] [--json] [--timeout MS]

  Follows the controller's event stream (GET /api/events on its port: ws://HOST:PORT is read as
  http://HOST:PORT) and prints each lifecycle transition as it happens:
    12:00:01.234 node-1/hello-1 healthy → stale (DISCONNECTED)
  Ctrl-C ends it. A controller that cannot be reached, or that ends the stream, is error UNAVAILABLE
  (exit 6).
  --controller URL  env CRANK_CONTROLLER_URL; default ws://127.0.0.1:7070
  --json            one JSON object per transition and line: {"workerId","from","to","event","at"}
  --timeout MS      give up connecting after MS, or when the stream is silent that long (env
                    CRANK_TIMEOUT_MS; default 10000; the controller sends a snapshot every second)`,
    load: () => import("./commands/watch.ts").then((m) => m.run),
  },
  {
    name: "drain",
    summary: "drain a worker: no new work, in-flight finishes, then it deregisters",
    usage: `crank drain <worker-id> [--deadline MS] [--controller URL] [--json]

  --deadline MS     how long in-flight requests may take before the worker deregisters anyway (default 30000)
  --controller URL  env CRANK_CONTROLLER_URL; default ws://127.0.0.1:7070`,
    load: () => import("./commands/drain.ts").then((m) => m.run),
  },
  {
    name: "diagram",
    summary: "draw the worker lifecycle machine (mermaid, dot or svg)",
    usage: `crank diagram [--format mermaid|dot|svg] [--out FILE] [--current STATE]

  Generates the diagram from the exported xstate machine itself: states, events, guards, the
  initial and final states. SVG is rendered in-process (Graphviz compiled to WebAssembly).
  --format F      mermaid (default), dot or svg
  --out FILE      write to FILE instead of stdout
  --current STATE light one state (e.g. healthy)`,
    load: () => import("./commands/diagram.ts").then((m) => m.run),
  },
  {
    name: "new",
    summary: "scaffold a worker: capability, handler, contract test, README",
    usage: `crank new worker <name> [--in workers]

  Creates <in>/<name>/ with capability.ts (the contract, <name>.echo@1.0.0), index.ts (the handler
  and defineWorker), <name>.test.ts (contract tests that pass as generated, run by vitest) and a
  README. Edit the capability and the handler from there.
  <name>      lower-case letters, digits and -, starting with a letter (it is also the capability id prefix)
  --in DIR    the parent folder (default workers)`,
    load: () => import("./commands/new.ts").then((m) => m.run),
  },
]
