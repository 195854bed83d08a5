// The one base class of operating errors: the world is not as ftvm needs it (a bad
// option, a missing or malformed file, a refused connection, a host that cannot start),
// as opposed to a programmer error (a broken invariant, an assertion). It lives below
// every layer and imports nothing, so the VM, the assembler, the file formats and the
// hosts can all throw one, and the CLI turns any of them into one `ftvm: ...` line with
// its exit code instead of a stack trace (DESIGN.md: handle an operating error, crash on
// a programmer error).

/** Bad command line or bad input file (the README's documented code). */
export const EXIT_BAD_INPUT = 2;

export class OperatingError extends Error {
  constructor(
    message: string,
    /** The process exit code this error means (see the README's exit codes). */
    readonly exitCode: number = EXIT_BAD_INPUT,
  ) {
    super(message);
  }
}
