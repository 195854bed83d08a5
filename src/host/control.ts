// The control endpoint of a running `ftvm ft` cluster: one small JSON file per launcher
// (`ftvm-ft-<uid>-<launcher pid>.json` in the temporary directory), named in the
// launcher's first line, always replaced whole (written to a temporary name, then
// renamed: a reader never sees half a file). It says which cluster this is, which
// program it runs, and its processes with their current roles. `ftvm crash` finds the
// launcher through it (and asks it, by signal, to kill the current primary or backup
// under its own rules); `ftvm ps` lists every running cluster from these files.
import { readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OperatingError } from "../base/errors.js";

/** Control files are per launcher (several clusters may run at once). */
export const CONTROL_FILE_PREFIX = `ftvm-ft-${process.getuid?.() ?? "user"}-`;
/** A control file larger than this is not one a launcher wrote (a few hundred bytes). */
const CONTROL_FILE_BYTES_MAX = 64 * 1024;

export function controlFile(launcherPid = process.pid): string {
  return join(tmpdir(), `${CONTROL_FILE_PREFIX}${launcherPid}.json`);
}

export interface ControlHost {
  role: string;
  pid: number;
  epoch: number;
  icount: number;
}

export interface Control {
  launcherPid: number;
  arbiterPid?: number;
  cluster?: string;
  program: string;
  startedAtMs: number;
  hosts: ControlHost[];
}

/** Replaces the control file whole (write, then rename). */
export function writeControl(path: string, c: Control): void {
  writeFileSync(path + ".tmp", JSON.stringify(c));
  renameSync(path + ".tmp", path);
}

export function removeControl(path: string): void {
  rmSync(path, { force: true });
}

/**
 * Keeps a launcher's control file current without blocking its event loop. The launcher
 * also serves the console sink and the switch, and replacing a file by rename on ext4
 * (the default `auto_da_alloc`) first writes the new file's data to the disk: with other
 * work on the disk a synchronous rename blocked the launcher for 2-190 ms, and the sink's
 * acknowledgements (so the guest's output) waited that long, about once a second. The
 * first write is synchronous (a reader may look as soon as the launcher names the file,
 * and creating a file forces no flush); later ones run on libuv's thread pool, one at a
 * time, and only the newest content waiting is written.
 */
export class ControlWriter {
  private written = false;
  private pending?: string;
  private busy?: Promise<void>;
  private closed = false;

  constructor(readonly path: string) {}

  write(c: Control): void {
    if (this.closed) return;
    if (!this.written) {
      this.written = true;
      return writeControl(this.path, c);
    }
    this.pending = JSON.stringify(c);
    this.busy ??= this.drain();
  }

  private async drain(): Promise<void> {
    while (this.pending !== undefined && !this.closed) {
      const text = this.pending;
      this.pending = undefined;
      try {
        await writeFile(this.path + ".tmp", text);
        if (!this.closed) await rename(this.path + ".tmp", this.path);
      } catch {
        // The control file is a convenience for `ftvm crash` and `ftvm ps`; the next update tries again.
      }
    }
    this.busy = undefined;
  }

  /** Removes the file once a write under way has finished (a late rename would bring it back). */
  async remove(): Promise<void> {
    this.closed = true;
    await this.busy;
    rmSync(this.path + ".tmp", { force: true });
    removeControl(this.path);
  }
}

/** Whether process `pid` exists (one of another user counts: signalling it is refused, EPERM). */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Reads a control file; undefined when it is not one or its launcher is gone. */
export function readControl(path: string): Control | undefined {
  try {
    const text = readFileSync(path, "utf8");
    if (text.length > CONTROL_FILE_BYTES_MAX) return undefined;
    const c = JSON.parse(text) as Partial<Control>;
    if (typeof c.launcherPid !== "number" || !Number.isSafeInteger(c.launcherPid) || c.launcherPid <= 0 || !processRunning(c.launcherPid)) return undefined;
    return { launcherPid: c.launcherPid, arbiterPid: c.arbiterPid, cluster: c.cluster, program: String(c.program ?? "?"), startedAtMs: Number(c.startedAtMs ?? 0), hosts: Array.isArray(c.hosts) ? c.hosts : [] };
  } catch {
    // Unreadable or removed under us: not a running cluster.
    return undefined;
  }
}

/** Every running cluster of this user, oldest launcher first. */
export function runningClusters(): Control[] {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(CONTROL_FILE_PREFIX) && n.endsWith(".json"))
    .map((n) => readControl(join(tmpdir(), n)))
    .filter((c): c is Control => c !== undefined)
    .sort((a, b) => a.startedAtMs - b.startedAtMs || a.launcherPid - b.launcherPid);
}

/**
 * The cluster a command means: the one named (by cluster id, launcher pid or control
 * file), or the only one running. Refused with what runs when that is ambiguous.
 */
export function findCluster(which?: string): Control {
  const all = runningClusters();
  const list = () => all.map((c) => `${c.cluster ?? "?"} (launcher pid ${c.launcherPid})`).join(", ") || "none";
  if (which !== undefined) {
    const c = which.endsWith(".json") ? readControl(which) : all.find((x) => x.cluster === which || String(x.launcherPid) === which);
    if (!c) throw new OperatingError(`no running cluster ${which} (running: ${list()})`, 1);
    return c;
  }
  if (all.length === 0) throw new OperatingError("no running cluster; start one with ftvm ft <prog>", 1);
  if (all.length > 1) throw new OperatingError(`${all.length} clusters are running: ${list()}; say which with --cluster ID (ftvm ps lists them)`, 1);
  return all[0];
}
