// `ftvm crash primary|backup`: SIGKILL a host of the cluster `ftvm ft` runs, from
// another terminal. The launcher keeps the current pids in a control file.
import { readFileSync } from "node:fs";
import type { Command } from "./args.js";
import { EXIT_FAIL, EXIT_OK, UsageError, parse } from "./args.js";
import { controlFile } from "./ft.js";

export const crashCommand: Command = {
  name: "crash",
  summary: "crash a process of the running `ftvm ft` cluster: ftvm crash primary|backup|arbiter",
  usage:
    "usage: ftvm crash primary|backup|arbiter\n\nSends SIGKILL to the current primary, backup or arbiter of the cluster `ftvm ft` runs on this machine\n(the launcher restarts a dead arbiter with its state).",
  run(argv) {
    const p = parse(argv, {}, this.usage);
    if (p.values.help) {
      process.stdout.write(this.usage + "\n");
      return EXIT_OK;
    }
    const role = p.positionals[0];
    if (p.positionals.length !== 1 || (role !== "primary" && role !== "backup" && role !== "arbiter")) throw new UsageError(this.usage);
    let c: { launcherPid: number; primaryPid?: number; backupPid?: number; arbiterPid?: number };
    try {
      c = JSON.parse(readFileSync(controlFile(), "utf8"));
    } catch {
      process.stderr.write(`ftvm crash: no running cluster (no ${controlFile()}); start one with ftvm ft <prog>\n`);
      return EXIT_FAIL;
    }
    const pid = role === "primary" ? c.primaryPid : role === "backup" ? c.backupPid : c.arbiterPid;
    if (!pid) {
      process.stderr.write(`ftvm crash: the cluster has no ${role} right now\n`);
      return EXIT_FAIL;
    }
    try {
      process.kill(pid, "SIGKILL");
    } catch (e) {
      process.stderr.write(`ftvm crash: could not kill the ${role} (pid ${pid}): ${(e as Error).message}\n`);
      return EXIT_FAIL;
    }
    process.stderr.write(`ftvm crash: sent SIGKILL to the ${role} (pid ${pid})\n`);
    return EXIT_OK;
  },
};
