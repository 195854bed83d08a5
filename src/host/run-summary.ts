// The summary of an `ftvm ft` run, reduced from its event stream (run-events.ts) and from
// nothing else: the launcher feeds every event it emits to a RunTally and prints
// formatSummary(tally); a reader of `ftvm ft --json` that feeds the same events to its
// own RunTally gets the same text. That is what keeps the summary, the JSON output and
// the dashboard from disagreeing.
import type { EndEvent, RunEvent } from "./run-events.js";

/** Failovers and clones remembered one by one (the summary lists each); past this only counted. */
export const tallyDetailsMax = 10_000;
/** Clone failure reasons listed in the summary. */
const CLONE_FAILURES_LISTED_MAX = 5;

type Of<T extends RunEvent["type"]> = Extract<RunEvent, { type: T }>;

export class RunTally {
  run?: Of<"run">;
  end?: EndEvent;
  failovers: Of<"failover">[] = [];
  failoverCount = 0;
  clones: Of<"clone">[] = [];
  cloneCount = 0;
  /** Every kill carried out (also the arbiter's, and a host's own --crash-at-icount). */
  kills = 0;
  /** Scripted faults (--crash-…-after-ms and the like) the run ended before carrying out. */
  scriptedNotDone: string[] = [];
  alone: Of<"alone">[] = [];
  aloneCount = 0;
  cloneFailures: string[] = [];
  cloneFailureCount = 0;
  selfExits: Of<"exit">[] = [];
  joinersRefused = 0;
  respawnStopped?: string;
  /** The first time the guest was protected (the first pair formed). */
  pairFormedMs?: number;
  unprotectedMs = 0;
  private unprotectedSinceMs?: number;
  /** When the first output of each epoch reached the sink. */
  firstOutputMs = new Map<number, number>();
  /** The time of the last event seen. */
  lastMs = 0;

  add(e: RunEvent): void {
    this.lastMs = e.t;
    switch (e.type) {
      case "run":
        this.run = e;
        break;
      case "failover":
        this.failoverCount++;
        if (this.failovers.length < tallyDetailsMax) this.failovers.push(e);
        break;
      case "clone":
        this.cloneCount++;
        if (this.clones.length < tallyDetailsMax) this.clones.push(e);
        break;
      case "alone":
        this.aloneCount++;
        if (this.alone.length < tallyDetailsMax) this.alone.push(e);
        break;
      case "fault":
        if (e.fault === "kill") this.kills++;
        break;
      case "fault-refused":
        if (e.by === "script" && this.scriptedNotDone.length < tallyDetailsMax) this.scriptedNotDone.push(`${e.fault} of the ${e.target}: ${e.reason}`);
        break;
      case "clone-failed":
        this.cloneFailureCount++;
        if (this.cloneFailures.length < CLONE_FAILURES_LISTED_MAX) this.cloneFailures.push(e.reason);
        break;
      case "exit":
        if (e.kind === "failed" && this.selfExits.length < tallyDetailsMax) this.selfExits.push(e);
        if (e.kind === "refused") this.joinersRefused++;
        break;
      case "respawn-stopped":
        this.respawnStopped = e.reason;
        break;
      case "protection":
        if (e.protected) {
          this.pairFormedMs ??= e.t;
          if (this.unprotectedSinceMs !== undefined) this.unprotectedMs += e.t - this.unprotectedSinceMs;
          this.unprotectedSinceMs = undefined;
        } else this.unprotectedSinceMs ??= e.t;
        break;
      case "first-output":
        if (!this.firstOutputMs.has(e.epoch)) this.firstOutputMs.set(e.epoch, e.t);
        break;
      case "end":
        if (this.unprotectedSinceMs !== undefined) this.unprotectedMs += e.t - this.unprotectedSinceMs;
        this.unprotectedSinceMs = undefined;
        this.end = e;
        break;
      default:
        break;
    }
  }

  /** Time unprotected so far (while the run goes on: up to `nowMs`). */
  unprotectedNowMs(nowMs: number): number {
    return this.unprotectedMs + (this.unprotectedSinceMs !== undefined ? Math.max(0, nowMs - this.unprotectedSinceMs) : 0);
  }

  /** For a failover after a kill: from the SIGKILL to the first new output at the sink. */
  firstOutputFromKillMs(f: Of<"failover">): number | undefined {
    const first = this.firstOutputMs.get(f.epoch);
    if (f.fromKillMs === undefined || first === undefined) return undefined;
    return first - (f.t - f.fromKillMs);
  }
}

/** "a" or "a-b" (min-max) of a list of figures. */
function range(xs: number[], digits: number): string {
  if (xs.length === 0) return "-";
  const lo = Math.min(...xs).toFixed(digits);
  const hi = Math.max(...xs).toFixed(digits);
  return lo === hi ? lo : `${lo}-${hi}`;
}

const n = (x: number) => x.toLocaleString("en-US");

/** The summary's text: only from the tally (the run event's options, the end event's counters, the events between). */
export function formatSummary(t: RunTally): string {
  const e = t.end;
  if (!e) return "";
  const o = t.run?.options ?? {};
  const program = t.run?.program ?? "?";
  const lines: string[] = [];
  const what =
    e.outcome === "halted" || e.outcome === "trapped"
      ? `the guest ${e.outcome} at icount ${n(e.icount ?? 0)}`
      : e.outcome === "interrupted"
        ? "stopped by the user"
        : "no host is left to run the guest (a fresh host may not serve: the arbiter refuses it)";
  lines.push(`ftvm ft: ${program}: ${what} after ${(e.elapsedMs / 1000).toFixed(1)} s`);
  const s = e.sink;
  if (s) {
    lines.push(`  output: ${n(s.delivered)} bytes in ${s.chunksAccepted} releases, each byte exactly once`);
    lines.push(`  epochs: ${s.epoch}; failovers: ${t.failoverCount}; duplicates dropped by the sink: ${s.chunksDuplicate} chunks (${s.duplicateBytes} bytes); stale outputs refused: ${s.refusedStale}`);
    lines.push(
      `  divergences refused by the sink (re-sent bytes that differ from what it wrote): ${s.divergences}; output of another cluster refused: ${s.refusedCluster}` +
        (s.uncheckedBytes ? `; re-sent bytes too old to compare: ${s.uncheckedBytes}` : "") +
        (e.cluster ? `; cluster ${e.cluster}${e.arbiterRestarts ? `, arbiter restarted ${e.arbiterRestarts} time${e.arbiterRestarts === 1 ? "" : "s"}` : ""}` : ""),
    );
  } else lines.push(`  failovers: ${t.failoverCount}`);
  const d = e.disk;
  if (d)
    lines.push(
      `  disk: ${n(d.writes)} writes and ${n(d.reads)} reads performed by the disk server (hosts beside the image read it directly); writes refused (stale epoch): ${d.refusedStale}` +
        (d.ioErrors ? `; I/O errors: ${d.ioErrors}` : "") +
        (d.joined ? `; re-sent requests joined: ${d.joined}` : "") +
        `; divergences refused: ${d.diverged}` +
        (d.refusedCluster ? `; hosts of another cluster refused: ${d.refusedCluster}` : ""),
    );
  if (e.ownImages)
    lines.push(
      e.ownImages.copiedBack
        ? `  disk: non-shared${o.backupReads ? ", backup reads" : ""}: the finishing primary's own image (${e.ownImages.copiedBack}) was copied back to ${String(o.disk)}`
        : `  disk: non-shared: no host finished; ${String(o.disk)} is unchanged, the hosts' own images are in ${e.ownImages.dir}`,
    );
  if (e.logWireBytes !== undefined) {
    const secs = (e.runMs ?? 0) / 1000;
    const rate = secs > 0 ? ` (${((e.logWireBytes * 8) / secs / 1e6).toFixed(2)} Mbit/s over ${secs.toFixed(1)} s)` : "";
    lines.push(`  log: ${n(e.logWireBytes)} bytes sent to the backup by the finishing primary${rate}`);
  }
  for (const f of t.failovers)
    lines.push(
      `  primary failed; the backup went live at icount ${n(f.icount)} (the old primary's last logged point) in epoch ${f.epoch}: ` +
        `detection ${f.detectionMs} ms of silence, replay ${f.replayMs} ms, test-and-set ${f.tasMs} ms; re-sent ${f.resentBytes} bytes`,
    );
  for (const f of t.failovers) {
    if (f.fromKillMs === undefined) continue;
    const first = t.firstOutputFromKillMs(f);
    lines.push(`  from the SIGKILL of the primary: the backup was live after ${f.fromKillMs} ms` + (first !== undefined ? `, and the first new output reached the sink after ${first} ms` : ""));
  }
  if (t.failoverCount > t.failovers.length) lines.push(`  ... and ${t.failoverCount - t.failovers.length} more failovers`);
  for (const a of t.alone) lines.push(`  backup failed; the primary won epoch ${a.epoch} and went on alone`);
  if (t.cloneCount > 0) {
    const pauses = t.clones.flatMap((c) => (c.pauseMs === undefined ? [] : [c.pauseMs]));
    lines.push(
      `  redundancy restored ${t.cloneCount} time${t.cloneCount === 1 ? "" : "s"}: a new backup joined by clone (primary paused ${range(pauses, 1)} ms; join request to paired ${range(t.clones.map((c) => c.cloneMs), 0)} ms)`,
    );
  }
  if (typeof o.crashPrimaryAtIcount === "number") lines.push(`  (the primary was set to crash at icount ${n(o.crashPrimaryAtIcount)})`);
  // Every host failure, injected or not: the kills made, and hosts that stopped on their
  // own (a host that lost a test-and-set after a false suspicion, a joiner whose clone
  // failed, a crash).
  const own = t.selfExits;
  lines.push(
    `  host failures: ${t.kills} injected (SIGKILL), ${own.length} on their own` +
      (own.length > 0 ? ` (${own.map((x) => `${x.role} pid ${x.pid} exit ${x.code}`).join(", ")})` : "") +
      `; backups declared failed by their primary: ${t.aloneCount}; failed clones: ${t.cloneFailureCount}` +
      (t.joinersRefused > 0 ? `; new backups refused before they started: ${t.joinersRefused}` : ""),
  );
  for (const what of t.scriptedNotDone) lines.push(`    scripted fault not carried out: ${what}`);
  for (const why of t.cloneFailures) lines.push(`    clone failed: ${why}`);
  if (t.cloneFailureCount > t.cloneFailures.length) lines.push(`    ... and ${t.cloneFailureCount - t.cloneFailures.length} more`);
  if (t.respawnStopped) lines.push(`  stopped starting new backups: ${t.respawnStopped}`);
  lines.push(
    `  unprotected (the guest ran without a paired backup): ${(t.unprotectedMs / 1000).toFixed(1)} s of ${(e.elapsedMs / 1000).toFixed(1)} s` +
      (t.pairFormedMs !== undefined ? `; the first pair formed ${(t.pairFormedMs / 1000).toFixed(1)} s after the launch` : "; no pair ever formed"),
  );
  for (const l of e.extraLines ?? []) lines.push(l);
  if (e.net) lines.push(netLine(e.net));
  return lines.join("\n") + "\n";
}

/** The switch's line (with --listen), from its counters. */
function netLine(s: Record<string, number>): string {
  return (
    `  network: ${s.clients} clients (${s.refusedClients} refused); ${n(s.bytesIn)} bytes in, ${n(s.bytesOut)} bytes out, each byte exactly once; ` +
    `re-delivered to a new primary ${s.redeliveredBytes} bytes; duplicates dropped ${s.duplicateChunks} chunks (${s.duplicateBytes} bytes); stale outputs refused ${s.staleRefused}; ` +
    `disconnected for overflow or unread replies ${s.overflowDisconnects}` +
    (s.discardedBytes > 0 ? ` (${n(s.discardedBytes)} bytes of replies to them discarded)` : "") +
    `; divergences refused ${s.diverged}`
  );
}
