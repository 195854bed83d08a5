// `ftvm crash primary|backup`: SIGKILL a host of the cluster `ftvm ft` runs, from
// another terminal, by asking the launcher (named in its control file) with a signal.
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT_FAIL, EXIT_OK, UsageError, count, defineCommand } from "./args.js";
import { CONTROL_FILE_PREFIX, controlFile } from "../host/launcher.js";

/** Launchers whose control file is readable and whose process runs. */
function runningLaunchers(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(CONTROL_FILE_PREFIX) || !name.endsWith(".json")) continue;
    try {
      const c = JSON.parse(readFileSync(join(tmpdir(), name), "utf8")) as { launcherPid?: unknown };
      const pid = c.launcherPid;
      if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 0) continue;
      process.kill(pid, 0);
      pids.push(pid);
    } catch {
      // Unreadable, or its launcher is gone: not a running cluster.
    }
  }
  return pids.sort((a, b) => a - b);
}

export const crashCommand = defineCommand({
  name: "crash",
  summary: "crash a process of the running `ftvm ft` cluster: ftvm crash primary|backup|arbiter",
  args: [["<role>", "primary, backup or arbiter"]],
  options: {
    launcher: { flags: "--launcher <pid>", help: "which cluster, when several run (the launcher's pid)", parse: count(1) },
  },
  more: `Asks the launcher of the cluster \`ftvm ft\` runs on this machine to SIGKILL its current
primary or backup (it refuses a kill that would leave no host with the guest's state), or
kills its arbiter (the launcher restarts it with its state).`,
  run(v, [role]) {
    if (role !== "primary" && role !== "backup" && role !== "arbiter") throw new UsageError(`crash takes primary, backup or arbiter, got "${role}"`);
    const launchers = runningLaunchers();
    const want = v.launcher as number | undefined;
    if (want !== undefined && !launchers.includes(want)) {
      process.stderr.write(`ftvm: no running cluster with launcher pid ${want} (running: ${launchers.join(", ") || "none"})\n`);
      return EXIT_FAIL;
    }
    if (want === undefined && launchers.length !== 1) {
      process.stderr.write(
        launchers.length === 0
          ? `ftvm: no running cluster (no control file ${join(tmpdir(), `${CONTROL_FILE_PREFIX}<pid>.json`)}); start one with ftvm ft <prog>\n`
          : `ftvm: ${launchers.length} clusters are running (launcher pids ${launchers.join(", ")}); say which with --launcher PID\n`,
      );
      return EXIT_FAIL;
    }
    const c = { launcherPid: want ?? launchers[0] };
    if (role === "arbiter") {
      // The arbiter has no rule to keep: kill it directly (the launcher restarts it and
      // rewrites its control file with the new pid).
      let arbiterPid: unknown;
      try {
        arbiterPid = (JSON.parse(readFileSync(controlFile(c.launcherPid), "utf8")) as { arbiterPid?: unknown }).arbiterPid;
        if (typeof arbiterPid !== "number") throw new Error("no arbiter pid");
        process.kill(arbiterPid, "SIGKILL");
      } catch (e) {
        process.stderr.write(`ftvm: could not kill the arbiter of launcher ${c.launcherPid}: ${(e as Error).message}\n`);
        return EXIT_FAIL;
      }
      process.stderr.write(`ftvm: sent SIGKILL to the arbiter (pid ${arbiterPid})\n`);
      return EXIT_OK;
    }
    // The launcher does the kill: it knows from the arbiter which host is primary now, and
    // refuses (in its own output) a kill that would leave no host with the guest's state.
    try {
      process.kill(c.launcherPid, role === "primary" ? "SIGUSR1" : "SIGUSR2");
    } catch (e) {
      process.stderr.write(`ftvm: the launcher (pid ${c.launcherPid}) is not running: ${(e as Error).message}\n`);
      return EXIT_FAIL;
    }
    process.stderr.write(`ftvm: asked the launcher (pid ${c.launcherPid}) to crash the ${role}; its output says what it did\n`);
    return EXIT_OK;
  },
});
