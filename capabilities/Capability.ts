/**
 * A capability is a versioned, schema-checked contract: `hello.greet@1.0.0` takes this input and returns that
 * output. Workers implement capabilities; callers ask for one by id and semver range.
 *
 * The definition holds live `Schema`s (so the client infers types and the worker validates input before the
 * handler runs); `descriptorOf` turns it into a plain `CapabilityDescriptor` that travels in `Register` frames and
 * feeds the catalog.
 */
import * as Schema from "effect/Schema"
import semver from "semver"

/**
 * An error a capability's handler may raise, besides the runtime's own codes. `retriable` is part of the
 * contract: a caller seeing this code is told whether trying again may succeed, whatever the handler said.
 */
export interface ErrorSpec<Code extends string = string> {
  readonly code: Code
  readonly description: string
  readonly retriable: boolean
}

/** What a worker must offer to host this capability (matched against the worker's own `placement`). */
export interface Placement {
  readonly gpu?: boolean
  readonly labels?: Readonly<Record<string, string>>
}

/** `Placement` on the wire: in descriptors (what a capability requires) and in `Register` (what a worker offers). */
export const PlacementSchema = Schema.Struct({
  gpu: Schema.optionalKey(Schema.Boolean),
  labels: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
})

/** How a router chooses among a capability's workers (actors/routing/strategy.ts has one sentence on each). */
export const strategyNames = ["round-robin", "least-in-flight", "latency-aware", "affinity"] as const
export type StrategyName = (typeof strategyNames)[number]

/**
 * A capability's default routing, used when a call names no strategy of its own: e.g. `{ strategy:
 * "least-in-flight" }`, or `{ strategy: "affinity", key: (input) => input.userId }` to send every request for one
 * key to one worker. The key is taken by the client from the input and travels in the request (`Invoke.route`),
 * so the controller's relay, which never sees the function, routes by the same key.
 */
export interface Routing<I = any> {
  readonly strategy: StrategyName
  /** The affinity key of an input. */
  key?(input: I): string | number
}

/**
 * `E` is the union of the codes the capability declares (`"DIVIDE_BY_ZERO" | ...`, `never` for none): what
 * `implement`'s `context.error` and `declaredError` accept, so raising an undeclared code is a compile error.
 */
export interface Capability<I = any, O = any, E extends string = string> {
  readonly id: string
  readonly version: string
  readonly name: string
  readonly description: string
  readonly input: Schema.Codec<I, unknown>
  readonly output: Schema.Codec<O, unknown>
  readonly errors: ReadonlyArray<ErrorSpec<E>>
  readonly idempotent: boolean
  readonly tags: ReadonlyArray<string>
  readonly placement: Placement
  readonly estimatedDurationMs: number | undefined
  /** Default routing of its calls; round-robin when absent. */
  readonly routing?: Routing<I> | undefined
  /**
   * True for a capability that answers with a stream of outputs (each one checked by `output`), called with
   * `client.stream` and implemented with `implementStream`.
   */
  readonly stream?: boolean | undefined
}

/**
 * The input type a capability's schema decodes to; `unknown` for anything else (a string ref such as
 * `"hello.greet@^1"`, whose input only the worker checks). `unknown` rather than `never` so one generic
 * `invoke<T extends Capability | string>` can take `InputOf<T>` for both.
 */
export type InputOf<C> = C extends Capability<infer I, any> ? I : unknown
/** The output type a capability's schema decodes to; `unknown` for a string ref, as for `InputOf`. */
export type OutputOf<C> = C extends Capability<any, infer O> ? O : unknown
/** The error codes a capability declares, as a union of literals (`never` when it declares none). */
export type ErrorsOf<C> = C extends Capability<any, any, infer E> ? E : never

/** Dotted lower-case segments, at least two: `hello.greet`, `email.send-batch`. */
const idPattern = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$/

export const isCapabilityId = (id: string): boolean => idPattern.test(id)

export class InvalidCapability extends Error {
  override readonly name = "InvalidCapability"
}

export interface CapabilityOptions<I, O, E extends string = string> {
  readonly id: string
  readonly version: string
  readonly name?: string
  readonly description?: string
  readonly input: Schema.Codec<I, unknown>
  readonly output: Schema.Codec<O, unknown>
  readonly errors?: ReadonlyArray<ErrorSpec<E>>
  readonly idempotent?: boolean
  readonly tags?: ReadonlyArray<string>
  readonly placement?: Placement
  readonly estimatedDurationMs?: number
  readonly routing?: Routing<I>
  /** Answers with a stream of outputs, each checked by `output` (see `Capability.stream`). */
  readonly stream?: boolean
}

/**
 * Defines a capability. Throws `InvalidCapability` at definition time for a malformed id or version, so a
 * bad contract never reaches a running mesh.
 *
 * The declared error codes are kept as literal types (`const E`): written inline, `errors: [{ code:
 * "DIVIDE_BY_ZERO", ... }]` gives `Capability<I, O, "DIVIDE_BY_ZERO">`, and a handler may raise only that code
 * (or `INVALID_INPUT`). Errors passed as a widened `Array<ErrorSpec>` variable give `string`: any code.
 *
 * @example
 * ```ts
 * const Divide = defineCapability({
 *   id: "math.divide", version: "1.0.0",
 *   input: Schema.Struct({ a: Schema.Number, b: Schema.Number }), output: Schema.Number,
 *   errors: [{ code: "DIVIDE_BY_ZERO", description: "b was 0", retriable: false }],
 * })
 * ```
 */
export const defineCapability = <I, O, const E extends string = never>(options: CapabilityOptions<I, O, E>): Capability<I, O, E> => {
  if (!isCapabilityId(options.id)) {
    throw new InvalidCapability(`capability id "${options.id}" must be dotted lower-case segments, e.g. hello.greet`)
  }
  if (semver.valid(options.version) !== options.version) {
    throw new InvalidCapability(`capability ${options.id} version "${options.version}" is not semver x.y.z`)
  }
  for (const spec of options.errors ?? []) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(spec.code)) {
      throw new InvalidCapability(`capability ${options.id} error code "${spec.code}" must be UPPER_SNAKE_CASE`)
    }
  }
  return {
    id: options.id,
    version: options.version,
    name: options.name ?? options.id,
    description: options.description ?? "",
    input: options.input,
    output: options.output,
    errors: options.errors ?? [],
    idempotent: options.idempotent ?? false,
    tags: options.tags ?? [],
    placement: options.placement ?? {},
    estimatedDurationMs: options.estimatedDurationMs,
    ...(options.routing === undefined ? {} : { routing: options.routing }),
    ...(options.stream === true ? { stream: true } : {}),
  }
}

/** The plain-data form of a capability: what a worker advertises and a catalog lists. */
/** Checked on the wire too: a peer advertising `1.x` or `latest` is refused, never compared later. */
const CapabilityId = Schema.String.check(Schema.makeFilter((id: string) => isCapabilityId(id) || `"${id}" is not a capability id (dotted lower-case segments)`))
const SemverVersion = Schema.String.check(Schema.makeFilter((v: string) => semver.valid(v) === v || `"${v}" is not a semver version x.y.z`))

export const CapabilityDescriptor = Schema.Struct({
  id: CapabilityId,
  version: SemverVersion,
  name: Schema.String,
  description: Schema.String,
  errors: Schema.Array(Schema.Struct({ code: Schema.String, description: Schema.String, retriable: Schema.Boolean })),
  idempotent: Schema.Boolean,
  tags: Schema.Array(Schema.String),
  placement: PlacementSchema,
  estimatedDurationMs: Schema.optionalKey(Schema.Number),
  /** The capability's default strategy (its affinity key function stays with the client). */
  routing: Schema.optionalKey(Schema.Struct({ strategy: Schema.Literals(strategyNames) })),
  /** Answers with a stream of outputs (`client.stream`); absent for one output. */
  stream: Schema.optionalKey(Schema.Boolean),
  /** JSON Schema documents of the input and output (of each item, for a stream), for tools and other languages. */
  inputSchema: Schema.Unknown,
  outputSchema: Schema.Unknown,
})
export type CapabilityDescriptor = typeof CapabilityDescriptor.Type

const jsonSchemaOf = (schema: Schema.Top): unknown => {
  try {
    return Schema.toJsonSchemaDocument(schema)
  } catch {
    // A schema with no JSON Schema form (a declared class, say) still works inside the mesh.
    return {}
  }
}

export const descriptorOf = (capability: Capability): CapabilityDescriptor => ({
  id: capability.id,
  version: capability.version,
  name: capability.name,
  description: capability.description,
  errors: capability.errors,
  idempotent: capability.idempotent,
  tags: capability.tags,
  placement: capability.placement,
  ...(capability.estimatedDurationMs === undefined ? {} : { estimatedDurationMs: capability.estimatedDurationMs }),
  ...(capability.routing === undefined ? {} : { routing: { strategy: capability.routing.strategy } }),
  ...(capability.stream === true ? { stream: true } : {}),
  inputSchema: jsonSchemaOf(capability.input),
  outputSchema: jsonSchemaOf(capability.output),
})

/** `hello.greet@1.0.0` */
export const keyOf = (capability: { readonly id: string; readonly version: string }): string => `${capability.id}@${capability.version}`
