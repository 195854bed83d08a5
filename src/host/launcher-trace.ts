// `ftvm ft --trace-dir DIR`: every host of the run writes its execution trace in DIR. A
// host gets `--trace DIR/host-N.trace` as it is started (N counts hosts in start order);
// when the run ends, each file is renamed to say which host it is and in which epochs it
// was backup and primary (host2-backup-e1-primary-e2-e3.trace), from the trace itself
// (its header and live marks) and the epochs the host reported. Files of hosts that never
// started a guest are removed. The summary lists the traces.
import { readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { traceExtent } from "../trace/align.js";
import { makeDirs, openTrace } from "./files.js";
import { HostError } from "./errors.js";

/** A --trace-dir that cannot be made is a bad launch option. */
const EXIT_BAD_OPTION = 2;

export interface TraceFileInfo {
  path: string;
  host: string;
  role: string;
  startIcount: number;
  lastIcount?: number;
  records: number;
  lives: { icount: number; epoch: number }[];
}

export class TraceDir {
  private next = 1;
  private readonly files: string[] = [];
  /** The highest epoch each host (by its id) reported being in. */
  private readonly maxEpoch = new Map<string, number>();

  constructor(
    readonly dir: string,
    private readonly intervalIcount?: number,
  ) {
    let old: string[];
    try {
      makeDirs(dir);
      old = readdirSync(dir).filter((n) => n.endsWith(".trace"));
    } catch (e) {
      throw new HostError(`--trace-dir ${dir}: ${(e as Error).message}`, EXIT_BAD_OPTION);
    }
    // Traces of another run beside this one's would be compared with them by trace diff DIR.
    if (old.length > 0) throw new HostError(`--trace-dir ${dir} already holds ${old.length} trace${old.length === 1 ? "" : "s"} (${old[0]}...): give a new or empty directory`, EXIT_BAD_OPTION);
  }

  /** The flags for the next host started. */
  hostArgs(): string[] {
    const path = join(this.dir, `host-${this.next++}.trace`);
    this.files.push(path);
    return ["--trace", path, ...(this.intervalIcount !== undefined ? ["--trace-interval", String(this.intervalIcount)] : [])];
  }

  /** A host said it is in `epoch` (news or status). */
  noteEpoch(host: string, epoch: unknown): void {
    if (typeof epoch === "number" && epoch > (this.maxEpoch.get(host) ?? 0)) this.maxEpoch.set(host, epoch);
  }

  /** Renames the traces by host and epochs; returns them (and the summary's lines). */
  finish(): { traces: TraceFileInfo[]; lines: string[] } {
    const traces: TraceFileInfo[] = [];
    const lines: string[] = [];
    for (const [i, path] of this.files.entries()) {
      let size = 0;
      try {
        size = statSync(path).size;
      } catch {
        continue;
      }
      if (size === 0) {
        // A host that never ran a guest (a joiner refused before its clone) has nothing to compare.
        rmSync(path, { force: true });
        continue;
      }
      try {
        const t = openTrace(path);
        const e = traceExtent(t.header, t.records);
        const host = t.header.host ?? "";
        const first = t.header.epoch ?? 0;
        const last = Math.max(this.maxEpoch.get(host) ?? first, first, ...e.lives.map((l) => l.epoch));
        const range = (a: number, b: number) => (b > a ? `e${a}-e${b}` : `e${a}`);
        const live = e.lives[0];
        const name =
          t.header.role === "backup"
            ? live
              ? `host${i + 1}-backup-${range(first, live.epoch - 1)}-primary-${range(live.epoch, last)}.trace`
              : `host${i + 1}-backup-${range(first, last)}.trace`
            : `host${i + 1}-primary-${range(first, last)}.trace`;
        const to = join(this.dir, name);
        renameSync(path, to);
        traces.push({ path: to, host, role: t.header.role, startIcount: e.startIcount, lastIcount: e.lastIcount, records: e.records, lives: e.lives });
        const lives = e.lives.map((l) => `, went live at icount ${l.icount.toLocaleString("en-US")} in epoch ${l.epoch}`).join("");
        lines.push(`    ${to}: ${t.header.role} from icount ${e.startIcount.toLocaleString("en-US")}${lives}; ${e.records} records through icount ${(e.lastIcount ?? e.startIcount).toLocaleString("en-US")}`);
      } catch (err) {
        // A host killed while writing its header leaves a file too short to read: say so, keep it.
        lines.push(`    ${path}: unreadable (${(err as Error).message})`);
      }
    }
    if (lines.length > 0) lines.unshift(`  traces (compare them all: ftvm trace diff ${this.dir}):`);
    return { traces, lines };
  }
}
