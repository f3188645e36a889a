/**
 * The deployment files (Dockerfile, .dockerignore, deploy/compose.yaml, deploy/k8s/*.yaml, deploy/systemd/*),
 * judged by what can judge them on a machine that cannot run a container:
 * - `yamllint -s` (Debian's yamllint) on every YAML file; the YAML read as data through python3's PyYAML (Debian's
 *   python3-yaml, which yamllint depends on), since no YAML package is installed for node;
 * - `systemd-analyze verify` and `systemd-analyze security --offline` on the units, in a scratch root directory
 *   holding a copy of the system's units, the units under test and a stand-in `crank` where ExecStart finds it (so
 *   no systemd needs to run, and the host is never touched);
 * - the files against the CLI: every flag is one `crank <command> --help` lists, every `CRANK_*` variable one
 *   src/cli/environment.ts names, every stop waits longer than the drain deadline;
 * - the configurations themselves, run as processes on loopback: the Kubernetes controller and hello worker, the
 *   compose file's controller-a and hello-a (over the image's ENV), and the systemd units' commands, each with its
 *   own arguments and environment (addresses moved to 127.0.0.1 and free ports, the data directory to a temporary
 *   one). Every probe path and health check they name is asked of the running process; the worker must join
 *   under the id its environment gives it, serve, and exit 0 after SIGTERM within the stop timeout.
 */
import { spawnSync } from "node:child_process"
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { get as httpGet } from "node:http"
import { get as httpsGet } from "node:https"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import { environment } from "../../src/cli/environment.ts"
import { type NatsServer, startNatsServer } from "../support/natsServer.ts"
import { until } from "../support/poll.ts"
import { freePort, repoRoot, useProcesses } from "../support/processes.ts"

const processes = useProcesses()
const scratch = mkdtempSync(join(tmpdir(), "crank-deploy-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const read = (path: string): string => readFileSync(join(repoRoot, path), "utf8")
const k8sFiles = readdirSync(join(repoRoot, "deploy/k8s"))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => `deploy/k8s/${f}`)
const yamlFiles = ["deploy/compose.yaml", ...k8sFiles, ".yamllint"]
const unitFiles = ["deploy/systemd/crank-controller.service", "deploy/systemd/crank-worker@.service"]
const allFiles = ["Dockerfile", ".dockerignore", ...yamlFiles, ...unitFiles, "docs/deploy.md"]

// ---------------------------------------------------------------------------------------------------------------
// Programs from Debian, each failing with the package that brings it.

const tool = (program: string, args: ReadonlyArray<string>, input?: string) => {
  const run = spawnSync(program, args, { encoding: "utf8", timeout: 60_000, cwd: repoRoot, ...(input === undefined ? {} : { input }) })
  if ((run.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") {
    const pkg = { yamllint: "yamllint", python3: "python3-yaml", "systemd-analyze": "systemd" }[program] ?? program
    throw new Error(`${program} is not installed; install it (as root): apt-get update && apt-get install -y --no-install-recommends ${pkg}`)
  }
  if (run.error !== undefined) throw new Error(`${program} failed to run: ${run.error.message}`)
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim(), stdout: run.stdout }
}

/** Every document of a YAML file as plain data (PyYAML resolves anchors and merge keys as compose does). */
const parsed = new Map<string, Array<unknown>>()
const yamlDocuments = (path: string): Array<unknown> => {
  const known = parsed.get(path)
  if (known !== undefined) return known
  const script = "import json, sys, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]))"
  const run = tool("python3", ["-c", script, join(repoRoot, path)])
  if (run.status !== 0) throw new Error(`reading ${path} with python3's yaml module failed (Debian package python3-yaml):\n${run.output}`)
  const documents = JSON.parse(run.stdout) as Array<unknown>
  parsed.set(path, documents)
  return documents
}

// ---------------------------------------------------------------------------------------------------------------
// The files as data.

interface EnvVar {
  readonly name: string
  readonly value?: string
  readonly valueFrom?: { readonly fieldRef?: { readonly fieldPath: string }; readonly secretKeyRef?: { readonly name: string; readonly key: string } }
}
interface Probe {
  readonly httpGet?: { readonly path: string; readonly port: string | number; readonly scheme?: string }
  readonly exec?: { readonly command: ReadonlyArray<string> }
}
interface Container {
  readonly name: string
  readonly image: string
  readonly command?: ReadonlyArray<string>
  readonly args?: ReadonlyArray<string>
  readonly env?: ReadonlyArray<EnvVar>
  readonly ports?: ReadonlyArray<{ readonly name?: string; readonly containerPort: number }>
  readonly readinessProbe?: Probe
  readonly livenessProbe?: Probe
  readonly startupProbe?: Probe
  readonly resources?: { readonly requests?: Record<string, string>; readonly limits?: Record<string, string> }
  readonly securityContext?: { readonly allowPrivilegeEscalation?: boolean; readonly readOnlyRootFilesystem?: boolean }
  readonly volumeMounts?: ReadonlyArray<{ readonly name: string; readonly mountPath: string }>
}
interface PodSpec {
  readonly containers: ReadonlyArray<Container>
  readonly initContainers?: ReadonlyArray<Container>
  readonly volumes?: ReadonlyArray<{ readonly name: string; readonly secret?: { readonly secretName: string } }>
  readonly terminationGracePeriodSeconds?: number
  readonly enableServiceLinks?: boolean
  readonly automountServiceAccountToken?: boolean
  readonly securityContext?: { readonly runAsNonRoot?: boolean; readonly runAsUser?: number }
}
interface K8sObject {
  readonly kind: string
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> }
  readonly spec: {
    readonly template?: { readonly metadata: { readonly labels: Record<string, string> }; readonly spec: PodSpec }
    readonly selector?: Record<string, string>
    readonly ports?: ReadonlyArray<{ readonly port: number; readonly targetPort: string | number }>
  }
}
interface ComposeService {
  readonly image?: string
  readonly build?: { readonly context: string; readonly target?: string }
  readonly command?: ReadonlyArray<string>
  readonly environment?: Record<string, string>
  readonly healthcheck?: { readonly test: ReadonlyArray<string> }
  readonly depends_on?: Record<string, { readonly condition: string }>
  readonly stop_signal?: string
  readonly stop_grace_period?: string
  readonly read_only?: boolean
}

const k8sObjects = (): Array<K8sObject> => k8sFiles.flatMap((f) => yamlDocuments(f) as Array<K8sObject>)
const deployments = () => k8sObjects().filter((o) => o.kind === "Deployment")
const podOf = (deployment: K8sObject): PodSpec => deployment.spec.template!.spec
const compose = () => yamlDocuments("deploy/compose.yaml")[0] as { services: Record<string, ComposeService> }
/** The compose services that run the Crank image (all but NATS). */
const crankServices = () => Object.entries(compose().services).filter(([, s]) => s.image?.startsWith("crank-mesh"))

/** Dockerfile instructions, continuation lines joined and comments dropped, each with its stage. */
const dockerfile = () => {
  const lines = read("Dockerfile")
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
  const joined = lines.join("\n").replace(/\\\n/g, " ")
  const instructions: Array<{ keyword: string; args: string; stage: string }> = []
  let stage = ""
  for (const line of joined.split("\n")) {
    const match = /^\s*([A-Z]+)\s+(.*)$/.exec(line)
    if (match === null) continue
    const [, keyword, args] = match as unknown as [string, string, string]
    if (keyword === "FROM") stage = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? ""
    instructions.push({ keyword, args: args.trim(), stage })
  }
  return instructions
}

/** A systemd unit's assignments, section by section, in order (a key may repeat). */
const unit = (path: string) => {
  const entries: Array<{ section: string; key: string; value: string }> = []
  let section = ""
  for (const line of read(path).split("\n")) {
    if (/^\s*([#;]|$)/.test(line)) continue
    const header = /^\[(\w+)\]$/.exec(line.trim())
    if (header !== null) section = header[1]!
    else {
      const at = line.indexOf("=")
      entries.push({ section, key: line.slice(0, at).trim(), value: line.slice(at + 1).trim() })
    }
  }
  const all = (key: string) => entries.filter((e) => e.key === key).map((e) => e.value)
  return { entries, all, one: (key: string) => all(key).at(-1) }
}

/** systemd's specifiers as a system unit sees them (%S state root, %i instance, %H host name). */
const expand = (value: string, instance: string): string =>
  value.replace(/%([SiH%])/g, (_, s: string) => ({ S: "/var/lib", i: instance, H: hostname(), "%": "%" })[s]!)

/** `Environment=` assignments, space-separated (the units use no quotes). */
const unitEnvironment = (path: string, instance: string): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const line of unit(path).all("Environment")) {
    for (const pair of line.split(/\s+/)) {
      const at = pair.indexOf("=")
      env[pair.slice(0, at)] = expand(pair.slice(at + 1), instance)
    }
  }
  return env
}

const execStart = (path: string, instance: string): Array<string> => expand(unit(path).one("ExecStart")!, instance).split(/\s+/)

/** A duration as compose and systemd write it (`45s`, `1m30s`, a bare number of seconds), in milliseconds. */
const durationMs = (text: string): number => {
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, min: 60_000, h: 3_600_000 }
  if (/^\d+$/.test(text)) return Number(text) * 1_000
  let total = 0
  for (const [, n, u] of text.matchAll(/(\d+)\s*(ms|min|s|m|h)/g)) total += Number(n) * units[u!]!
  return total
}

// ---------------------------------------------------------------------------------------------------------------
// The CLI the files are written against.

const helpCache = new Map<string, string>()
const helpOf = (command: string): string => {
  let text = helpCache.get(command)
  if (text === undefined) {
    const run = spawnSync(process.execPath, ["bin/crank.js", command, "--help"], { cwd: repoRoot, encoding: "utf8", timeout: 30_000 })
    if (run.status !== 0) throw new Error(`crank ${command} --help failed: ${run.stderr}`)
    text = run.stdout
    helpCache.set(command, text)
  }
  return text
}
const flagsOf = (argv: ReadonlyArray<string>) => argv.filter((a) => a.startsWith("--")).map((a) => a.split("=")[0]!)

/** The drain deadline a worker command line gives, else the default its --help states. */
const drainDeadlineOf = (argv: ReadonlyArray<string>): number => {
  const at = argv.indexOf("--drain-deadline")
  if (at >= 0) return Number(argv[at + 1])
  const stated = /--drain-deadline MS.*\(default (\d+)\)/.exec(helpOf("worker"))
  if (stated === null) throw new Error("crank worker --help no longer states the default drain deadline")
  return Number(stated[1])
}

/**
 * Flags a command parses but its --help does not list (yet): `crank controller --federation URL --controller-id ID`
 * came with the federation (docs/federation.md) and is missing from the command table's usage text.
 */
const unlistedFlags: Record<string, ReadonlyArray<string>> = { controller: ["--federation", "--controller-id"] }

/** Every command line the files run: [where, argv after `crank`]. */
const commandLines = (): Array<[string, ReadonlyArray<string>]> => [
  ...crankServices()
    .filter(([, s]) => s.command !== undefined)
    .map(([name, s]): [string, ReadonlyArray<string>] => [`compose ${name}`, s.command!]),
  ...deployments().flatMap((d) =>
    podOf(d).containers.map((c): [string, ReadonlyArray<string>] => [`k8s ${d.metadata.name}`, [...(c.command ?? []), ...(c.args ?? [])]]),
  ),
  ...unitFiles.map((f): [string, ReadonlyArray<string>] => [f, execStart(f, "hello").slice(1)]),
]

// ---------------------------------------------------------------------------------------------------------------

describe("the deployment files, linted", () => {
  it("yamllint -s passes every YAML file, and fails a broken one (it is a real judge)", () => {
    const lint = tool("yamllint", ["-s", "-c", ".yamllint", ...yamlFiles])
    expect(lint.output, `yamllint -s complained:\n${lint.output}`).toBe("")
    expect(lint.status).toBe(0)
    const broken = join(scratch, "broken.yaml")
    writeFileSync(broken, "---\nservices:\n  a: [1, 2\n  b: yes\n")
    expect(tool("yamllint", ["-s", "-c", ".yamllint", broken]).status).not.toBe(0)
  })

  it("systemd-analyze verify finds nothing in the units, and rates their exposure 2.0 or lower", () => {
    // A scratch root: the system's own units (for the targets the units name), ours, and a stand-in crank.
    const root = join(scratch, "systemd-root")
    mkdirSync(join(root, "etc/systemd/system"), { recursive: true })
    cpSync("/usr/lib/systemd/system", join(root, "usr/lib/systemd/system"), { recursive: true })
    for (const f of unitFiles) cpSync(join(repoRoot, f), join(root, "etc/systemd/system", f.split("/").at(-1)!))
    const programs = new Set(unitFiles.map((f) => execStart(f, "hello")[0]!))
    for (const program of programs) {
      // A bare name is looked up in systemd's fixed search path, /usr/local/bin first.
      const path = join(root, program.startsWith("/") ? program : `/usr/local/bin/${program}`)
      mkdirSync(join(path, ".."), { recursive: true })
      writeFileSync(path, "#!/bin/sh\nexit 0\n", { mode: 0o755 })
    }
    const names = ["crank-controller.service", "crank-worker@hello.service"]
    const verify = tool("systemd-analyze", ["verify", `--root=${root}`, ...names])
    // verify exits 0 on unknown keys and bad values too: anything it prints is a finding.
    expect(verify.output, `systemd-analyze verify complained:\n${verify.output}`).toBe("")
    expect(verify.status).toBe(0)
    // --threshold is on systemd's 0-100 scale: 20 is the 2.0 it prints.
    const security = tool("systemd-analyze", ["security", "--offline=yes", `--root=${root}`, "--threshold=20", "--no-pager", ...names])
    expect(security.status, security.output).toBe(0)
    expect(security.output.match(/Overall exposure level for .*: \d+\.\d+ OK/g)).toHaveLength(2)
    // And verify is a real judge: a value it cannot parse is reported.
    writeFileSync(join(root, "etc/systemd/system/crank-broken.service"), "[Service]\nExecStart=/usr/local/bin/crank controller\nRestart=sometimes\n")
    expect(tool("systemd-analyze", ["verify", `--root=${root}`, "crank-broken.service"]).output).toMatch(/restart/i)
  })
})

describe("the deployment files, against the CLI", () => {
  it("every flag the files pass is one crank <command> --help lists (or, for the few it omits, one the command parses)", () => {
    const lines = commandLines()
    expect(lines.length).toBeGreaterThan(5)
    for (const [where, argv] of lines) {
      const command = argv[0]!
      const listed = new Set(helpOf(command).match(/--[a-z][a-z-]*/g))
      for (const flag of flagsOf(argv)) {
        if (listed.has(flag)) continue
        expect(unlistedFlags[command] ?? [], `${where}: crank ${command} --help has no ${flag}`).toContain(flag)
        // Still parsed by the command (the run tests below start it with the flag, too).
        expect(read(`src/cli/commands/${command}.ts`), `${where}: crank ${command} does not parse ${flag}`).toMatch(
          new RegExp(`["']?${flag.slice(2)}["']?: \\{ type:`),
        )
      }
    }
  })

  it("every CRANK_* variable the files and docs/deploy.md name is one the CLI reads", () => {
    const read = new Set<string>(Object.values(environment))
    for (const file of allFiles) {
      for (const [name] of readFileSync(join(repoRoot, file), "utf8").matchAll(/\bCRANK_[A-Z_]+\b/g)) {
        expect(read.has(name), `${file} names ${name}, which src/cli/environment.ts does not`).toBe(true)
      }
    }
  })

  it("every stop waits longer than the drain deadline the process is given", () => {
    for (const d of deployments()) {
      for (const c of podOf(d).containers) {
        const deadline = drainDeadlineOf(c.args ?? [])
        expect((podOf(d).terminationGracePeriodSeconds ?? 30) * 1_000, `k8s ${d.metadata.name}`).toBeGreaterThan(deadline)
      }
    }
    for (const [name, s] of crankServices()) {
      if (s.command === undefined) continue
      expect(s.stop_signal, `compose ${name}`).toBe("SIGTERM")
      expect(durationMs(s.stop_grace_period ?? "10s"), `compose ${name}`).toBeGreaterThan(drainDeadlineOf(s.command))
    }
    for (const f of unitFiles) {
      expect(unit(f).one("KillSignal"), f).toBe("SIGTERM")
      expect(durationMs(unit(f).one("TimeoutStopSec") ?? "90s"), f).toBeGreaterThan(drainDeadlineOf(execStart(f, "hello")))
    }
  })

  it("every worker module the files run exists and reaches the image; .dockerignore keeps tests and builds out", () => {
    const modules = commandLines()
      .filter(([where, argv]) => argv[0] === "worker" && !where.startsWith("deploy/systemd"))
      .map(([, argv]) => argv[1]!)
    expect(modules.length).toBeGreaterThan(3)
    // The context: tracked files less what .dockerignore leaves out (last matching pattern wins, a directory's
    // pattern covers what is inside it, as Docker's own matcher does).
    const patterns = read(".dockerignore")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"))
      .map((p) => {
        const negated = p.startsWith("!")
        const body = (negated ? p.slice(1) : p).replace(/\/$/, "")
        const source = body.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*\/?|\*|\?/g, (m) => (m.startsWith("**") ? ".*" : m === "*" ? "[^/]*" : "[^/]"))
        return { negated, regex: new RegExp(`^${source}$`) }
      })
    const inContext = (file: string): boolean => {
      const parts = file.split("/")
      const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"))
      let included = true
      for (const p of patterns) if (prefixes.some((prefix) => p.regex.test(prefix))) included = p.negated
      return included
    }
    const tracked = tool("git", ["ls-files"]).stdout.split("\n").filter(Boolean)
    const context = tracked.filter(inContext)
    const build = JSON.parse(read("tsconfig.build.json")) as { include: Array<string> }
    const needed = ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "scripts/build.mjs", "bin/crank.js"]
    for (const file of needed) expect(context, `the image build needs ${file}`).toContain(file)
    for (const dir of [...build.include, ...modules]) {
      const sources = tracked.filter((f) => f.startsWith(`${dir}/`) && !f.endsWith(".test.ts"))
      expect(sources.length, `nothing tracked under ${dir}`).toBeGreaterThan(0)
      for (const f of sources) expect(inContext(f), `${f} is needed by the build or a worker but .dockerignore leaves it out`).toBe(true)
    }
    for (const f of context) expect(f, "kept out of the image").not.toMatch(/^(tests|bench|docs|tmp|dist|node_modules)\/|\.test\.ts$/)
  })

  it("the Dockerfile: Node 20 stages, the runtime last, non-root, crank as entrypoint, SIGTERM, a node health check", () => {
    const instructions = dockerfile()
    const of = (keyword: string) => instructions.filter((i) => i.keyword === keyword)
    const args = Object.fromEntries(of("ARG").map((a) => a.args.split("=") as [string, string]))
    const bases = of("FROM").map((f) => f.args.split(/\s+/)[0]!.replace(/^\$\{(\w+)\}$/, (_, name: string) => args[name] ?? name))
    for (const base of bases) expect(base).toMatch(/^(node:20-|build$|pruned$|base$)/)
    const stages = of("FROM").map((f) => f.stage)
    expect(stages.at(-1)).toBe("runtime")
    expect(stages).toContain(compose().services["controller-a"]!.build!.target)
    expect(of("RUN").some((r) => r.stage === "build" && /\bnpm ci\b/.test(r.args))).toBe(true)
    expect(of("RUN").some((r) => r.stage === "pruned" && /npm prune --omit=dev/.test(r.args))).toBe(true)
    const user = of("USER").at(-1)!.args
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/)
    expect(JSON.parse(of("ENTRYPOINT").at(-1)!.args)).toEqual(["node", "bin/crank.js"])
    expect(of("STOPSIGNAL").at(-1)!.args).toBe("SIGTERM")
    const check = healthcheckArgv()
    expect(check.slice(0, 2)).toEqual(["node", "-e"])
    expect(check[2]).toContain("/healthz")
  })
})

/** The image's HEALTHCHECK command, as exec-form argv. */
const healthcheckArgv = (): Array<string> => {
  const line = dockerfile().find((i) => i.keyword === "HEALTHCHECK")!.args
  return JSON.parse(line.slice(line.indexOf("CMD") + 3).trim()) as Array<string>
}

/** The image's ENV (what compose and Kubernetes containers start with). */
const imageEnvironment = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const i of dockerfile().filter((i) => i.keyword === "ENV" && i.stage === "base")) {
    for (const pair of i.args.split(/\s+/)) env[pair.slice(0, pair.indexOf("="))] = pair.slice(pair.indexOf("=") + 1)
  }
  return env
}

const pods = () => Object.fromEntries(deployments().map((d) => [d.metadata.name, podOf(d)]))

describe("the Kubernetes manifests", () => {
  it("pods: HTTPS /readyz for readiness, /healthz for liveness and startup, on a declared port; non-root, read-only root, volumes, limits", () => {
    const documented = read("docs/deploy.md")
    for (const [name, pod] of Object.entries(pods())) {
      expect(pod.enableServiceLinks, `${name}: service links would set CRANK_* variables`).toBe(false)
      expect(pod.automountServiceAccountToken, name).toBe(false)
      expect(pod.securityContext?.runAsNonRoot, name).toBe(true)
      const volumes = new Set((pod.volumes ?? []).map((v) => v.name))
      for (const v of pod.volumes ?? []) {
        if (v.secret !== undefined) expect(documented, `docs/deploy.md says how to create the Secret ${v.secret.secretName}`).toContain(v.secret.secretName)
      }
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        expect(c.securityContext?.readOnlyRootFilesystem, `${name}/${c.name}`).toBe(true)
        expect(c.securityContext?.allowPrivilegeEscalation, `${name}/${c.name}`).toBe(false)
        // Kubernetes quantities: memory as 64Mi, 1Gi...; cpu as 100m, 0.5, 1.
        expect([c.resources?.requests?.memory, c.resources?.limits?.memory], `${name}/${c.name} memory`).toEqual([
          expect.stringMatching(/^\d+(\.\d+)?(Ki|Mi|Gi)$/),
          expect.stringMatching(/^\d+(\.\d+)?(Ki|Mi|Gi)$/),
        ])
        expect([String(c.resources?.requests?.cpu), String(c.resources?.limits?.cpu)], `${name}/${c.name} cpu`).toEqual([
          expect.stringMatching(/^\d+(\.\d+)?m?$/),
          expect.stringMatching(/^\d+(\.\d+)?m?$/),
        ])
        for (const m of c.volumeMounts ?? []) expect(volumes.has(m.name), `${name}/${c.name} mounts ${m.name}`).toBe(true)
        for (const v of c.env ?? []) {
          const secret = v.valueFrom?.secretKeyRef?.name
          if (secret !== undefined) expect(documented, `docs/deploy.md says how to create the Secret ${secret}`).toContain(secret)
        }
      }
      for (const c of pod.containers) {
        const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath)
        expect(mounts, `${name}: tsx writes its cache to /tmp`).toContain("/tmp")
        const dataDir = (c.env ?? []).find((v) => v.name === "CRANK_DATA_DIR")?.value ?? imageEnvironment().CRANK_DATA_DIR
        expect(mounts, `${name}: the data directory must be writable`).toContain(dataDir)
        const portNames = new Set((c.ports ?? []).map((p) => p.name))
        // Every probe is kubelet's own HTTPS GET (both listeners admit a client without a certificate to their pages).
        const target = (p: Probe | undefined) => {
          expect(p?.exec, `${name}: no exec probe`).toBeUndefined()
          expect(p?.httpGet?.scheme, `${name}: probes over HTTPS`).toBe("HTTPS")
          expect(portNames.has(String(p?.httpGet?.port)), `${name}: probe port ${p?.httpGet?.port}`).toBe(true)
          return p?.httpGet?.path
        }
        expect(target(c.readinessProbe), name).toBe("/readyz")
        expect(target(c.livenessProbe), name).toBe("/healthz")
        expect(target(c.startupProbe), name).toBe("/healthz")
      }
    }
  })

  it("Services select pods that exist, on ports those pods declare; workers dial the controller's Service", () => {
    const objects = k8sObjects()
    const services = objects.filter((o) => o.kind === "Service")
    expect(services.map((s) => s.metadata.name)).toContain("crank-controller")
    for (const service of services) {
      const selected = deployments().filter((d) => Object.entries(service.spec.selector ?? {}).every(([k, v]) => d.spec.template!.metadata.labels[k] === v))
      expect(selected.length, `Service ${service.metadata.name} selects no pod`).toBeGreaterThan(0)
      for (const d of selected) {
        const names = new Set(podOf(d).containers.flatMap((c) => (c.ports ?? []).map((p) => p.name)))
        for (const p of service.spec.ports ?? []) expect(names.has(String(p.targetPort)), `${service.metadata.name} → ${d.metadata.name}`).toBe(true)
      }
    }
    const controllerPort = services.find((s) => s.metadata.name === "crank-controller")!.spec.ports![0]!.port
    for (const d of deployments().filter((d) => d.metadata.labels?.["app.kubernetes.io/component"] === "worker")) {
      const url = podOf(d).containers[0]!.env!.find((v) => v.name === "CRANK_CONTROLLER_URL")!.value!
      expect(new URL(url).host, d.metadata.name).toBe(`crank-controller:${controllerPort}`)
    }
  })
})

describe("the compose file", () => {
  it("runs NATS 2.9, two controllers and the workers, each worker after a healthy controller; all checked on /readyz with the image's probe", () => {
    const { services } = compose()
    expect(services.nats?.image).toBe("nats:2.9")
    const controllers = Object.keys(services).filter((n) => services[n]!.command?.[0] === "controller")
    expect(controllers).toHaveLength(2)
    // Federated through the nats service, each under an id of its own, started after it.
    const ids = new Set<string>()
    for (const name of controllers) {
      const argv = services[name]!.command!
      const federation = argv[argv.indexOf("--federation") + 1]!
      expect(new URL(federation).hostname, name).toBe("nats")
      expect(new URL(federation).port, name).toBe("4222")
      ids.add(argv[argv.indexOf("--controller-id") + 1]!)
      expect(services[name]!.depends_on?.nats?.condition, name).toBe("service_started")
    }
    expect(ids.size).toBe(controllers.length)
    const workers = Object.entries(services).filter(([, s]) => s.command?.[0] === "worker")
    expect(workers.length).toBeGreaterThanOrEqual(controllers.length * 2)
    const script = healthcheckArgv()[2]
    for (const [name, s] of crankServices()) {
      const [form, program, flag, code, path, port] = s.healthcheck!.test
      expect([form, program, flag, code], `${name} checks its health with the image's probe script`).toEqual(["CMD", "node", "-e", script])
      expect(path, name).toBe("/readyz")
      expect(port, name).toBe(controllers.includes(name) ? "7070" : "7171")
      expect(s.read_only, name).toBe(true)
    }
    for (const [name, s] of workers) {
      const on = Object.entries(s.depends_on ?? {})
      expect(on.length, name).toBeGreaterThan(0)
      for (const [dependency, { condition }] of on) {
        expect(condition, name).toBe("service_healthy")
        expect(services[dependency]?.healthcheck, `${name} waits for ${dependency}, which has no health check`).toBeDefined()
      }
      const controller = new URL(s.environment!.CRANK_CONTROLLER_URL!).hostname
      expect(controllers, `${name} joins ${controller}`).toContain(controller)
      expect(Object.keys(s.depends_on!), name).toContain(controller)
      expect(new URL(s.environment!.CRANK_WORKER_ADVERTISE!).hostname, `${name} advertises its own service name`).toBe(name)
    }
  })
})

// ---------------------------------------------------------------------------------------------------------------
// The configurations, run.

/**
 * Moves a deployment's addresses to this machine. An address on any interface or loopback (0.0.0.0, 127.0.0.1)
 * moves to 127.0.0.1 and its port to the stand-in `ports` gives; a named one (`controller-a:7070`, `nats:4222`)
 * to the local port `hosts` gives; any other is an error, so no address goes unnoticed.
 */
const localizer = (ports: ReadonlyMap<string, number>, dataDir: string, hosts: ReadonlyMap<string, number> = new Map()) => {
  const port = (p: string) => {
    const local = ports.get(p)
    if (local === undefined) throw new Error(`no local stand-in for port ${p}`)
    return local
  }
  const address = (host: string, p: string) => {
    const named = hosts.get(`${host}:${p}`)
    if (named !== undefined) return named
    if (/^(0\.0\.0\.0|127\.0\.0\.1|localhost|::|\[::\])$/.test(host)) return port(p)
    throw new Error(`no local stand-in for ${host}:${p}`)
  }
  const value = (text: string) =>
    text
      .replace(/\b(wss?|https?|nats):\/\/([^/:'"\s]+):(\d+)/g, (_, scheme: string, host: string, p: string) => `${scheme}://127.0.0.1:${address(host, p)}`)
      .replace(/^(0\.0\.0\.0|::)$/, "127.0.0.1")
  const env = (vars: Record<string, string>): Record<string, string> => {
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(vars)) out[k] = k === "CRANK_PORT" ? String(port(v)) : k === "CRANK_DATA_DIR" ? dataDir : value(v)
    return out
  }
  /** A command line's arguments: a bare port number too (a health check's). */
  const argv = (args: ReadonlyArray<string>) => args.map((a) => (ports.has(a) ? String(port(a)) : value(a)))
  return { value, env, port, argv }
}

/** GET as kubelet does: a connection of its own, over TLS without checking the server's certificate nor presenting one. */
const probe = (url: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const get = url.startsWith("https:") ? httpsGet : httpGet
    get(url, { rejectUnauthorized: false, timeout: 5_000, agent: false }, (response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    })
      .on("error", reject)
      .on("timeout", function (this: { destroy: () => void }) {
        this.destroy()
      })
  })

/** Runs a `node -e` health check as written (its addresses localized); its exit status. */
const runCheck = (argv: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  spawnSync(argv[0] === "node" ? process.execPath : argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 20_000, env: { PATH: process.env.PATH, ...env } })
    .status

/** `crank token create ...` as the files' comments show it, against `dataRoot`: the token it prints. */
const createToken = async (args: ReadonlyArray<string>, dataRoot: string): Promise<string> => {
  const run = await processes.run([...args.filter((a, i) => a !== "--data-dir" && args[i - 1] !== "--data-dir"), "--data-dir", dataRoot])
  expect(run.code, run.stderr).toBe(0)
  return run.stdout.trim()
}

/** The arguments after `crank` of the one `crank token create` a file's comments show (after `marker`). */
const documentedTokenCommand = (file: string, marker: RegExp): Array<string> => {
  const line = read(file)
    .split("\n")
    .find((l) => marker.test(l))
  const args = line === undefined ? undefined : /\b(token create[^)"']*)/.exec(line)?.[1]
  if (args === undefined) throw new Error(`${file} no longer shows how to create a token (${marker})`)
  return args.trim().split(/\s+/)
}

interface Role {
  readonly args: ReadonlyArray<string>
  readonly env: Record<string, string>
}

interface Expected {
  /** The id the worker must join under (its node id, from its environment, and the worker's name). */
  readonly workerId: string
  /** The address it must advertise. */
  readonly advertised: RegExp
  /** How long a stop waits before it kills: the worker must have drained and exited 0 by then. */
  readonly stopMs: number
}

/**
 * Starts the controller, then the hello worker, as given; waits (bounded) for the worker to join; checks the id and
 * address it joined with and that it serves (asked by the CLI as an operator beside the controller: --data-dir);
 * runs `whileUp` (the probes); then SIGTERM: the worker exits 0 within `stopMs`, and the controller exits.
 */
const exercise = async (what: string, controller: Role, worker: Role, expected: Expected, whileUp: () => Promise<void>) => {
  const c = processes.start(controller.args, { env: controller.env, name: `${what} controller` })
  const listening = await c.waitForLine("controller listening on", 20_000)
  const w = processes.start(worker.args, { env: worker.env, name: `${what} worker` })
  const controllerUrl = worker.env.CRANK_CONTROLLER_URL!
  expect(listening, "the worker dials the address the controller listens on").toContain(controllerUrl)
  const joined = await registered(controllerUrl, controller.env.CRANK_DATA_DIR!, expected.workerId, () => `${w.stdout()}\n${w.stderr()}`)
  expect(joined.address).toMatch(expected.advertised)
  const invoked = await processes.run(
    ["invoke", "hello.greet", '{"message":"deploy"}', "--json", "--controller", controllerUrl, "--data-dir", controller.env.CRANK_DATA_DIR!],
    { timeoutMs: 20_000 },
  )
  expect(JSON.parse(invoked.stdout), invoked.stderr).toEqual({ greeting: "Hello, deploy", worker: expected.workerId })
  await whileUp()
  const exit = await w.stop("SIGTERM", expected.stopMs)
  expect(exit.code, w.stderr()).toBe(0)
  await c.stop("SIGTERM", 20_000)
}

/** Waits (bounded) until the controller lists `workerId` as registered or healthy, asked as an operator beside it. */
const registered = (controllerUrl: string, controllerDataDir: string, workerId: string, show: () => string) =>
  until(
    `${workerId} registered`,
    async () => {
      const run = await processes.run(["status", "--json", "--controller", controllerUrl, "--data-dir", controllerDataDir], { timeoutMs: 20_000 })
      const status = JSON.parse(run.stdout) as { workers: Array<{ id: string; state: string; address?: string }> }
      return status.workers.find((x) => x.id === workerId && (x.state === "registered" || x.state === "healthy"))
    },
    { timeoutMs: 30_000, show },
  )

/** A real nats-server (Debian's) on a free loopback port, stopped after the test. */
const natsServers: Array<NatsServer> = []
afterEach(async () => {
  await Promise.all(natsServers.splice(0).map((server) => server.stop()))
})
const startNats = async (): Promise<NatsServer> => {
  const server = await startNatsServer()
  natsServers.push(server)
  return server
}

/** `${NAME}`, `${NAME:?message}` and `${NAME:-default}` in a compose value, from `shell`. */
const interpolate = (text: string, shell: Record<string, string>): string => text.replace(/\$\{(\w+)(?::?[-?][^}]*)?\}/g, (m, name: string) => shell[name] ?? m)

const wssAt = (port: number) => new RegExp(`^wss://127\\.0\\.0\\.1:${port}$`)

/** Starting, joining and draining a mesh of TLS processes on two shared cores: bounded, but not by the default 60 s. */
const runTimeoutMs = 180_000

describe("the configurations, run as processes on loopback", () => {
  it(
    "Kubernetes: the controller's init step, then its container and the hello container (args, env over the image's ENV); every probe passes",
    async () => {
      const [controllerPort, workerPort] = [await freePort(), await freePort()]
      const dataDir = join(scratch, "k8s-data")
      const local = localizer(
        new Map([
          ["7070", controllerPort],
          ["7171", workerPort],
        ]),
        dataDir,
        new Map([["crank-controller:7070", controllerPort]]),
      )
      const all = pods()
      const controllerPod = all["crank-controller"]!
      // The Secrets, made as docs/deploy.md says: a token store and CA from `crank token create`, and one token.
      const offline = join(scratch, "k8s-offline")
      const token = await createToken(["token", "create", "--role", "worker", "--ttl", "1h"], offline)
      const secretFiles = join(offline, "controller")
      // The init containers' commands, with each volume's mount path moved to its local stand-in.
      const volumeDirs: Record<string, string> = { data: dataDir, ca: secretFiles, tmp: join(scratch, "k8s-tmp") }
      for (const init of controllerPod.initContainers ?? []) {
        let script = [...(init.command ?? []), ...(init.args ?? [])].join("\u0000")
        for (const m of init.volumeMounts ?? []) script = script.replaceAll(m.mountPath, volumeDirs[m.name]!)
        const [program, ...args] = script.split("\u0000")
        const run = spawnSync(program!, args, { encoding: "utf8", timeout: 20_000 })
        expect(run.status, `init container ${init.name}: ${run.stderr}`).toBe(0)
      }
      const role = (deployment: string, podName: string): Role => {
        const container = all[deployment]!.containers[0]!
        const env: Record<string, string> = { ...imageEnvironment() }
        for (const v of container.env ?? []) {
          if (v.value !== undefined) env[v.name] = v.value.replace(/\$\((\w+)\)/g, (m, name: string) => env[name] ?? m)
          else if (v.valueFrom?.fieldRef !== undefined) env[v.name] = { "metadata.name": podName, "status.podIP": "127.0.0.1" }[v.valueFrom.fieldRef.fieldPath]!
          else if (v.valueFrom?.secretKeyRef !== undefined) env[v.name] = token
        }
        return { args: [...(container.command ?? []), ...(container.args ?? [])], env: local.env(env) }
      }
      // Each probe's URL as kubelet asks it: an HTTPS GET, no client certificate, the server's not checked.
      const probeUrls = (deployment: string): Array<string> => {
        const container = all[deployment]!.containers[0]!
        const ports = new Map((container.ports ?? []).map((p) => [p.name, p.containerPort]))
        return [container.readinessProbe, container.livenessProbe, container.startupProbe].flatMap((p) =>
          p?.httpGet === undefined
            ? []
            : [`${(p.httpGet.scheme ?? "HTTP").toLowerCase()}://127.0.0.1:${local.port(String(ports.get(String(p.httpGet.port))))}${p.httpGet.path}`],
        )
      }
      const controllerProbes = probeUrls("crank-controller")
      const workerProbes = probeUrls("crank-hello")
      // The worker's readiness is asked of its listener over TLS: the probe the worker's old listener refused.
      expect(workerProbes).toContain(`https://127.0.0.1:${workerPort}/readyz`)
      expect(controllerProbes.length + workerProbes.length).toBe(6)
      await exercise(
        "k8s",
        role("crank-controller", "crank-controller-7d9f-abcde"),
        role("crank-hello", "crank-hello-5c6b-fghij"),
        {
          workerId: "crank-hello-5c6b-fghij/hello-1",
          advertised: wssAt(workerPort),
          stopMs: (all["crank-hello"]!.terminationGracePeriodSeconds ?? 30) * 1_000,
        },
        // Run once the worker is registered: its /readyz answers 200 from then on.
        async () => {
          for (const url of [...controllerProbes, ...workerProbes]) expect(await probe(url), `probe ${url}`).toBe(200)
        },
      )
    },
    runTimeoutMs,
  )

  it(
    "compose: the token as its comment makes it, controller-a and hello-a (over the image's ENV); their health checks and the image's HEALTHCHECK pass",
    async () => {
      const nats = await startNats()
      const [controllerPort, workerPort, closedPort] = [await freePort(), await freePort(), await freePort()]
      const dataDir = join(scratch, "compose-data")
      const local = localizer(
        new Map([
          ["7070", controllerPort],
          ["7171", workerPort],
        ]),
        dataDir,
        new Map([
          ["controller-a:7070", controllerPort],
          ["hello-a:7171", workerPort],
          ["nats:4222", nats.port],
        ]),
      )
      const { services } = compose()
      const token = await createToken(documentedTokenCommand("deploy/compose.yaml", /run --rm --no-deps controller-a token create/), dataDir)
      const role = (name: string): Role => {
        const service = services[name]!
        const env = { ...imageEnvironment() }
        for (const [k, v] of Object.entries(service.environment ?? {})) env[k] = interpolate(String(v), { CONTROLLER_A_TOKEN: token })
        return { args: local.argv(service.command!), env: local.env(env) }
      }
      const controller = role("controller-a")
      const worker = role("hello-a")
      const check = (name: string) => {
        const [form, ...argv] = services[name]!.healthcheck!.test
        expect(form).toBe("CMD")
        return local.argv(argv)
      }
      const image = healthcheckArgv()
      // One script: the image's HEALTHCHECK is compose's probe without arguments.
      expect(services["controller-a"]!.healthcheck!.test.slice(1, 4)).toEqual(image)
      // Nothing listening: the check fails (it is a real judge).
      expect(runCheck(image, { CRANK_PORT: String(closedPort), CRANK_WORKER_LISTEN: `wss://127.0.0.1:${closedPort}` })).toBe(1)
      await exercise(
        "compose",
        controller,
        worker,
        { workerId: "hello-a/hello-1", advertised: wssAt(workerPort), stopMs: durationMs(services["hello-a"]!.stop_grace_period!) },
        async () => {
          expect(runCheck(check("controller-a")), "controller-a's health check").toBe(0)
          expect(runCheck(check("hello-a")), "hello-a's health check").toBe(0)
          // Each container has its own loopback: in the controller's, nothing listens on the worker port; in the
          // worker's, nothing on the controller port.
          expect(runCheck(image, { ...controller.env, CRANK_WORKER_LISTEN: `wss://0.0.0.0:${closedPort}` }), "HEALTHCHECK in controller-a").toBe(0)
          expect(runCheck(image, { ...worker.env, CRANK_PORT: String(closedPort) }), "HEALTHCHECK in hello-a").toBe(0)
        },
      )
    },
    runTimeoutMs,
  )

  it(
    "compose: a request asked of controller-a is served by controller-b's hello-b, forwarded through the NATS server",
    async () => {
      const nats = await startNats()
      const [portA, portB, workerPort, unused] = [await freePort(), await freePort(), await freePort(), await freePort()]
      const hosts = new Map([
        ["controller-a:7070", portA],
        ["controller-b:7070", portB],
        ["hello-b:7171", workerPort],
        ["nats:4222", nats.port],
      ])
      const [dataA, dataB] = [join(scratch, "federation-a"), join(scratch, "federation-b")]
      const { services } = compose()
      const token = await createToken(documentedTokenCommand("deploy/compose.yaml", /run --rm --no-deps controller-b token create/), dataB)
      const role = (name: string, local: ReturnType<typeof localizer>): Role => {
        const env = { ...imageEnvironment() }
        for (const [k, v] of Object.entries(services[name]!.environment ?? {})) env[k] = interpolate(String(v), { CONTROLLER_B_TOKEN: token })
        return { args: local.argv(services[name]!.command!), env: local.env(env) }
      }
      const start = (name: string, r: Role) => processes.start(r.args, { env: r.env, name: `compose ${name}` })
      // The image's CRANK_WORKER_LISTEN names port 7171 in the controllers' containers too, where nothing uses it.
      const controllerLocal = (port: number, dataDir: string) =>
        localizer(
          new Map([
            ["7070", port],
            ["7171", unused],
          ]),
          dataDir,
          hosts,
        )
      const a = start("controller-a", role("controller-a", controllerLocal(portA, dataA)))
      const b = start("controller-b", role("controller-b", controllerLocal(portB, dataB)))
      await Promise.all([a.waitForLine("controller listening on", 20_000), b.waitForLine("controller listening on", 20_000)])
      const workerLocal = localizer(
        new Map([
          ["7070", portB],
          ["7171", workerPort],
        ]),
        join(scratch, "federation-worker"),
        hosts,
      )
      const worker = start("hello-b", role("hello-b", workerLocal))
      // controller-a has no hello worker of its own: the answer comes from controller-b's, once a has heard of it.
      const served = await until(
        "hello.greet asked of controller-a answered by hello-b",
        async () => {
          const run = await processes.run(
            ["invoke", "hello.greet", '{"message":"federated"}', "--json", "--controller", `wss://127.0.0.1:${portA}`, "--data-dir", dataA],
            { timeoutMs: 20_000 },
          )
          return run.code === 0 && (JSON.parse(run.stdout) as { worker: string })
        },
        { timeoutMs: 60_000, show: () => `${worker.stderr()}\n${a.stderr()}` },
      )
      expect(served.worker).toBe("hello-b/hello-1")
      expect((await worker.stop("SIGTERM", durationMs(services["hello-b"]!.stop_grace_period!))).code, worker.stderr()).toBe(0)
      await Promise.all([a.stop("SIGTERM", 20_000), b.stop("SIGTERM", 20_000)])
    },
    runTimeoutMs,
  )

  it(
    "systemd: the units' ExecStart and Environment, the token as the unit's comment makes it, modules linked as it says; two instances side by side",
    async () => {
      const controllerPort = await freePort()
      const ports = new Map([["7070", controllerPort]])
      const modules = join(scratch, "opt/crank/workers")
      mkdirSync(modules, { recursive: true })
      for (const name of ["hello", "document-convert"]) symlinkSync(join(repoRoot, "examples", name), join(modules, name))
      const [controllerUnit, workerUnit] = unitFiles as [string, string]
      const controllerData = join(scratch, "systemd-controller")
      const token = await createToken(documentedTokenCommand(workerUnit, /CRANK_TOKEN=/), controllerData)
      // Each unit's state directory is its own: a localizer each.
      const role = (file: string, instance: string, dataDir: string, extra: Record<string, string> = {}): Role => ({
        args: execStart(file, instance)
          .slice(1)
          .map((a) => a.replace(/^\/opt\/crank\/workers\//, `${modules}/`)),
        env: { ...localizer(ports, dataDir).env(unitEnvironment(file, instance)), ...extra },
      })
      const worker = (instance: string) => role(workerUnit, instance, join(scratch, `systemd-worker-${instance}`), { CRANK_TOKEN: token })
      expect(execStart(controllerUnit, "hello")[0]).toBe("crank")
      // The controller's data directory is its StateDirectory, which the operator's token command writes to.
      expect(unitEnvironment(controllerUnit, "hello").CRANK_DATA_DIR).toBe(`/var/lib/${unit(controllerUnit).one("StateDirectory")}`)
      const stopMs = durationMs(unit(workerUnit).one("TimeoutStopSec")!)
      const controller = role(controllerUnit, "", controllerData)
      await exercise(
        "systemd",
        controller,
        worker("hello"),
        { workerId: `${hostname()}-hello/hello-1`, advertised: /^wss:\/\/127\.0\.0\.1:\d+$/, stopMs },
        async () => {
          // A second instance on the same host gets a certificate of its own (its node id is its own) and joins.
          const second = worker("document-convert")
          const p = processes.start(second.args, { env: second.env, name: "systemd crank-worker@document-convert" })
          await registered(second.env.CRANK_CONTROLLER_URL!, controllerData, `${hostname()}-document-convert/document-convert-1`, () => p.stderr())
          expect((await p.stop("SIGTERM", stopMs)).code, p.stderr()).toBe(0)
        },
      )
    },
    runTimeoutMs,
  )
})
