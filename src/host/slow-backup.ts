// "Slow the backup" (the dashboard's button): the launcher stops the backup's process
// (SIGSTOP) for most of every period and lets it run (SIGCONT) for the rest, so the
// backup replays slower than the primary runs and the backup's lag and the primary's
// throttle show. No host needs to know: it is done from outside, like a busy machine.
// The stopped phases are far shorter than the failure detector's timeout (1 s by
// default), so neither side suspects the other.

/** The backup runs this long, then is stopped this long, in turn (about 4 times slower). */
export const SLOW_BACKUP_RUN_MS = 20;
export const SLOW_BACKUP_STOP_MS = 60;

/**
 * Starts slowing process `pid` down. `stillBackup` is asked before every step: once it
 * says no (the process became the primary, or died) the slowing ends by itself and
 * `ended` is told why. The returned function ends it (the process is always left running).
 */
export function slowProcess(pid: number, stillBackup: () => boolean, ended: (why: string) => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const stop = (why?: string) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    try {
      process.kill(pid, "SIGCONT");
    } catch {
      // Gone.
    }
    ended(why ?? "asked to");
  };
  const step = (stopNow: boolean) => {
    if (done) return;
    if (!stillBackup()) return stop("it is no longer the backup");
    try {
      process.kill(pid, stopNow ? "SIGSTOP" : "SIGCONT");
    } catch {
      return stop("it is gone");
    }
    timer = setTimeout(() => step(!stopNow), stopNow ? SLOW_BACKUP_STOP_MS : SLOW_BACKUP_RUN_MS);
  };
  timer = setTimeout(() => step(true), SLOW_BACKUP_RUN_MS);
  return () => stop();
}
