// How the ftvm command reports an error that reached its top: an operating error (any
// OperatingError, or a system error such as a missing file or a port in use) is one
// `ftvm: ...` line with its exit code; anything else is a programmer error, which still
// fails loudly (exit 70) with where it happened, and FTVM_DEBUG=1 prints its stack trace
// (and the trace of operating errors too, for whoever debugs ftvm itself).
import { OperatingError } from "../base/errors.js";
import { EXIT_USAGE } from "./args.js";

/** A bug in ftvm (EX_SOFTWARE of sysexits.h): not the user's input, not the world. */
export const EXIT_INTERNAL = 70;

/** System error codes that are the world's state, not a bug: reported in one line. */
const OPERATING_ERRNO = new Set(["ENOENT", "EACCES", "EPERM", "EISDIR", "ENOTDIR", "EEXIST", "EADDRINUSE", "EADDRNOTAVAIL", "ENOTFOUND", "ECONNREFUSED", "ECONNRESET", "ENOSPC", "EROFS", "EMFILE"]);

export function debugging(): boolean {
  const v = process.env.FTVM_DEBUG;
  return v !== undefined && v !== "" && v !== "0";
}

/** Writes the report of `e` to stderr and returns the exit code. */
export function reportError(e: unknown): number {
  const debug = debugging();
  if (e instanceof OperatingError) {
    process.stderr.write(`ftvm: ${e.message}\n${debug ? `${e.stack}\n` : ""}`);
    return e.exitCode;
  }
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (e instanceof Error && typeof code === "string" && OPERATING_ERRNO.has(code)) {
    process.stderr.write(`ftvm: ${e.message}\n${debug ? `${e.stack}\n` : ""}`);
    return EXIT_USAGE;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  if (debug) {
    process.stderr.write(`ftvm: internal error (a bug in ftvm):\n${err.stack}\n`);
  } else {
    // The first frame of our own code says where, in one line: enough to report the bug.
    const where = (err.stack ?? "").split("\n").find((l) => /^\s+at /.test(l))?.trim().replace(/^at /, "") ?? "unknown place";
    process.stderr.write(`ftvm: internal error (a bug in ftvm): ${err.name}: ${err.message} (${where}); FTVM_DEBUG=1 prints the stack trace\n`);
  }
  return EXIT_INTERNAL;
}

/**
 * Errors thrown outside the command's own await chain (a socket callback, a timer) take
 * the same way out as errors of the command: one line, their exit code.
 */
export function installLastResort(): void {
  const last = (e: unknown) => {
    const code = reportError(e);
    process.exitCode = code;
    process.exit(code);
  };
  process.on("uncaughtException", last);
  process.on("unhandledRejection", last);
}
