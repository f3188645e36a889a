/** A bad command line: the CLI prints it with the command's usage and exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError"
}

/** A worker module that could not be loaded (missing export, a throw or a syntax error on import). */
export class WorkerModuleError extends Error {
  override readonly name = "WorkerModuleError"
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message)
  }
}
