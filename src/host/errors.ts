// Operating errors of a host process: the world is not as the host needs it (the primary
// is gone before the backup could reach it, a join was refused), as opposed to a
// programmer error. The CLI prints the message in one line and exits with the code,
// never a stack trace (DESIGN.md: handle an operating error, crash on a programmer error).
import { OperatingError } from "../base/errors.js";

/** Exit code of a host that could not take part (refused, or its peer is gone): the same as a host that lost a test-and-set. */
export const EXIT_REFUSED = 3;

export class HostError extends OperatingError {
  constructor(message: string, exitCode: number = EXIT_REFUSED) {
    super(message, exitCode);
  }
}
