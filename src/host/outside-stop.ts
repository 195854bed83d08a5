// Stops asked of the launcher from outside: SIGTERM, SIGHUP, and its parent's end. A
// launcher whose parent died must not keep its cluster running. A benchmark stopped by
// `timeout`, or a script killed by its supervisor, used to leave `ftvm ft --listen` serving
// (and loading the machine) for as long as nobody noticed. The hosts follow the launcher
// through their stdin pipe (--exit-with-parent), but the launcher's own stdin may be the
// user's terminal or /dev/null, so it cannot learn of its parent's end that way. Linux's
// PR_SET_PDEATHSIG is not reachable from Node without a native addon; what is portable is
// the parent's pid: when the parent dies the process is re-parented (to init or to a
// subreaper), so `process.ppid` changes. The launcher polls it.

/** How often the launcher looks at its parent's pid: rare enough to cost nothing, soon enough for a user. */
export const PARENT_CHECK_INTERVAL_MS = 250;

/**
 * Calls `onGone` once, soon after the process that started this one has exited. Returns
 * a function that stops watching. The timer does not keep the process alive.
 */
export function watchParent(onGone: () => void, intervalMs = PARENT_CHECK_INTERVAL_MS): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Once the parent is gone, the pipes it read our output from may be closed: a write would
 * fail with EPIPE, and an unhandled stream error would end the launcher before it stopped
 * its hosts. What is left to say goes nowhere instead.
 */
export function ignoreClosedOutput(): void {
  for (const s of [process.stdout, process.stderr]) s.on("error", () => undefined);
}

/** Why a launcher was told to stop from outside: a signal, or its parent's end. */
export type OutsideStop = "SIGTERM" | "SIGHUP" | "parent";

/**
 * The exit status for each (the shell's convention, 128 + the signal's number): SIGTERM
 * 143; SIGHUP 129, and a parent that died is a hang-up too (the process it answered to
 * is gone).
 */
export const OUTSIDE_STOP_EXIT_CODE: Record<OutsideStop, number> = { SIGTERM: 143, SIGHUP: 129, parent: 129 };

export interface OutsideStops {
  /** The first stop asked for, if any. */
  readonly why: OutsideStop | undefined;
  /** Calls `f` at the first stop (at once if one already came). */
  onStop(f: (why: OutsideStop) => void): void;
  /** Removes the signal handlers and stops watching the parent; a later SIGTERM or SIGHUP ends the process at once, as by default. */
  dispose(): void;
}

/**
 * SIGTERM, SIGHUP and the parent's end, turned into one "stop" the launcher handles like
 * Ctrl-C: it stops its hosts, prints its summary and exits. Installed before any process
 * is started, so none is left behind whatever moment the stop comes.
 */
export function outsideStops(): OutsideStops {
  let why: OutsideStop | undefined;
  const listeners: ((why: OutsideStop) => void)[] = [];
  const stop = (w: OutsideStop) => {
    if (why !== undefined) return;
    why = w;
    // Whoever read our output may be gone with the parent (or with the terminal, on SIGHUP).
    if (w !== "SIGTERM") ignoreClosedOutput();
    for (const f of listeners.splice(0)) f(w);
  };
  const onTerm = () => stop("SIGTERM");
  const onHup = () => stop("SIGHUP");
  process.on("SIGTERM", onTerm);
  process.on("SIGHUP", onHup);
  const unwatch = watchParent(() => stop("parent"));
  return {
    get why() {
      return why;
    },
    onStop(f) {
      if (why !== undefined) f(why);
      else listeners.push(f);
    },
    dispose() {
      process.off("SIGTERM", onTerm);
      process.off("SIGHUP", onHup);
      unwatch();
    },
  };
}
