// Ctrl-C before the command has started: the TypeScript loader and the command's modules
// take a second or more to load on a busy machine, and a SIGINT in that time used to kill
// the process without a word (a `record` left no log at all). The entry (main.ts)
// installs this handler before it loads anything else; the command then learns whether
// the user already asked it to stop (`record` writes a complete, empty log and exits 130).

export const early = { interrupted: false };

const onEarlySigint = () => {
  early.interrupted = true;
};

/** What the `ftvm` executable (ftvm.mjs) caught before this module loaded, and its handler. */
const fromExecutable = (globalThis as { ftvmEarlySigint?: { interrupted: boolean; handler: () => void } }).ftvmEarlySigint;

export function catchEarlySigint(): void {
  // Installed before the executable's handler is removed, so no SIGINT falls between them.
  process.on("SIGINT", onEarlySigint);
  if (fromExecutable) {
    process.off("SIGINT", fromExecutable.handler);
    if (fromExecutable.interrupted) early.interrupted = true;
  }
}

/** Hands SIGINT back to the command (or to Node's default: exit at once). */
export function releaseEarlySigint(): void {
  process.off("SIGINT", onEarlySigint);
}
