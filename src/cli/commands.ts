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

/** How a command reaches the controller: mutual TLS with a certificate of its own, or plain ws:// (meshAccess.ts). */
const accessUsage = `  --controller URL  env CRANK_CONTROLLER_URL; default wss://127.0.0.1:7070 when this command has a token or
                    the controller's CA in --data-dir, else ws://127.0.0.1:7070 (crank dev)
  --token T         a join token (crank token create) to get a certificate with (env CRANK_TOKEN); its role
                    decides what the command may do
  --data-dir DIR    beside the controller, mint a certificate from its CA in DIR/controller instead
                    (env CRANK_DATA_DIR; default .crank)
  --insecure        plain ws:// to a controller started with --insecure (env CRANK_INSECURE=1)`

export const commands: ReadonlyArray<Command> = [
  {
    name: "dev",
    summary: "run the whole mesh in one process: controller, example workers, dashboard",
    usage: `crank dev [module ...] [--host 127.0.0.1] [--port 7070] [--replicas 2] [--inspect]

  Starts a controller and the given worker modules in this process, under one supervisor, through
  the same loader as crank worker (a file, or a folder with index.ts; a module that exports
  \`workers\` has all of them run, e.g. both registrations of image.classify). Without modules it runs every
  example in the package's examples/ folder. Workers reach the controller in memory; other processes
  (crank invoke, crank status, crank worker) reach it on ws://HOST:PORT: plain text with no access
  control, as crank controller --insecure, so loopback only unless --insecure-anywhere. Logs every
  lifecycle transition; Ctrl-C (SIGINT) or SIGTERM drains the workers and stops cleanly.
  module          e.g. examples/hello (default: all examples)
  --host HOST     env CRANK_HOST; default 127.0.0.1 (another needs --insecure-anywhere)
  --inspect       serve /api/inspect (Stately inspection events)
  --port PORT     env CRANK_PORT; default 7070; 0 picks a free port
  --replicas N    instances of each worker (default 2)
  --data-dir DIR  workers keep their files in DIR/workers/<name> (env CRANK_DATA_DIR; default .crank)
${timingsUsage}`,
    load: () => import("./commands/dev.ts").then((m) => m.run),
  },
  {
    name: "controller",
    summary: "run a controller that workers on other nodes join over WebSocket (mutual TLS)",
    usage: `crank controller [--host 127.0.0.1] [--port 7070] [--data-dir .crank] [--insecure]

  Listens for workers and clients on wss://HOST:PORT with mutual TLS: its CA lives in
  DATA-DIR/controller (made on first start, key file 0600, reused after); every peer presents a
  certificate from it, got with a join token (crank token create) through certificate.sign_csr.
  Keeps the registry, routes requests. Serves the dashboard and /api/* to operators only, and
  /metrics, /healthz, /readyz to anyone, on https://HOST:PORT (docs/security.md, docs/dashboard.md).
  SIGTERM or SIGINT closes every connection cleanly (workers reconnect to its successor).
  --host HOST            interface to bind (env CRANK_HOST; default 127.0.0.1; use :: or 0.0.0.0 deliberately)
  --port PORT            env CRANK_PORT; default 7070; 0 picks a free port
  --data-dir DIR         its CA and join tokens in DIR/controller (env CRANK_DATA_DIR; default .crank)
  --cert-lifetime D      how long the certificates it signs last (default 1h; renewed at two thirds)
  --allowed-origin URL   a browser origin allowed to open a WebSocket besides its own (repeatable)
  --inspect              serve /api/inspect (Stately inspection events; operators only)
  --probes-listen H:P    also serve /healthz, /readyz and /metrics (only) over plain HTTP on H:P, for probes
                         and Prometheus that should not reach the mesh port
  --insecure             plain ws://, no certificates, no access control: loopback hosts only, logged
                         loudly (env CRANK_INSECURE=1)
  --insecure-anywhere    the same on any host (you mean it)
  --token T              with --insecure: workers must register with this shared token (env CRANK_TOKEN)
${timingsUsage}`,
    load: () => import("./commands/controller.ts").then((m) => m.run),
  },
  {
    name: "worker",
    summary: "run the worker a module exports and join a controller",
    usage: `crank worker <module> [--token T] [--controller URL[,URL...]] [--listen URL] [--advertise URL] [--replicas N]

  Runs the worker exported by <module> (a file, or a folder with index.ts; e.g. examples/hello).
  It registers (retrying with backoff until the controller is there), heartbeats, serves, and
  reconnects after a dropped link. SIGTERM or SIGINT drains it: in-flight requests finish, new
  work goes elsewhere, then it deregisters and exits 0. Its listener port also answers HTTP probes:
  /healthz, /readyz (200 only while every worker is registered or healthy) and /metrics.
  Over wss:// the process gets a certificate for its node (with --token, or from the controller's
  CA in --data-dir), registers its workers as <node>/<name>, serves direct links over mutual TLS
  and renews the certificate before it expires. With --insecure (ws://) --token is the shared
  registration token of an --insecure controller.
${accessUsage}
  --controller A,B   several controllers of a federation (docs/federation.md), comma-separated (also in
                     CRANK_CONTROLLER_URL): A first; a failed dial or registration moves on to the next, in
                     turn. All ws:// or all wss:// (over wss:// the certificate comes from A, so they share a CA)
  --listen URL       where clients dial it directly (env CRANK_WORKER_LISTEN; default wss://127.0.0.1:0,
                     ws://127.0.0.1:0 over ws://)
  --advertise URL    the address to tell the controller, when it differs (env CRANK_WORKER_ADVERTISE)
  --replicas N       instances in this process (default 1)
  --node ID          node id, the id in its certificate (env CRANK_NODE_ID; default <host>-<pid> over
                     wss://, node-<pid> over ws://)
  --drain-deadline MS  how long in-flight work may take on shutdown (default 30000)
  The worker keeps its files in DATA-DIR/workers/<name>.`,
    load: () => import("./commands/worker.ts").then((m) => m.run),
  },
  {
    name: "invoke",
    summary: "call a capability and print its result",
    usage: `crank invoke <capability[@range]> ['<json input>'] [--token T] [--controller URL] [--timeout MS] [--json] [--stream] [--gpu] [--label K=V]

  Sends one request through the mesh and prints the output as JSON.
  <capability[@range]>  e.g. hello.greet or hello.greet@^1 (semver range; default: any version)
  <json input>          the input, as JSON (default {})
${accessUsage}
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
    usage: `crank status [--token T] [--controller URL] [--json] [--timeout MS]

  Asks the controller (crank.status) for what it knows: each worker's node, lifecycle state,
  capabilities, in-flight and completed requests as of its last heartbeat (whose age is shown),
  and the capability catalog. Needs the client or operator role. A federated controller (crank
  controller --federation) also lists the federation's controllers: each one's state, when it was last
  heard, and the capabilities it serves with their routable worker counts.
${accessUsage}
  --json            print the whole status as JSON (for scripts)`,
    load: () => import("./commands/status.ts").then((m) => m.run),
  },
  {
    name: "watch",
    summary: "print worker lifecycle transitions as they happen",
    usage: `crank watch [--token T] [--controller URL] [--json] [--timeout MS]

  Follows the controller's event stream (GET /api/events on its port: ws://HOST:PORT is read as
  http://HOST:PORT) and prints each lifecycle transition as it happens:
    12:00:01.234 node-1/hello-1 healthy → stale (DISCONNECTED)
  Ctrl-C ends it. A controller that cannot be reached, or that ends the stream, is error UNAVAILABLE
  (exit 6). Over https:// the stream is an operator's: the command presents its certificate.
${accessUsage}
  --json            one JSON object per transition and line: {"workerId","from","to","event","at"}
  --timeout MS      give up connecting after MS, or when the stream is silent that long (env
                    CRANK_TIMEOUT_MS; default 10000; the controller sends a snapshot every second)`,
    load: () => import("./commands/watch.ts").then((m) => m.run),
  },
  {
    name: "drain",
    summary: "drain a worker: no new work, in-flight finishes, then it deregisters",
    usage: `crank drain <worker-id> [--deadline MS] [--token T] [--controller URL] [--json]

  Needs the operator role (a client's certificate is refused FORBIDDEN, exit 16).
  --deadline MS     how long in-flight requests may take before the worker deregisters anyway (default 30000)
${accessUsage}`,
    load: () => import("./commands/drain.ts").then((m) => m.run),
  },
  {
    name: "token",
    summary: "create, list and revoke join tokens (on the controller's host)",
    usage: `crank token create [--role worker|client|operator] [--ttl 1h] [--uses N] [--data-dir .crank]
crank token list [--json]
crank token revoke <token-id>

  Join tokens let a worker (--role worker), a tool (client: invoke and read status) or an operator
  (everything: drain, the dashboard) get its first certificate from the controller's CA. create
  prints the token once, on stdout: crank1.<id>.<secret>.<CA fingerprint>; the store keeps only a
  hash of the secret (DATA-DIR/controller/tokens.json, 0600), so a lost token is revoked and made
  again. The fingerprint lets the joining side check the controller before sending the token.
  Works on the controller's data directory, running or not (made, with a new CA, if missing).
  --role R        what the token admits as (default worker)
  --ttl D         how long it may be used: 90s, 15m, 1h, 7d (default 1h)
  --uses N        how many joins it admits (default: any number until it expires)
  --data-dir DIR  the controller's data directory (env CRANK_DATA_DIR; default .crank)
  --json          print the token or the list as JSON`,
    load: () => import("./commands/token.ts").then((m) => m.run),
  },
  {
    name: "revoke",
    summary: "refuse a worker's, client's or operator's certificate from now on",
    usage: `crank revoke <role>/<id> [--token T] [--controller URL] [--json]

  Revokes an identity (operators only): the controller closes its connections at once, and refuses it
  (connecting, renewing, joining again under that id) until every certificate it could hold has
  expired, one certificate lifetime from now. Kept in DATA-DIR/controller/revoked.json, so a
  restarted controller still refuses it. A worker process's identity is its node: worker/<node>.
  <role>/<id>   e.g. worker/n1, client/cli-host-4242 (see crank status, and the controller's log)
${accessUsage}`,
    load: () => import("./commands/revoke.ts").then((m) => m.run),
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
