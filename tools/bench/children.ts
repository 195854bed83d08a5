// Child processes a benchmark starts (servers under test) die with it: a benchmark stopped
// with `timeout` or `kill` (SIGTERM, SIGHUP) would otherwise leave them running, and an
// `ftvm ft --listen` cluster left behind serves forever and loads the machine for every
// measurement after it. SIGINT is left alone: Ctrl-C reaches the whole process group
// anyway, and the benchmarks emit SIGINT themselves to stop a launcher running in-process.
import type { ChildProcess } from "node:child_process";

const live = new Set<ChildProcess>();
let installed = false;

/** Kills `p` with SIGKILL if this process is stopped by a signal or exits first. */
export function dieWithMe(p: ChildProcess): ChildProcess {
  live.add(p);
  p.once("exit", () => live.delete(p));
  if (!installed) {
    installed = true;
    const killAll = () => {
      for (const c of live) c.kill("SIGKILL");
    };
    process.once("exit", killAll);
    for (const sig of ["SIGTERM", "SIGHUP"] as const)
      process.once(sig, () => {
        killAll();
        process.exit(128 + (sig === "SIGTERM" ? 15 : 1));
      });
  }
  return p;
}
