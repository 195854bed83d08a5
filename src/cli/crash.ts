// `ftvm crash primary|backup|arbiter`: SIGKILL a process of a running `ftvm ft` cluster
// from another terminal. The cluster is found through its control endpoint (src/host/
// control.ts): the only one running, or the one named with --cluster. Primary and backup
// are killed by the launcher (asked with a signal), which knows which host holds which
// role now and refuses a kill that would leave no host with the guest's state.
import { EXIT_OK, UsageError, defineCommand } from "./args.js";
import { findCluster } from "../host/control.js";
import { HostError } from "../host/errors.js";

/** Nothing to act on (no such cluster or process): the documented exit code 1. */
const EXIT_NOTHING = 1;

export const crashCommand = defineCommand({
  name: "crash",
  summary: "crash a process of the running `ftvm ft` cluster: ftvm crash primary|backup|arbiter",
  args: [["<role>", "primary, backup or arbiter"]],
  options: {
    cluster: { flags: "--cluster <id>", help: "which cluster, when several run: its id, its launcher's pid, or its control file (ftvm ps lists them)" },
    launcher: { flags: "--launcher <pid>", help: "the same, by the launcher's pid (kept for old scripts)" },
  },
  more: `Kills the arbiter directly (the launcher restarts it with its state); asks the launcher
to kill the current primary or backup, and says so; the launcher's own output says what
it did.`,
  run(v, [role]) {
    if (role !== "primary" && role !== "backup" && role !== "arbiter") throw new UsageError(`crash takes primary, backup or arbiter, got "${role}"`);
    const c = findCluster((v.cluster as string | undefined) ?? (v.launcher as string | undefined));
    const name = `cluster ${c.cluster ?? "?"} (launcher pid ${c.launcherPid})`;
    const kill = (pid: number, signal: NodeJS.Signals, what: string) => {
      try {
        process.kill(pid, signal);
      } catch (e) {
        throw new HostError(`could not signal the ${what} of ${name} (pid ${pid}): ${(e as Error).message}`, EXIT_NOTHING);
      }
    };
    if (role === "arbiter") {
      // The arbiter has no rule to keep: kill it directly (the launcher restarts it and
      // rewrites its control file with the new pid).
      if (c.arbiterPid === undefined) throw new HostError(`${name} names no arbiter process (an etcd arbiter has none: kill or pause one of its members instead; see docs/etcd.md)`, EXIT_NOTHING);
      kill(c.arbiterPid, "SIGKILL", "arbiter");
      process.stderr.write(`ftvm: sent SIGKILL to the arbiter (pid ${c.arbiterPid}) of ${name}\n`);
      return EXIT_OK;
    }
    kill(c.launcherPid, role === "primary" ? "SIGUSR1" : "SIGUSR2", "launcher");
    process.stderr.write(`ftvm: asked the launcher of ${name} to crash the ${role}; its output says what it did\n`);
    return EXIT_OK;
  },
});
