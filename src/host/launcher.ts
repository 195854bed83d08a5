// The FT cluster on this machine: an arbiter, a primary and a backup, each its own OS
// process on loopback. The launcher holds the console sink (outside both hosts' failure
// domain), shows the guest's output and a status line per host, injects faults, restarts
// hosts (clones) and the arbiter, and ends with a summary. `ftvm ft` (src/cli/ft.ts) only
// turns flags into ClusterOptions.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { FAILURE_TIMEOUT_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from "../ft/detector.js";
import type { HostStatus } from "./sink.js";
import { isRole } from "../ft/node.js";
import { startSink } from "./sink.js";
import type { DiskServer } from "./disksrv.js";
import type { DiskGeometry } from "../devices/disk.js";
import { createDiskImage, readDiskGeometry } from "./disk.js";
import { setLogger } from "../transport/channel.js";
import { openArbiter } from "../arbiter/open.js";
import { type EtcdForRun, etcdForRun } from "./launcher-etcd.js";
import { type ArbiterState, initialState } from "../arbiter/core.js";
import { writeArbiterState } from "../arbiter/server.js";
import { freePort } from "./free-port.js";
import { type ClusterFacts, clusterFacts } from "./cluster-facts.js";

import { startClusterSwitch } from "./launcher-net.js";
import { type RunEvent, type RunEventBody, RunEvents, failoverEvent } from "./run-events.js";
import { RunTally, formatSummary } from "./run-summary.js";
import { HostError } from "./errors.js";
import { type TraceFileInfo, TraceDir } from "./launcher-trace.js";
import { ConsoleInServer } from "./console-input.js";
import { ESCAPE_HELP, EscapeReader } from "./console-keys.js";
import { type StitchResult, stitchRun } from "./stitch.js";
import { SLOW_BACKUP_RUN_MS, SLOW_BACKUP_STOP_MS, slowProcess } from "./slow-backup.js";
import { loadProgram } from "./program.js";
import { selfArgs } from "./self.js";
import { hostGcFlags, hostMallocEnv } from "./gc-tuning.js";
import { ControlWriter, controlFile, processRunning } from "./control.js";
import { progressText } from "./progress.js";
import { STANDBY_NICE, lowerStandbyPriority, restoreStandbyPriority } from "./standby-priority.js";
import { OUTSIDE_STOP_EXIT_CODE, type OutsideStops, outsideStops } from "./outside-stop.js";

/** A launch option the launcher refuses (the CLI prints it in one line and exits 2, as for a usage error). */
const EXIT_BAD_OPTION = 2;
/** The process exits 0 when the guest finished, 1 when it trapped or no host finished it, 130 when interrupted (143 on SIGTERM, 129 on SIGHUP or the parent's end: outside-stop.ts). */
const EXIT_OK = 0;
const EXIT_FAIL = 1;

/** A scripted fault that cannot be carried out now (no pair) is tried again after this long. */
const FAULT_RETRY_MS = 50;
/** After this many clones in a row fail, the launcher stops starting new backups (and says why). */
const CLONE_FAILURES_IN_ROW_MAX = 10;
/** The longest wait between a failed clone and the next attempt (the wait doubles from 50 ms). */
const CLONE_RETRY_DELAY_MS_MAX = 2000;
/** With a switch or a shared disk, their counts go on the event stream this often. */
const IO_EVENT_INTERVAL_MS = 1000;
/** How often the control file (read by `ftvm ps`) is rewritten for the hosts' icounts alone. */
const CONTROL_ICOUNT_REFRESH_MS = 1000;

// The hosts are this package's own executable, run as child processes (src/host/self.ts:
// resolved from the package, not the cwd; the launcher does not import the CLI's code).

interface Child {
  role: "arbiter" | "primary" | "backup";
  proc: ChildProcess;
  url?: string;
  /** An arbiter's cluster, from its "cluster ID epoch N" line. */
  cluster?: string;
  exited: boolean;
  /** The last line the process wrote on stderr (why it refused to start, when it did). */
  lastLine?: string;
  /** Called once, when the process says where it listens (a host: it has started and connected everything). */
  onReady?: () => void;
  /** A standby: the host it was told to connect to ahead of time ("prepare URL", see prepareSpare). */
  preparedUrl?: string;
  /** When it was spawned, and when it said where it listens (Date.now(), ms). */
  startedAtMs?: number;
  readyAtMs?: number;
}

/** Attempts to restart a dead arbiter (on its port, with its state) before giving up. */
const ARBITER_RESTART_ATTEMPTS_MAX = 50;
const ARBITER_RESTART_DELAY_MS = 200;


export interface ClusterOptions {
  program: string;
  /** The arbiter is etcd at this etcd:// URL (the run founds its own cluster under its prefix) instead of an embedded arbiter process. */
  arbiter?: string;
  /** The arbiter is a local 3-member etcd cluster started (and stopped) by this run. */
  etcd?: boolean;
  crashPrimaryAtIcount?: number;
  crashPrimaryAfterMs?: number;
  crashBackupAtIcount?: number;
  crashBackupAfterMs?: number;
  /** SIGKILL the arbiter after this many ms (the launcher restarts it with its state). */
  crashArbiterAfterMs?: number;
  /** Cut the log channel between the hosts (both sides) after this many ms. */
  partitionAfterMs?: number;
  /** Drop the log channel's TCP connection after this many ms (the primary's side closes it). */
  dropChannelAfterMs?: number;
  /** SIGKILL the primary every this many ms (waiting, when due, until a backup is paired). */
  crashPrimaryEveryMs?: number;
  /** Start a new backup (joining by clone) after every host failure (default true). */
  respawn?: boolean;
  /**
   * Keep a standby backup process started and connected (default true with respawn): after
   * a failure the new backup joins at once instead of first starting a process, which on
   * a busy machine took seconds of unprotected running.
   */
  spare?: boolean;
  /**
   * The standby's nice value until it joins (default STANDBY_NICE, 19: see
   * standby-priority.ts). At or below the launcher's own it is not lowered at all: a test
   * of what a ready standby does (test/standby-prepare-e2e.test.ts) cannot wait for a start-up
   * that beside busy processes gets 1.5% of a core.
   */
  standbyNice?: number;
  /** Guest memory and the log buffer bound, as the hosts' --mem and --log-buffer-bytes take them. */
  mem?: string;
  /** The guest's stack region, as the primary's --stack takes it (backups learn the machine's shape from the primary). */
  stack?: string;
  logBufferBytes?: string;
  /** A disk image: shared by both hosts through a disk server in this launcher, or copied per host (diskMode "non-shared"). */
  disk?: string;
  diskMode?: "shared" | "non-shared";
  /** Non-shared: the backup reads its own image instead of receiving read data in the log. */
  backupReads?: boolean;
  /** Backups replay this many times slower (a factor, as the hosts' --slowdown takes it). */
  backupSlowdown?: string;
  lagThresholdMs?: number;
  /** How long the primary waits for its first backup before it starts alone (the primary's --wait-backup-ms; default 10 s). */
  waitBackupMs?: number;
  heartbeatMs?: number;
  timeoutMs?: number;
  quiet?: boolean;
  interpret?: boolean;
  /** Serve network clients on this [HOST:]PORT through the virtual switch. */
  listen?: string;
  /** Every host writes its execution trace in this directory (see launcher-trace.ts). */
  traceDir?: string;
  traceIntervalIcount?: number;
  /** Write the run's log here: one .ftlog stitched from every live host's segment (see stitch.ts). */
  record?: string;
  /** UNSAFE: hosts do not log RAND while live, so backups diverge (to demonstrate divergence caught live). */
  unloggedRand?: boolean;
  /** What follows a backup's divergence: it halts and a new backup is cloned (default), or the run stops. */
  onDivergence?: "halt-backup" | "stop";
  /** Where guest output goes (default stdout). */
  write?: (b: Uint8Array) => void;
  /**
   * The guest's console input (the CLI gives its stdin): held here until durable, sent to
   * whichever host is live (see console-input.ts). On a terminal it also carries the
   * crash keys behind an escape prefix (see console-keys.ts).
   */
  input?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };
  /** Every host's status line as it arrives (every 250 ms), e.g. for a benchmark's log counts. */
  onStatus?: (s: HostStatus) => void;
  /** Where the summary and log lines go (default stderr). */
  info?: (s: string) => void;
  /** Called once every process started: crashes one with SIGKILL, as the p, b and a keys do (tests time kills by what they observe), and the log-channel faults. */
  onControl?: (c: ClusterControl) => void;
  /** Every event of the run's stream (run-events.ts), in order, as it is emitted: `ftvm ft --json` prints them. */
  onEvent?: (e: RunEvent) => void;
  /** Serve the live dashboard on 127.0.0.1:port (0: any free port), or on `host` with an access token; `onUi` gets its URL. */
  ui?: { port: number; host?: string };
  onUi?: (url: string) => void;
  /** With `ui`: start the cluster only once a page has connected (the demo: a short run a user wants to watch). */
  uiWaitForPage?: boolean;
  /** Write a self-contained HTML report of the run to this file at the end. */
  report?: string;
}

/** What a user (keys, `ftvm crash`, the dashboard's buttons) may do to a running cluster. Each resolves to why it was not done, or undefined when it was. */
export interface ClusterControl {
  crash(role: "primary" | "backup" | "arbiter"): void;
  kill(role: "primary" | "backup" | "arbiter"): Promise<string | undefined>;
  partition(): Promise<string | undefined>;
  drop(): Promise<string | undefined>;
  /** Slow the current backup down (on) or let it run at full speed again (off). */
  slowBackup(on: boolean): Promise<string | undefined>;
}

export interface ClusterResult {
  code: number;
  /** The live primary's final report (run time, log volume, latencies), when the guest finished. */
  done?: Record<string, unknown>;
  summary: string;
  /** Per failover: ms from the launcher's SIGKILL to the backup going live, and to the first new output. */
  failovers: { liveMs?: number; firstOutputMs?: number; silentMs: number; replayMs: number; electMs: number }[];
  /** The shared disk server's counts (with --disk). */
  disk?: DiskServer["stats"];
  /** Non-shared: where the hosts' own images were, and which was copied back over the image (none when no host finished). */
  ownImages?: { dir: string; copiedBack?: string };
  /** Per completed clone: the primary's pause, the clone's time from the join request to the pair's epoch, and from spawning the process. */
  clones: { pauseMs?: number; cloneMs: number; fromSpawnMs?: number; memBytes: number; sendMs?: number; sendWallMs?: number }[];
  /** The run's cluster id (its arbiter's), and how often the launcher restarted a dead arbiter. */
  cluster?: string;
  arbiterRestarts: number;
  /** Re-sent output refused because it differed from what was written: by the console sink, the shared disk, the switch. */
  divergences: { sink: number; disk: number; switch: number };
  /** With traceDir: every host's trace, renamed by host and epochs. */
  traces?: TraceFileInfo[];
  /** With input: bytes read, and how often (and how much) input went again to a new primary. */
  consoleInput?: { readBytes: number; durableBytes: number; resends: number; resentBytes: number };
  /** With record: the stitched log's events, epochs and how it ended. */
  record?: StitchResult;
  /** Divergences the backups caught live (replay disagreed with the log): where, and why. */
  liveDivergences: { pid?: number; icount: number; pc?: number; line?: string; reason: string }[];
}

export async function runCluster(o: ClusterOptions): Promise<number> {
  return (await runClusterDetailed(o)).code;
}

export async function runClusterDetailed(o: ClusterOptions): Promise<ClusterResult> {
  // SIGTERM, SIGHUP and the parent's end stop the run like Ctrl-C (outside-stop.ts), from
  // the first moment: a launcher stopped while it starts its processes leaves none behind.
  const stops = outsideStops();
  try {
    return await runClusterStoppable(o, stops);
  } finally {
    stops.dispose();
  }
}

async function runClusterStoppable(o: ClusterOptions, stops: OutsideStops): Promise<ClusterResult> {
  // The program is checked here, before any process starts: a missing file or an
  // assembler error is the user's one-line error, not a host that dies before listening.
  loadProgram(o.program);
  if (o.report !== undefined) {
    // Found out now, not after a long run: the report's file must be writable.
    try {
      writeFileSync(o.report, "");
    } catch (e) {
      throw new HostError(`--report ${o.report}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT_BAD_OPTION);
    }
  }
  if (o.record !== undefined) checkWritable(o.record, "--record");
  const secret = randomBytes(24).toString("hex");
  const traceDir = o.traceDir !== undefined ? new TraceDir(o.traceDir, o.traceIntervalIcount) : undefined;
  // Each host's log segment goes in a directory of this run; the run's log is stitched from them at the end.
  const segments = o.record !== undefined ? { dir: mkdtempSync(join(tmpdir(), "ftvm-segments-")), paths: [] as string[] } : undefined;
  const segmentArgs = (): string[] => {
    if (!segments) return [];
    const path = join(segments.dir, `host-${segments.paths.length + 1}.ftseg`);
    segments.paths.push(path);
    return ["--record-segment", path];
  };
  const info = o.info ?? ((s: string) => process.stderr.write(s));
  const tty = !o.quiet && !o.info && process.stderr.isTTY === true;
  const write = o.write ?? ((b: Uint8Array) => process.stdout.write(b));
  const started = Date.now();
  // The run's event stream: the summary is reduced from it (tally), --json prints it, the
  // dashboard draws it. Everything the summary says must go through `emit`.
  const events = new RunEvents(started);
  const tally = new RunTally();
  events.subscribe((e) => tally.add(e));
  if (o.onEvent) events.subscribe(o.onEvent);
  const emit = (body: RunEventBody) => events.emit(body);
  emit({ type: "run", source: "ft", program: o.program, startedAt: new Date(started).toISOString(), options: runOptions(o) });
  const statuses = new Map<string, HostStatus>();
  /** Each host's last role and status time, for role events and the instruction rate. */
  const lastRole = new Map<string, string>();
  const lastStatusAt = new Map<string, { at: number; icount: number }>();
  const noteRole = (host: string, pid: number, role: string, epoch: number) => {
    const from = lastRole.get(host);
    if (from === role) return;
    lastRole.set(host, role);
    emit({ type: "role", host, pid, role, ...(from !== undefined ? { from } : {}), epoch });
  };
  /** The pending clone news per primary (its pause and its send), joined into one clone event when the pair forms. */
  const clonePause = new Map<string, { icount: number; pauseMs: number }>();
  const cloneSent = new Map<string, { sendMs: number; wallMs: number }>();
  const consoleText = new TextDecoder();
  let done: Record<string, unknown> | undefined;
  let finish: (() => void) | undefined;
  const finished = new Promise<void>((r) => (finish = r));
  /**
   * A host's role now, from the same source as its status line (its last status or news):
   * the label of its relayed log lines, so after a failover the host that went live is
   * called primary, not the backup it was started as. Before it has said anything (and
   * for the arbiter): the role it was started with.
   */
  const roleNow = (pid: number | undefined, startedAs: string): string => {
    for (const s of statuses.values()) if (s.pid === pid) return s.role;
    return startedAs;
  };
  /** Where each joining backup's clone was first seen and last heard of (host → times, bytes), for its rate and time left. */
  const cloneSeen = new Map<string, { at: number; bytes: number; lastAt: number }>();
  /**
   * The guest's output on this same terminal ends mid-line (a prompt, or a chunk cut
   * between releases). The status block then waits for the line to end: drawn after the
   * partial line and erased, it would take the line's start with it, on the screen and
   * in the scrollback. A log line meanwhile starts on a line of its own.
   */
  let guestLineOpen = false;
  const sharesTerminal = tty && o.write === undefined && process.stdout.isTTY === true;
  const closeGuestLine = () => {
    if (!guestLineOpen) return;
    info("\n");
    guestLineOpen = false;
  };
  let statusLines = 0;
  const clearStatus = () => {
    if (tty && statusLines > 0) process.stderr.write(`\x1b[${statusLines}F\x1b[J`);
    statusLines = 0;
  };
  const renderStatus = () => {
    if (!tty || guestLineOpen) return;
    clearStatus();
    const lines = [...statuses.values()].filter((s) => s.role !== "halted" && processRunning(s.pid)).map((s) => statusLine(s, cloneSeen.get(s.host)));
    lines.push(ESCAPE_HELP);
    // Each line is cut to the terminal's width: a line that wrapped would take two rows,
    // and the redraw (which moves up one row per line) would leave its top behind in
    // the scrollback, many times over.
    const width = Math.max(20, (process.stderr.columns ?? 80) - 1);
    process.stderr.write(lines.map((l) => (l.length > width ? l.slice(0, width - 1) + "…" : l)).join("\n") + "\n");
    statusLines = lines.length;
  };
  const logLine = (s: string) => {
    emit({ type: "log", text: s.replace(/\n$/, "") });
    if (o.quiet) return;
    clearStatus();
    closeGuestLine();
    info(s.endsWith("\n") ? s : s + "\n");
    renderStatus();
  };
  /** A line of the launcher's own, not a log event (its address, its control file): above the status block like the rest. */
  const say = (s: string) => {
    clearStatus();
    closeGuestLine();
    info(s);
    renderStatus();
  };
  setLogger((l) => logLine(`launcher: ${l}`));

  const kills: { role: string; at: number; pid?: number }[] = [];
  const liveDivergences: ClusterResult["liveDivergences"] = [];
  /** A kill carried out: remembered (failover times count from it) and on the stream. */
  const noteKill = (role: "primary" | "backup" | "arbiter", pid: number | undefined, by: "script" | "user" | "self", epoch?: number) => {
    // On the events' clock (ms since the run started), so a failover's fromKillMs is the
    // difference of the two events' times exactly.
    const e = emit({ type: "fault", fault: "kill", target: role, by, ...(pid !== undefined ? { pid } : {}), ...(epoch !== undefined ? { epoch } : {}) });
    kills.push({ role, at: e.t, pid });
  };
  // Declared before the sink starts: its callbacks (news, exits) use them.
  /** The backup being started to join the live primary (one at a time). */
  let joiner: Child | undefined;
  /** The standby backup, started while a pair runs, told where to join when one is needed (see ClusterOptions.spare). */
  let spare: Child | undefined;
  /** The current pair's backup (see prepareSpare). */
  let pairBackup: Child | undefined;
  let stopping = false;
  /** Why a host refused its options (the launch fails as a whole, exit 2). */
  let refused: string | undefined;
  const spawnedAtMs = new Map<number, number>();
  /** When the first pair formed (timed faults count from then), and a way to wait for it. */
  let pairFormedAt: number | undefined;
  let pairFormed: () => void = () => undefined;
  const pairFormedOnce = new Promise<void>((r) => (pairFormed = r));
  /** Whether the guest runs with a paired backup (undefined before the first host started). */
  let protectedNow: boolean | undefined;
  const setProtected = (p: boolean) => {
    if (protectedNow === p) return;
    protectedNow = p;
    emit({ type: "protection", protected: p, unprotectedMs: tally.unprotectedNowMs(events.elapsedMs()) });
  };
  /** Clones that failed since the last pair formed, and the reasons (bounded retries). */
  let cloneFailuresInRow = 0;
  let respawnGaveUp: string | undefined;
  let lastCloneFailure: string | undefined;
  /** Which host restored a clone at which icount (the joiner's pid, to time the clone from its spawn). */
  const restoredAt = new Map<number, number>();
  /** The current arbiter process (the launcher restarts it if it dies), and its restarts. */
  let arbiter: Child | undefined;
  let arbiterRestarts = 0;
  /** Set once the launcher's helpers below exist (news may arrive before: it waits in earlyNews). */
  let ready = false;
  /** The first backup process (started with the primary), and whether its primary started without it. */
  let firstBackupChild: Child | undefined;
  let firstBackupLate = false;
  const earlyNews: [string, Record<string, unknown>, string][] = [];
  const firstWriteAt = new Map<number, number>();
  // Console input: paused while the held input is at its bound, resumed as it becomes durable.
  const consoleIn = o.input ? new ConsoleInServer((l) => logLine(`launcher: ${l}`), () => o.input?.resume()) : undefined;
  const sink = await startSink(secret, {
    consoleIn,
    write: (b) => {
      if (!firstWriteAt.has(sink.state.epoch)) {
        firstWriteAt.set(sink.state.epoch, Date.now());
        emit({ type: "first-output", epoch: sink.state.epoch });
      }
      emit({ type: "console", text: consoleText.decode(b, { stream: true }) });
      clearStatus();
      write(b);
      if (sharesTerminal && b.length > 0) guestLineOpen = b[b.length - 1] !== 0x0a;
      renderStatus();
    },
    status: (s) => {
      statuses.set(s.host, s);
      const now = Date.now();
      const seen = cloneSeen.get(s.host);
      if (!s.clone) cloneSeen.delete(s.host);
      else if (!seen || s.clone.bytes < seen.bytes) cloneSeen.set(s.host, { at: now, bytes: s.clone.bytes, lastAt: now });
      else seen.lastAt = now;
      const prev = lastStatusAt.get(s.host);
      lastStatusAt.set(s.host, { at: now, icount: s.icount });
      const icountPerSec = prev && now > prev.at ? Math.max(0, Math.round(((s.icount - prev.icount) * 1000) / (now - prev.at))) : undefined;
      noteRole(s.host, s.pid, s.role, s.epoch);
      emit({ ...statusFields(s), ...(icountPerSec !== undefined ? { icountPerSec } : {}) });
      traceDir?.noteEpoch(s.host, s.epoch);
      o.onStatus?.(s);
    },
    news: (host, text, data) => {
      traceDir?.noteEpoch(host, data.epoch);
      const pid = Number(data.pid);
      emit({ type: "news", host, pid, event: String(data.event), ...(typeof data.role === "string" ? { role: data.role } : {}), ...(data.epoch !== undefined ? { epoch: Number(data.epoch) } : {}), text });
      // News carries the host's role as of the event: fresher than its last status line.
      if (isRole(data.role) && typeof data.pid === "number") {
        const prev = statuses.get(host) ?? { host, pid: data.pid, icount: 0, epoch: 0, role: data.role };
        // A clone's progress belongs to the role that reported it (a joiner that restored, or failed, has none left).
        statuses.set(host, { ...prev, role: data.role, epoch: Number(data.epoch), ...(data.role !== prev.role ? { clone: undefined } : {}) });
        noteRole(host, data.pid, data.role, Number(data.epoch));
      }
      onNews(host, data, text);
    },
    diverged: (host, epoch, offset, reason) => emit({ type: "divergence", where: "sink", host, epoch, offset, reason }),
    done: (_host, data) => {
      // A guest that finishes while the launcher already stops (the user's quit, a divergence
      // under --on-divergence stop) does not make the run a success.
      if (stopping) return;
      done = data;
      finish?.();
    },
  });

  // The shared disk, like the sink, lives here: outside both hosts' failure domain.
  // A non-shared disk is a copy of the image per host instead, in a directory named here.
  let diskServer: DiskServer | undefined;
  const nonShared = o.diskMode === "non-shared";
  if ((o.backupReads && !(o.disk && nonShared)) || (o.diskMode !== undefined && !o.disk)) {
    await sink.close();
    throw new HostError(o.backupReads ? "--backup-reads needs --disk IMAGE --disk-mode non-shared" : "--disk-mode needs --disk IMAGE", EXIT_BAD_OPTION);
  }
  let ownImages: { dir: string; next: number; geometry: DiskGeometry } | undefined;
  if (o.disk && nonShared) {
    try {
      const geometry = readDiskGeometry(o.disk);
      ownImages = { dir: mkdtempSync(join(tmpdir(), "ftvm-disks-")), next: 1, geometry };
    } catch (e) {
      await sink.close();
      throw new HostError(`--disk ${o.disk}: ${(e as Error).message}`, EXIT_BAD_OPTION);
    }
    logLine(`non-shared disk: each host's own image goes in ${ownImages.dir}`);
  } else if (o.disk) {
    try {
      // Loaded only with --disk, so plain runs start as fast as before.
      const { startDiskServer } = await import("../host/disksrv.js");
      diskServer = await startDiskServer(secret, o.disk);
    } catch (e) {
      await sink.close();
      throw new HostError(`--disk ${o.disk}: ${(e as Error).message}`, EXIT_BAD_OPTION);
    }
  }

  // The dashboard starts before the processes, so a page can watch them start (and
  // `uiWaitForPage` can hold the launch until one is open). Its buttons act once the
  // cluster is up (lateControls); before, they are told it is starting.
  let lateControls: ClusterControl | undefined;
  const starting = async () => "the cluster is still starting";
  const uiControls: ClusterControl = {
    crash: (role) => lateControls?.crash(role),
    kill: (role) => lateControls?.kill(role) ?? starting(),
    partition: () => lateControls?.partition() ?? starting(),
    drop: () => lateControls?.drop() ?? starting(),
    slowBackup: (on) => lateControls?.slowBackup(on) ?? starting(),
  };
  let ui: { url: string; firstPage: Promise<void>; close(): Promise<void> } | undefined;
  if (o.ui) {
    // Loaded only with --ui, so plain runs start as fast as before.
    const { startDashboard } = await import("./dashboard-server.js");
    try {
      ui = await startDashboard({ events, control: uiControls, port: o.ui.port, host: o.ui.host });
    } catch (e) {
      await sink.close();
      await diskServer?.close();
      throw e;
    }
    // Always shown (also with --quiet): the user needs the address.
    say(`ftvm ft: dashboard at ${ui.url}\n`);
    o.onUi?.(ui.url);
    if (o.uiWaitForPage) {
      say("ftvm ft: the cluster starts when the dashboard is open in a browser\n");
      await ui.firstPage;
    }
  }

  const children: Child[] = [];
  /** `announce`: say so at once (the first hosts: each may take seconds to load on a busy machine, and the screen would stay blank). */
  const spawnChild = (role: Child["role"], args: string[], announce = false, onSpawn?: (pid: number) => void): Promise<Child> =>
    new Promise((resolve, reject) => {
      // FTVM_HOST_NODE_ARGS passes extra Node flags to the hosts (e.g. --cpu-prof for profiling).
      // The hosts move every network byte and log batch: they get the collector's settings
      // for that (gc-tuning.ts); given first, so FTVM_HOST_NODE_ARGS can override them.
      const nodeArgs = [...(role === "arbiter" ? [] : hostGcFlags()), ...(process.env.FTVM_HOST_NODE_ARGS ?? "").split(" ").filter(Boolean)];
      // --interpret picks the hosts' engine; the arbiter runs no guest and refuses it.
      const engine = o.interpret && role !== "arbiter" ? ["--interpret"] : [];
      const proc = spawn(process.execPath, [...nodeArgs, ...selfArgs(), role, ...args, "--exit-with-parent", ...engine], {
        // The hosts also get the C allocator's settings for that (gc-tuning.ts).
        env: { ...process.env, ...(role === "arbiter" ? {} : hostMallocEnv()), FTVM_SECRET: secret },
        stdio: ["pipe", "pipe", "pipe"],
      });
      const child: Child = { role, proc, exited: false, startedAtMs: Date.now() };
      // A join order written to a host that has just died fails with EPIPE: its exit is
      // reported below, and the write must not take the launcher down with it.
      proc.stdin?.on("error", () => undefined);
      children.push(child);
      if (proc.pid !== undefined) onSpawn?.(proc.pid);
      if (proc.pid !== undefined) emit({ type: "spawn", pid: proc.pid, role, joiner: args.includes("--join") });
      if (announce) logLine(`starting the ${role} (pid ${proc.pid})`);
      createInterface({ input: proc.stdout! }).on("line", (line) => {
        const cl = /^cluster (\S+) epoch \d+$/.exec(line);
        if (cl) child.cluster = cl[1];
        const m = /^listening (ws:\/\/\S+)$/.exec(line);
        if (m && !child.url) {
          child.url = m[1];
          child.readyAtMs = Date.now();
          resolve(child);
          child.onReady?.();
          // A joiner that now listens: the standby may connect to it ahead of time.
          if (child === joiner) prepareSpare();
        }
      });
      createInterface({ input: proc.stderr! }).on("line", (line) => {
        child.lastLine = line.replace(/^(primary|backup|arbiter|ftvm): /, "");
        // A new backup that arrives as the guest finishes is turned away, as it should be:
        // said plainly, since a "refused" in a run that went well reads like a fault.
        const shown = line.replace(/^(primary|backup|arbiter): /, "");
        const text = /^refused \S+: cannot join: this host is finished/.test(shown) ? "the guest finished before the new backup could join: no clone needed" : shown;
        logLine(`${roleNow(proc.pid, role)} (pid ${proc.pid}): ${text}`);
      });
      proc.on("exit", (code, signal) => {
        child.exited = true;
        // A host that refuses its options (exit 2) fails the whole launch, whenever it
        // happens: a cluster that runs on without it would have lost FT without a word.
        if (code === EXIT_BAD_OPTION && !stopping && !done && refused === undefined) {
          refused = `the ${role} refused to start: ${child.lastLine ?? "bad options"}`;
          finish?.();
        }
        if (!child.url) reject(new HostError(`the ${role} could not start: ${child.lastLine ?? `it exited (${signal ?? code})`}`, code === EXIT_BAD_OPTION ? EXIT_BAD_OPTION : undefined));
        let kind: "killed" | "failed" | "refused" | "other" = "other";
        if (signal === "SIGKILL") {
          kind = "killed";
          logLine(`${roleNow(proc.pid, role)} (pid ${proc.pid}) was killed (SIGKILL)`);
          // Not by us: a host's own --crash-at-icount, an injected failure all the same.
          if (!kills.some((k) => k.pid === proc.pid) && !stopping) noteKill(role, proc.pid, "self");
        }
        else if (role !== "arbiter" && !stopping && !done && code !== 0) {
          // A host that never said anything never held state: a refused joiner, not a failure.
          kind = [...statuses.values()].some((s) => s.pid === proc.pid) ? "failed" : "refused";
        }
        if (proc.pid !== undefined) emit({ type: "exit", pid: proc.pid, role, code, signal, kind });
        if (role !== "arbiter" && child !== spare && !stopping && !done) hurryStandby();
        for (const [host, s] of statuses) if (s.pid === proc.pid) noteRole(host, s.pid, kind === "other" && code === 0 ? "finished" : "dead", s.epoch);
        if (child === arbiter && !stopping) restartArbiter(0);
        // Every host gone without finishing: nobody can serve any more.
        // (None started yet: the arbiter exited while the launch was still under way, and
        // the launch fails with its reason.)
        const hosts = children.filter((c) => c.role !== "arbiter");
        if (hosts.length > 0 && hosts.every((c) => c.exited) && !done) {
          net?.serviceLost("no host is left to run the guest");
          finish?.();
        }
        if (child === spare) spare = undefined;
        // The first backup came too late for the first epoch (its primary stopped waiting and
        // runs alone) and is gone before any pair formed: a new one joins by clone.
        if (child === firstBackupChild && firstBackupLate && pairFormedAt === undefined) {
          firstBackupLate = false;
          scheduleRespawn();
        }
        // A joining backup that died leaves its primary alone: try again.
        if (child === joiner) {
          joiner = undefined;
          scheduleRespawn();
        }
      });
      if (role === "backup") resolve(child);
    });

  const hb = ["--heartbeat-ms", String(o.heartbeatMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT), "--timeout-ms", String(o.timeoutMs ?? FAILURE_TIMEOUT_MS_DEFAULT)];
  // The arbiter's state lives in this run's own directory: a new cluster per run, and a
  // restarted arbiter (see restartArbiter) finds every epoch it granted.
  // With etcd (--arbiter etcd://..., --etcd) there is no arbiter process: the run founds
  // its cluster in etcd instead (launcher-etcd.ts).
  let etcd: EtcdForRun | undefined;
  if (o.arbiter !== undefined || o.etcd) {
    try {
      etcd = await etcdForRun(o.etcd ? undefined : o.arbiter, info);
    } catch (e) {
      await sink.close();
      await diskServer?.close();
      throw e;
    }
  }
  const arbiterDir = etcd ? undefined : mkdtempSync(join(tmpdir(), "ftvm-arbiter-"));
  const arbiterState = arbiterDir ? join(arbiterDir, "state.json") : "";
  /** A process of the first three could not start: stop what did, and fail the launch with its reason. */
  const abortLaunch = async (e: unknown): Promise<never> => {
    stopping = true;
    for (const c of children) if (!c.exited) c.proc.kill("SIGTERM");
    await Promise.all(children.map((c) => (c.exited ? undefined : new Promise((r) => c.proc.once("exit", r)))));
    await sink.close();
    await diskServer?.close();
    if (arbiterDir) rmSync(arbiterDir, { recursive: true, force: true });
    throw e;
  };
  // The launcher founds the cluster (the arbiter's state file) and picks the arbiter's
  // port itself, so the hosts start at the same time as the arbiter instead of after it:
  // on a busy machine every process takes a second or more to load (see the first
  // backup below). The arbiter is waited for before the primary may claim an epoch.
  let arbiterStarted: Promise<Child> | undefined;
  let arbiterUrl: string;
  let cluster: string;
  if (etcd) {
    arbiterUrl = etcd.url;
    cluster = etcd.cluster;
  } else {
    cluster = randomBytes(8).toString("hex");
    let port: number;
    try {
      writeArbiterState(arbiterState, initialState(cluster));
      port = await freePort("127.0.0.1");
    } catch (e) {
      return abortLaunch(new HostError(`cannot prepare the arbiter: ${(e as Error).message}`));
    }
    arbiterUrl = `ws://127.0.0.1:${port}`;
    arbiterStarted = spawnChild("arbiter", ["--listen", `127.0.0.1:${port}`, "--state", arbiterState], true).then((c) => {
      arbiter = c;
      return c;
    });
    // Failures are handled where it is awaited (a rejection must not go unhandled meanwhile).
    arbiterStarted.catch(() => undefined);
  }
  // Sink, disk and switch belong to the arbiter's cluster before any host starts.
  sink.state.cluster = cluster;
  diskServer?.setCluster(cluster);
  const net = o.listen !== undefined ? await startClusterSwitch(o.listen, secret, arbiterUrl, logLine, info, cluster) : undefined;
  // On the stream too: a script (or a test) reads where clients connect without parsing text.
  if (net) emit({ type: "listening", service: "switch", ...net.address() });
  function restartArbiter(attempt: number): void {
    if (stopping || done) return;
    if (attempt >= ARBITER_RESTART_ATTEMPTS_MAX) return logLine(`the arbiter could not be restarted after ${attempt} attempts; hosts wait for it`);
    arbiterRestarts += attempt === 0 ? 1 : 0;
    if (attempt === 0) {
      logLine(`the arbiter died; restarting it at ${arbiterUrl} with its state ${arbiterState}`);
      emit({ type: "arbiter-restart", count: arbiterRestarts });
    }
    spawnChild("arbiter", ["--listen", arbiterUrl.replace(/^ws:\/\//, ""), "--state", arbiterState]).then(
      (c) => {
        arbiter = c;
        if (c.cluster !== cluster) logLine(`the restarted arbiter is of cluster ${c.cluster}, not ${cluster}: every host will refuse it`);
        updateControl();
      },
      () => setTimeout(() => restartArbiter(attempt + 1), ARBITER_RESTART_DELAY_MS),
    );
  }
  const common = [
    ...(net ? ["--switch", net.url] : []),
    "--arbiter",
    arbiterUrl,
    "--cluster",
    cluster,
    "--sink",
    sink.url,
    // The hosts run here, beside the image: they read it directly (see diskclient.ts).
    ...(diskServer ? ["--disk-server", diskServer.url, "--disk-read-image", resolve(o.disk!)] : []),
    ...hb,
    ...(o.unloggedRand ? ["--unlogged-rand"] : []),
    ...(o.logBufferBytes ? ["--log-buffer-bytes", o.logBufferBytes] : []),
    ...(o.lagThresholdMs !== undefined ? ["--lag-threshold-ms", String(o.lagThresholdMs)] : []),
  ];
  const slow = o.backupSlowdown ? ["--slowdown", o.backupSlowdown] : [];
  /**
   * Non-shared: a new image for the next host. The first two start from copies of the
   * user's image; a joining backup gets a fresh one of the same geometry, which the clone
   * fills with its primary's image before it replays.
   */
  const ownImage = (copy: boolean): string[] => {
    if (!ownImages || !o.disk) return [];
    const path = join(ownImages.dir, `host-${ownImages.next++}.img`);
    if (copy) copyFileSync(o.disk, path);
    else createDiskImage(path, ownImages.geometry);
    return ["--disk-image", path];
  };
  const primaryArgs = [
    o.program,
    "--listen",
    "127.0.0.1:0",
    ...(o.mem ? ["--mem", o.mem] : []),
    ...(o.stack ? ["--stack", o.stack] : []),
    ...ownImage(true),
    ...(o.backupReads ? ["--backup-reads"] : []),
    ...(o.waitBackupMs !== undefined ? ["--wait-backup-ms", String(o.waitBackupMs)] : []),
    ...common,
    ...(traceDir?.hostArgs() ?? []),
    ...segmentArgs(),
    ...(o.crashPrimaryAtIcount !== undefined ? ["--crash-at-icount", String(o.crashPrimaryAtIcount), ...(o.respawn === false ? [] : ["--crash-only-paired"])] : []),
  ];
  const backupArgs = [
    ...ownImage(true),
    ...common,
    ...slow,
    ...(traceDir?.hostArgs() ?? []),
    ...segmentArgs(),
    ...(o.crashBackupAtIcount !== undefined ? ["--crash-at-icount", String(o.crashBackupAtIcount)] : []),
  ];
  // The first backup starts with the primary, not once the primary listens: on a busy
  // machine each process takes a second or more to load, and one after the other the
  // arbiter, the primary and the backup took 4-5 s to pair (load average 12: 1.5 s,
  // 1.8 s, 1.5 s). The backup loads and connects everything while the primary does, then
  // is told where the primary listens, as a standby is.
  const primaryStarted = spawnChild("primary", primaryArgs, true);
  // Handled below, after the arbiter's (a rejection must not go unhandled meanwhile).
  primaryStarted.catch(() => undefined);
  const backup = await spawnChild("backup", ["--join-stdin", ...backupArgs], true);
  firstBackupChild = backup;
  // The arbiter first: when it cannot start, its reason is the launch's (the hosts then fail for want of it).
  if (arbiterStarted) {
    const a = await arbiterStarted.catch(async (e) => {
      await net?.close();
      return abortLaunch(e);
    });
    if (a.cluster !== cluster) {
      await net?.close();
      return abortLaunch(new HostError(`the arbiter is of cluster ${a.cluster ?? "(none)"}, not the ${cluster} this launcher founded in ${arbiterState}`));
    }
  }
  const primary = await primaryStarted.catch(async (e) => {
    await net?.close();
    return abortLaunch(e);
  });
  backup.proc.stdin!.write(`join ${primary.url!}\n`);

  const arbiterClient = openArbiter(arbiterUrl, secret, cluster);
  /** Who is primary and whether a paired backup exists, from the arbiter (see cluster-facts.ts). */
  /** Processes we SIGKILLed: dead to us at once, though the OS answers for them until the launcher reaps them. */
  const killedPids = new Set<number>();
  /**
   * The arbiter's state as last read. While the arbiter process is dead nothing can be
   * granted, so its last state is still the current one: a kill may rest on it then (a
   * primary may die while the arbiter is down, and its backup must wait for the arbiter).
   */
  let lastArbiterState: ArbiterState | undefined;
  const refreshArbiterState = async (): Promise<ArbiterState> => (lastArbiterState = await arbiterClient.state());
  const facts = async (): Promise<ClusterFacts> => {
    let state: ArbiterState;
    try {
      state = await refreshArbiterState();
    } catch (e) {
      if (!arbiter?.exited || lastArbiterState === undefined) throw e;
      state = lastArbiterState;
    }
    return clusterFacts(state, statuses, (pid) => !killedPids.has(pid) && processRunning(pid));
  };

  // Which process is primary changes with failovers: the hosts' own reports say.
  const pidOf = (role: "primary" | "backup"): number | undefined => {
    const live = [...statuses.values()].filter((s) => processRunning(s.pid));
    const want = role === "primary" ? ["primary", "alone"] : ["backup", "joining"];
    const byStatus = live.filter((s) => want.includes(s.role)).sort((a, b) => b.epoch - a.epoch)[0]?.pid;
    if (byStatus) return byStatus;
    const c = role === "primary" ? primary : backup;
    return c.exited ? undefined : c.proc.pid;
  };
  const crashArbiter = (by: "script" | "user"): boolean => {
    const pid = arbiter && !arbiter.exited ? arbiter.proc.pid : undefined;
    if (pid === undefined) {
      logLine(etcd ? "the arbiter is etcd: kill or pause one of its members instead (see docs/etcd.md)" : "no arbiter to crash");
      emit({ type: "fault-refused", fault: "kill", target: "arbiter", reason: etcd ? "the arbiter is etcd: kill or pause one of its members instead" : "no arbiter is running" });
      return true;
    }
    logLine(`crashing the arbiter (pid ${pid}) with SIGKILL`);
    noteKill("arbiter", pid, by);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
    return true;
  };
  /**
   * SIGKILLs the primary or the backup of the current epoch, only while the arbiter says
   * the pair exists and both processes run: a kill never takes the last live host.
   * Returns whether it killed; `scripted` kills are retried by the caller, a key press
   * is told why not.
   */
  /** A user's fault not carried out: on the stream, and in `why` for whoever asked (the dashboard shows it). */
  const refuse = (fault: string, target: string, reason: string, why?: { reason?: string }) => {
    if (why) why.reason = reason;
    emit({ type: "fault-refused", fault, target, reason });
  };
  const crash = async (role: "primary" | "backup", scripted: boolean, why?: { reason?: string }): Promise<boolean> => {
    let f: ClusterFacts;
    try {
      f = await facts();
    } catch (e) {
      if (!scripted) {
        logLine(`not crashing the ${role}: the arbiter did not answer (${(e as Error).message})`);
        refuse("kill", role, `the arbiter did not answer (${(e as Error).message})`, why);
      }
      return false;
    }
    if (stopping || done) return true;
    const pid = role === "primary" ? f.primaryPid : f.backupPid;
    if (!f.paired || pid === undefined) {
      if (!scripted) {
        logLine(`not crashing the ${role}: ${f.why ?? "no pair"}; it would leave no host with the guest's state`);
        refuse("kill", role, `${f.why ?? "no pair"}; it would leave no host with the guest's state`, why);
      }
      return false;
    }
    if (killedPids.has(pid)) return true;
    logLine(`crashing the ${role} (pid ${pid}, epoch ${f.epoch}) with SIGKILL`);
    killedPids.add(pid);
    noteKill(role, pid, scripted ? "script" : "user", f.epoch);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
    hurryStandby();
    return true;
  };
  /** Scripted faults, one at a time, each waiting (polling the arbiter) until it can be carried out. */
  const pendingFaults: { what: string; run: () => Promise<boolean> }[] = [];
  let faultBusy = false;
  const pumpFaults = async (): Promise<void> => {
    if (faultBusy || pendingFaults.length === 0 || stopping || done) return;
    faultBusy = true;
    try {
      const ok = await pendingFaults[0].run();
      if (ok) pendingFaults.shift();
    } finally {
      faultBusy = false;
    }
    if (pendingFaults.length > 0 && !stopping && !done) timers.push(setTimeout(() => void pumpFaults(), FAULT_RETRY_MS));
  };
  const scheduleFault = (what: string, run: () => Promise<boolean>): void => {
    if (pendingFaults.some((f) => f.what === what)) return; // one of each kind due at a time
    pendingFaults.push({ what, run });
    void pumpFaults();
  };
  /** Signals both members of a formed pair (the log-channel faults), under the same rule as kills. */
  const signalPair = async (signal: NodeJS.Signals, text: string, both: boolean, by: "script" | "user" = "script", why?: { reason?: string }): Promise<boolean> => {
    const fault = both ? "partition" : "drop-channel";
    let f: ClusterFacts;
    try {
      f = await facts();
    } catch (e) {
      if (by === "user") refuse(fault, "channel", `the arbiter did not answer (${(e as Error).message})`, why);
      return false;
    }
    if (!f.paired) {
      if (by === "user") refuse(fault, "channel", f.why ?? "no pair", why);
      return false;
    }
    logLine(text);
    emit({ type: "fault", fault, target: "channel", by, epoch: f.epoch });
    for (const pid of both ? [f.primaryPid, f.backupPid] : [f.primaryPid]) if (pid !== undefined) process.kill(pid, signal);
    return true;
  };
  // "Slow the backup" (see slow-backup.ts): one backup at a time, until asked to stop,
  // it is no longer the backup, or the run ends.
  let slowing: { pid: number; stop(): void } | undefined;
  const stopSlowing = () => slowing?.stop();
  const slowBackup = async (on: boolean): Promise<string | undefined> => {
    if (!on) {
      stopSlowing();
      return undefined;
    }
    if (slowing) return undefined;
    let f: ClusterFacts;
    try {
      f = await facts();
    } catch (e) {
      return `the arbiter did not answer (${(e as Error).message})`;
    }
    if (!f.paired || f.backupPid === undefined) return f.why ?? "no backup is paired";
    if (slowing) return undefined;
    const pid = f.backupPid;
    logLine(`slowing the backup (pid ${pid}) down: it runs ${SLOW_BACKUP_RUN_MS} ms, then stops ${SLOW_BACKUP_STOP_MS} ms`);
    emit({ type: "fault", fault: "slow-backup", target: "backup", by: "user", pid, epoch: f.epoch, on: true });
    // Once it drains, elects or goes live it is no longer the backup: let it run.
    const stillBackup = () => {
      const role = [...statuses.values()].find((x) => x.pid === pid)?.role;
      return processRunning(pid) && (role === undefined || role === "backup");
    };
    slowing = {
      pid,
      stop: slowProcess(pid, stillBackup, (why) => {
        slowing = undefined;
        emit({ type: "fault", fault: "slow-backup", target: "backup", by: "user", pid, on: false });
        logLine(`the backup (pid ${pid}) runs at full speed again (${why})`);
      }),
    };
    return undefined;
  };
  // `ftvm crash primary|backup` from another terminal signals this launcher (SIGUSR1 for
  // the primary, SIGUSR2 for the backup), which carries the kill out under the same rule
  // as its keys. The control file (src/host/control.ts) names the launcher, the cluster
  // and each process's current role; it is replaced whole whenever a role changes.
  // The hosts' icounts (which `ftvm ps` shows) change with every status line: they are
  // written at most every CONTROL_ICOUNT_REFRESH_MS; a role change is written at once.
  const control = controlFile();
  const controlWriter = new ControlWriter(control);
  let lastControl = "";
  let lastIcounts = "";
  let lastControlAtMs = 0;
  function updateControl(): void {
    const hosts = [...statuses.values()]
      .filter((h) => h.role !== "halted" && !killedPids.has(h.pid) && processRunning(h.pid))
      .map((h) => ({ role: h.role, pid: h.pid, epoch: h.epoch, icount: h.icount }));
    const key = JSON.stringify([arbiter?.proc.pid, hosts.map((h) => [h.role, h.pid, h.epoch])]);
    const icounts = JSON.stringify(hosts.map((h) => h.icount));
    const nowMs = Date.now();
    if (key === lastControl && (icounts === lastIcounts || nowMs - lastControlAtMs < CONTROL_ICOUNT_REFRESH_MS)) return;
    lastControl = key;
    lastIcounts = icounts;
    lastControlAtMs = nowMs;
    try {
      controlWriter.write({ launcherPid: process.pid, arbiterPid: arbiter?.proc.pid, cluster, program: o.program, startedAtMs: started, hosts, ...(etcd ? { etcd: true } : {}) });
    } catch {
      // The control file is a convenience for `ftvm crash` and `ftvm ps`; without it, keys still work.
    }
  }
  updateControl();
  // The first line names the cluster and its control endpoint (ftvm ps and ftvm crash find it).
  if (!o.quiet) say(`ftvm ft: cluster ${cluster}, control ${control} (ftvm ps lists it; ftvm crash primary|backup|arbiter acts on it)\n`);
  const onCrashPrimary = () => void crash("primary", false);
  const onCrashBackup = () => void crash("backup", false);
  process.on("SIGUSR1", onCrashPrimary);
  process.on("SIGUSR2", onCrashBackup);
  const timers: NodeJS.Timeout[] = [];

  // ---- restoring redundancy: a new backup joins the survivor after every failure ----
  // One joiner at a time; it connects to the live primary's log URL and gets a clone.
  const livePrimary = (): Child | undefined => {
    const pid = pidOf("primary");
    return children.find((c) => c.proc.pid === pid && !c.exited && c.role !== "arbiter");
  };
  function scheduleRespawn(): void {
    if (!ready || o.respawn === false || stopping || done || joiner || respawnGaveUp) return;
    if (cloneFailuresInRow >= CLONE_FAILURES_IN_ROW_MAX) {
      respawnGaveUp = `${cloneFailuresInRow} clones in a row failed (last: ${lastCloneFailure ?? "?"})`;
      logLine(`not starting another backup: ${respawnGaveUp}; the primary runs without one`);
      emit({ type: "respawn-stopped", reason: respawnGaveUp });
      return;
    }
    const p = livePrimary();
    if (!p?.url) return;
    const standby = spare;
    // A backup is needed now: a standby still starting at the lower priority (not ready,
    // so a fresh backup is spawned instead, and it is the next standby) gets the normal
    // priority back, so that it is ready soon if this join fails.
    for (const pid of [...standbyLowered]) {
      if (pid === standby?.proc?.pid) continue;
      restoreStandbyPriority(pid);
      standbyLowered.delete(pid);
    }
    if (standby?.proc && !standby.exited) {
      // The standby has loaded and connected everything, or is still doing so: either way it
      // only has to be told where to go (a fresh process would start from nothing).
      spare = undefined;
      joiner = standby;
      // Whether it was ready decides the next standby's start-up priority (see startSpare):
      // not ready, or ready for a shorter time than its start-up took (one started at the
      // lower priority, which starts slower, would likely not have been ready).
      const nowMs = Date.now();
      standbyNeededBeforeReady = standby.readyAtMs === undefined || nowMs - standby.readyAtMs < standby.readyAtMs - (standby.startedAtMs ?? standby.readyAtMs);
      if (standbyLowered.delete(standby.proc.pid!) && !restoreStandbyPriority(standby.proc.pid!))
        logLine(`the standby backup (pid ${standby.proc.pid}) could not be given its normal CPU priority back: it joins at nice ${STANDBY_NICE}`);
      spawnedAtMs.set(standby.proc.pid!, Date.now());
      standby.proc.stdin!.write(`join ${p.url}\n`);
      logLine(`the standby backup (pid ${standby.proc.pid}${standby.url === undefined ? ", still starting" : ""}) joins the primary (pid ${p.proc.pid}) by clone`);
      // The next standby starts now: its start-up (seconds on a busy machine) overlaps this clone.
      startSpare();
      prepareSpare();
      return;
    }
    const args = ["--join", p.url, ...ownImage(false), ...common, ...slow, ...(traceDir?.hostArgs() ?? []), ...segmentArgs()];
    joiner = { role: "backup", proc: undefined as never, exited: false };
    void spawnChild("backup", args).then((c) => {
      joiner = c;
      spawnedAtMs.set(c.proc.pid!, Date.now());
      logLine(`starting a new backup (pid ${c.proc.pid}) to join the primary (pid ${p.proc.pid}) by clone`);
    });
  }

  /**
   * The standby connects ahead of time ("prepare URL" on its stdin; see FtHost.runBackup)
   * to the host that will need it next, so that its join order finds the log channel open:
   * the backup joining now (the next pair's backup), else the current pair's backup. When
   * the primary dies, that backup runs alone and the standby joins it. The kill of a pair
   * can come right after it forms (--crash-primary-every-ms), so the standby connects to a
   * joiner already while it copies, not only once it is paired.
   */
  function prepareSpare(): void {
    const s = spare;
    const b = joiner?.proc && !joiner.exited ? joiner : pairBackup;
    if (!s?.proc || s.exited || !b?.url || b.exited || s.preparedUrl === b.url) return;
    s.preparedUrl = b.url;
    s.proc.stdin!.write(`prepare ${b.url}\n`);
  }
  /** Standbys started at a lower CPU priority (see standby-priority.ts). */
  const standbyLowered = new Set<number>();
  /**
   * A host failed or was killed: the standby is needed in a moment. One still starting at
   * the lower priority gets the normal one now rather than at its join order, which comes
   * only once the survivor went live (under the standard load, kill to live took 0.1-4 s).
   */
  function hurryStandby(): void {
    if (!ready) return;
    const pid = spare?.proc?.pid;
    if (pid === undefined || spare!.exited || spare!.url !== undefined || !standbyLowered.has(pid)) return;
    if (restoreStandbyPriority(pid)) standbyLowered.delete(pid);
  }
  /**
   * The last standby was told to join before it had started (it had not yet said where it
   * listens), or after idling for less time than its start-up took. Failures then come
   * faster than a standby starts at the lowest priority, and the next one starts at the
   * normal priority instead (see startSpare).
   */
  let standbyNeededBeforeReady = false;
  /** Starts the standby backup (one at a time): when the pair forms, and as soon as the last standby was given a primary to join. */
  function startSpare(): void {
    if (o.respawn === false || o.spare === false || stopping || done || spare || respawnGaveUp) return;
    spare = { role: "backup", proc: undefined as never, exited: false };
    // Its start-up at a lower priority, so that it does not slow the pair (see standby-priority.ts).
    // Unless the last standby was needed before it had started, or soon after (see
    // standbyNeededBeforeReady): at nice 19 beside busy
    // processes a standby gets about 1.5% of a core, and its start-up (0.2-0.3 s of CPU)
    // took 10-15 s (redis-lin under the standard load, 2026-12-07), while the primary was
    // killed every few seconds. Each one was then told to join half started, and did the
    // rest of its start-up at the normal priority after the failure, on the path to the
    // next pair: 0.6-4.6 s from the join order to reading it. Started at the normal
    // priority it is ready sooner, and it still idles at the lower one once it is ready
    // (the same CPU, spent before the failure instead of after it).
    const startEarly = standbyNeededBeforeReady;
    const lower = (pid: number) => {
      if (!startEarly && lowerStandbyPriority(pid, o.standbyNice)) standbyLowered.add(pid);
    };
    void spawnChild("backup", ["--join-stdin", ...ownImage(false), ...common, ...slow, ...(traceDir?.hostArgs() ?? []), ...segmentArgs()], false, lower).then((c) => {
      if (stopping || done) c.proc.kill("SIGTERM");
      spare = c;
      prepareSpare();
      if (!startEarly) return;
      // Ready and still a standby (not told to join meanwhile): it idles at the lower priority.
      c.onReady = () => {
        if (spare === c && !c.exited && !stopping && !done && lowerStandbyPriority(c.proc.pid!, o.standbyNice)) standbyLowered.add(c.proc.pid!);
      };
      if (c.url !== undefined) c.onReady();
    });
  }

  // ---- news: pairs forming and breaking, clones failing ----
  function onNews(host: string, d: Record<string, unknown>, text: string): void {
    // News can arrive while this function's helpers below are still being set up: keep it
    // for when they are (see `ready`).
    if (!ready) {
      earlyNews.push([host, d, text]);
      return;
    }
    const ev = d.event;
    const pid = Number(d.pid);
    const epoch = Number(d.epoch);
    if (ev === "divergence") {
      const reason = String(d.reason);
      liveDivergences.push({ pid: Number.isFinite(pid) ? pid : undefined, icount: Number(d.icount), pc: typeof d.pc === "number" ? d.pc : undefined, line: typeof d.line === "string" ? d.line : undefined, reason });
      emit({ type: "divergence", where: "replay", host, ...(Number.isFinite(epoch) ? { epoch } : {}), reason: `at icount ${Number(d.icount)}: ${reason}` });
      if (o.onDivergence === "stop") {
        logLine(`launcher: a backup diverged (${text}); stopping the run (--on-divergence stop)`);
        finish?.();
      }
    }
    // Keep the arbiter's state fresh (see lastArbiterState) whenever the pair changes.
    if (ev === "start" || ev === "paired" || ev === "paired-backup" || ev === "live" || ev === "alone") void refreshArbiterState().catch(() => undefined);
    const now = Date.now();
    if (ev === "clone-pause") clonePause.set(host, { icount: Number(d.icount), pauseMs: Number(d.pauseMs) });
    if (ev === "clone-sent") cloneSent.set(host, { sendMs: Number(d.sendMs), wallMs: Number(d.wallMs) });
    if (ev === "restored") restoredAt.set(Number(d.icount), pid);
    if (ev === "live") {
      const t = events.elapsedMs();
      const k = [...kills].reverse().find((x) => x.role === "primary" && x.at <= t);
      events.emit(failoverEvent(host, pid, epoch, d, k ? t - k.at : undefined), t);
    }
    if (ev === "alone") emit({ type: "alone", host, pid, epoch });
    /** With "paired": the joined backup's pid (its "restored" named it). */
    let joinedPid: number | undefined;
    if (ev === "paired") {
      const icount = Number(d.icount);
      const pause = clonePause.get(host);
      const sent = cloneSent.get(host);
      const joinerPid = restoredAt.get(icount);
      joinedPid = joinerPid;
      const spawned = joinerPid === undefined ? undefined : spawnedAtMs.get(joinerPid);
      clonePause.delete(host);
      cloneSent.delete(host);
      restoredAt.clear();
      emit({
        type: "clone",
        host,
        pid,
        epoch,
        icount,
        memBytes: Number(d.memBytes),
        cloneMs: Number(d.cloneMs),
        ...(pause && pause.icount === icount ? { pauseMs: pause.pauseMs } : {}),
        ...(spawned !== undefined ? { fromSpawnMs: now - spawned } : {}),
        ...(sent ? { sendMs: sent.sendMs, sendWallMs: sent.wallMs } : {}),
      });
    }
    if ((ev === "start" && d.role === "primary") || ev === "paired") {
      // The pair's backup: the first backup, or the one that joined.
      pairBackup = ev === "start" ? firstBackupChild : (children.find((c) => c.proc?.pid !== undefined && c.proc.pid === joinedPid) ?? joiner);
      if (ev === "paired") {
        joiner = undefined;
        cloneFailuresInRow = 0;
      }
      setProtected(true);
      if (pairFormedAt === undefined) {
        pairFormedAt = now;
        pairFormed();
      }
      void pumpFaults();
      startSpare();
      prepareSpare();
    }
    if ((ev === "start" && d.role === "alone") || ev === "live" || ev === "alone") setProtected(false);
    if (ev === "start" && d.role === "alone" && pairFormedAt === undefined) {
      // The primary stopped waiting for its first backup (--wait-backup-ms; a loaded machine
      // can take longer than that to start a process) and runs alone. That backup, if it
      // still runs, may yet join by clone (its hello then arrives as a join); once it is
      // gone without a pair, another one is started (see the exit handler). Without this,
      // nothing asked for a backup again and the guest ran unprotected to its end.
      firstBackupLate = true;
      if (firstBackupChild === undefined || firstBackupChild.exited) {
        firstBackupLate = false;
        setTimeout(scheduleRespawn, 0);
      }
    }
    if (ev === "clone-failed") {
      cloneFailuresInRow++;
      lastCloneFailure = text.replace(/^.*?failed \((.*)\); still alone.*$/, "$1");
      emit({ type: "clone-failed", host, pid, reason: lastCloneFailure });
    }
    if (ev === "live" || ev === "alone" || ev === "clone-failed") {
      // Let the failed joiner's process go before starting the next one; back off after failures.
      const delayMs = ev === "clone-failed" ? Math.min(CLONE_RETRY_DELAY_MS_MAX, 50 * 2 ** Math.min(10, cloneFailuresInRow - 1)) : 0;
      setTimeout(scheduleRespawn, delayMs);
    }
  }
  if (o.crashPrimaryEveryMs !== undefined) {
    const every = o.crashPrimaryEveryMs;
    if (!(every > 0)) throw new HostError(`--crash-primary-every-ms must be positive, got ${every}`, EXIT_BAD_OPTION);
    void pairFormedOnce.then(() => timers.push(setInterval(() => scheduleFault("kill-primary", () => crash("primary", true)), every)));
  }

  ready = true;
  for (const [host, d, text] of earlyNews.splice(0)) onNews(host, d, text);
  /** A user's kill: undefined when carried out, else why not. */
  const userKill = async (role: "primary" | "backup" | "arbiter"): Promise<string | undefined> => {
    if (role === "arbiter") return crashArbiter("user") ? undefined : "no arbiter";
    const why: { reason?: string } = {};
    return (await crash(role, false, why)) ? undefined : (why.reason ?? "not carried out");
  };
  const userSignal = async (signal: NodeJS.Signals, text: string, both: boolean): Promise<string | undefined> => {
    const why: { reason?: string } = {};
    return (await signalPair(signal, text, both, "user", why)) ? undefined : (why.reason ?? "not carried out");
  };
  const controls: ClusterControl = {
    crash: (role) => void userKill(role),
    kill: userKill,
    partition: () => userSignal("SIGUSR2", "cutting the log channel between primary and backup (a partition, from the dashboard)", true),
    drop: () => userSignal("SIGUSR1", "dropping the log channel's connection (from the dashboard; the backup should reconnect)", false),
    slowBackup,
  };
  o.onControl?.(controls);
  lateControls = controls;
  if (net || diskServer)
    timers.push(
      setInterval(() => {
        const heldWrites = [...statuses.values()].reduce((n, s) => n + (s.heldWrites ?? 0), 0);
        emit({
          type: "io",
          ...(net ? { netClients: net.sw.openClients(), netClientsEver: net.sw.stats.clients, netBytesIn: net.sw.stats.bytesIn, netBytesOut: net.sw.stats.bytesOut } : {}),
          ...(diskServer ? { diskReads: diskServer.stats.reads, diskWrites: diskServer.stats.writes, diskPending: diskServer.pending(), heldWrites } : {}),
        });
      }, IO_EVENT_INTERVAL_MS),
    );
  // A host that went alone before we were ready still wants a backup, unless it is the
  // primary whose first backup is late and still running: that one joins it by clone (its
  // hello waits at the primary until the first epoch is granted), and a second joiner
  // started now would only be refused.
  if (!firstBackupLate && [...statuses.values()].some((s) => s.role === "alone" && processRunning(s.pid))) scheduleRespawn();

  // Timed faults count from the moment the first pair formed (see the usage text).
  // A scripted fault the run ends before carrying out is said in the summary (a demo whose
  // kill never came would otherwise look like a failover that went well).
  const scriptedDue = new Map<string, { fault: string; target: string; afterMs: number }>();
  const afterPair = (ms: number | undefined, what: string, fault: string, target: string, run: () => Promise<boolean>) => {
    if (ms === undefined) return;
    scriptedDue.set(what, { fault, target, afterMs: ms });
    const once = async () => {
      const ok = await run();
      if (ok) scriptedDue.delete(what);
      return ok;
    };
    void pairFormedOnce.then(() => timers.push(setTimeout(() => scheduleFault(what, once), ms)));
  };
  afterPair(o.crashPrimaryAfterMs, "kill-primary-once", "kill", "primary", () => crash("primary", true));
  afterPair(o.crashBackupAfterMs, "kill-backup-once", "kill", "backup", () => crash("backup", true));
  afterPair(o.dropChannelAfterMs, "drop-channel", "drop-channel", "channel", () => signalPair("SIGUSR1", "dropping the log channel's connection (the backup should reconnect)", false));
  afterPair(o.partitionAfterMs, "partition", "partition", "channel", () => signalPair("SIGUSR2", "cutting the log channel between primary and backup (a partition)", true));
  afterPair(o.crashArbiterAfterMs, "kill-arbiter-once", "kill", "arbiter", async () => crashArbiter("script"));
  timers.push(
    setInterval(() => {
      renderStatus();
      updateControl();
    }, 250),
  );

  let interrupted = false;
  const stdin = o.input ?? process.stdin;
  const keys = !o.info && stdin.isTTY === true && typeof stdin.setRawMode === "function";
  const escapes = new EscapeReader();
  const toGuest = (bytes: Uint8Array) => {
    if (!consoleIn || bytes.length === 0 || consoleIn.hold.eofAt !== undefined) return;
    if (!consoleIn.push(bytes)) stdin.pause();
  };
  const onInput = (chunk: Buffer) => {
    if (!keys) return toGuest(new Uint8Array(chunk));
    const { guest, commands } = escapes.feed(new Uint8Array(chunk));
    toGuest(guest);
    for (const c of commands) {
      if (c === "crash-primary") void crash("primary", false);
      else if (c === "crash-backup") void crash("backup", false);
      else if (c === "crash-arbiter") crashArbiter("user");
      else if (c === "help") logLine(ESCAPE_HELP);
      else if (c === "end-input") onInputEnd();
      else {
        interrupted = true;
        finish?.();
      }
    }
  };
  const onInputEnd = () => {
    if (!consoleIn) return;
    consoleIn.hold.end();
    consoleIn.pump();
  };
  if (keys) stdin.setRawMode!(true);
  if (keys || consoleIn) {
    stdin.on("data", onInput);
    stdin.on("end", onInputEnd);
    stdin.resume();
  }
  const onSigint = () => {
    interrupted = true;
    finish?.();
  };
  process.on("SIGINT", onSigint);
  stops.onStop((why) => {
    logLine(why === "parent" ? "the process that started this launcher is gone: stopping the cluster" : `${why}: stopping the cluster`);
    interrupted = true;
    finish?.();
  });

  await finished;
  stopping = true;
  arbiterClient.close();
  stopSlowing();
  for (const t of timers) clearTimeout(t);
  process.off("SIGINT", onSigint);
  process.off("SIGUSR1", onCrashPrimary);
  process.off("SIGUSR2", onCrashBackup);
  if (keys || consoleIn) {
    stdin.off("data", onInput);
    stdin.off("end", onInputEnd);
    if (keys) stdin.setRawMode!(false);
    stdin.pause();
  }
  // Give the finishing host a moment to close cleanly, then stop everything we started.
  await new Promise((r) => setTimeout(r, done ? 100 : 0));
  for (const c of children) if (!c.exited) c.proc.kill("SIGTERM");
  await Promise.all(children.map((c) => (c.exited ? undefined : new Promise((r) => c.proc.once("exit", r)))));
  await sink.close();
  await net?.close();
  await diskServer?.close();
  if (arbiterDir) rmSync(arbiterDir, { recursive: true, force: true });
  await etcd?.close();
  // Non-shared: the image of the host that finished as the live primary is the disk's final
  // state: it goes back over the user's image. Without a finish, the hosts' images stay
  // where they are, for a look.
  let copiedBack: string | undefined;
  if (ownImages && o.disk) {
    const from = done?.diskImage;
    if (typeof from === "string") {
      copyFileSync(from, o.disk);
      copiedBack = from;
      rmSync(ownImages.dir, { recursive: true, force: true });
    }
  }
  const traced = traceDir?.finish();
  let recorded: StitchResult | undefined;
  let recordLine: string | undefined;
  if (segments && o.record) {
    try {
      recorded = stitchRun(segments.paths, o.record);
      recordLine = recorded
        ? `  log: ${recorded.events.toLocaleString("en-US")} events (${recorded.bytes.toLocaleString("en-US")} bytes) stitched from ${recorded.epochs.length} epoch${recorded.epochs.length === 1 ? "" : "s"} of live hosts into ${o.record}` +
          (recorded.ended ? "; replay it with ftvm replay" : `; it ends at lsn ${recorded.lastLsn} without an END mark${recorded.gap ? ` (${recorded.gap})` : ""}`)
        : `  log: no host logged anything; ${o.record} was not written`;
      rmSync(segments.dir, { recursive: true, force: true });
    } catch (e) {
      // The segments stay for a look when they could not be stitched.
      recordLine = `  log: stitching the hosts' segments (in ${segments.dir}) failed: ${(e as Error).message}`;
    }
  }
  // What the run's options add to the summary: on the stream (the end event) like everything else in it.
  const extraLines = [
    ...(traced?.lines ?? []),
    ...(consoleIn ? consoleIn.summary().split("\n").filter(Boolean) : []),
    ...divergenceSummary(liveDivergences, o.onDivergence ?? "halt-backup"),
    ...(recordLine ? [recordLine] : []),
  ];
  clearStatus();
  closeGuestLine();
  await controlWriter.remove();
  if (refused !== undefined) throw new HostError(refused, EXIT_BAD_OPTION);
  const code = interrupted ? (stops.why !== undefined ? OUTSIDE_STOP_EXIT_CODE[stops.why] : 130) : !done ? EXIT_FAIL : done.trap ? EXIT_FAIL : EXIT_OK;
  const outcome = done ? (done.reason === "trapped" ? "trapped" : "halted") : interrupted ? "interrupted" : "no-host";
  for (const f of scriptedDue.values())
    emit({
      type: "fault-refused",
      fault: f.fault,
      target: f.target,
      by: "script",
      reason: pairFormedAt === undefined ? "no pair ever formed" : `the run ended first (due ${f.afterMs} ms after the pair formed, and only when a pair stands)`,
    });
  const st = sink.state;
  const ds = diskServer?.stats;
  emit({
    type: "end",
    code,
    outcome,
    ...(done ? { icount: Number(done.icount) } : {}),
    elapsedMs: Date.now() - started,
    ...(done && typeof done.logWireBytes === "number" ? { logWireBytes: done.logWireBytes, runMs: Number(done.runMs) } : {}),
    sink: { epoch: st.epoch, delivered: st.delivered, chunksAccepted: st.chunksAccepted, chunksDuplicate: st.chunksDuplicate, duplicateBytes: st.duplicateBytes, refusedStale: st.refusedStale, divergences: st.divergences, refusedCluster: st.refusedCluster, uncheckedBytes: st.uncheckedBytes },
    ...(ds ? { disk: { reads: ds.reads, writes: ds.writes, refusedStale: ds.refusedStale, ioErrors: ds.ioErrors, joined: ds.joined, diverged: ds.diverged, refusedCluster: ds.refusedCluster } } : {}),
    ...(ownImages ? { ownImages: { dir: ownImages.dir, ...(copiedBack !== undefined ? { copiedBack } : {}) } } : {}),
    ...(net ? { net: { ...net.sw.stats } } : {}),
    cluster,
    arbiterRestarts,
    ...(extraLines.length > 0 ? { extraLines } : {}),
  });
  const text = formatSummary(tally);
  emit({ type: "summary", code, text, failovers: tally.failoverCount, clones: tally.cloneCount, kills: tally.kills, unprotectedMs: tally.unprotectedMs });
  info(text);
  await ui?.close();
  if (o.report) {
    const { writeReport } = await import("./dashboard-report.js");
    writeReport(o.report, events);
    info(`ftvm ft: report written to ${o.report}\n`);
  }
  const failovers = tally.failovers.map((f) => ({
    liveMs: f.fromKillMs,
    firstOutputMs: tally.firstOutputFromKillMs(f),
    silentMs: f.detectionMs,
    replayMs: f.replayMs,
    electMs: f.tasMs,
  }));
  const clones = tally.clones.map((c) => ({ pauseMs: c.pauseMs, cloneMs: c.cloneMs, fromSpawnMs: c.fromSpawnMs, memBytes: c.memBytes, sendMs: c.sendMs, sendWallMs: c.sendWallMs }));
  return {
    code,
    done,
    summary: text,
    failovers,
    clones,
    disk: diskServer ? { ...diskServer.stats } : undefined,
    ownImages: ownImages ? { dir: ownImages.dir, copiedBack } : undefined,
    cluster,
    arbiterRestarts,
    divergences: { sink: sink.state.divergences, disk: diskServer?.stats.diverged ?? 0, switch: net?.sw.stats.diverged ?? 0 },
    ...(traced ? { traces: traced.traces } : {}),
    ...(recorded ? { record: recorded } : {}),
    liveDivergences,
    ...(consoleIn ? { consoleInput: { readBytes: consoleIn.readBytes, durableBytes: consoleIn.hold.base, resends: consoleIn.resends, resentBytes: consoleIn.resentBytes } } : {}),
  };
}

/**
 * A host's line in the status block. `cloneSeen`: when its clone was first seen (and how
 * far it was then) and when its last status came: the copy's rate is measured between
 * the two, so it holds still between status messages rather than sinking at each redraw.
 */
export function statusLine(s: HostStatus, cloneSeen?: { at: number; bytes: number; lastAt: number }): string {
  const base = `${s.role.padEnd(8)} pid ${String(s.pid).padEnd(6)} epoch ${s.epoch}  icount ${s.icount.toLocaleString("en-US")}`;
  if (s.clone) {
    // A new backup copying the primary's state (a large memory takes seconds): how far, how fast, how long yet.
    const facts = { label: "clone", done: s.clone.bytes, total: s.clone.totalBytes, unit: "bytes", amounts: "bytes" as const };
    return `${base}  ${progressText(cloneSeen ? { ...facts, elapsedMs: cloneSeen.lastAt - cloneSeen.at, doneAtStart: cloneSeen.bytes } : facts)}`;
  }
  if (s.role !== "primary") return base;
  const throttle = s.throttle ? `  throttled ${Math.round(s.throttle * 100)}%` : "";
  const writes = s.heldWrites !== undefined ? `  held writes ${s.heldWrites}` : "";
  return `${base}  backup lag ${(s.lagIcount ?? 0).toLocaleString("en-US")} instr / ${(s.lagMs ?? 0).toFixed(1)} ms${throttle}  log ${formatRate(s.logBytesPerSec ?? 0)}  held ${s.heldOutputs ?? 0}${writes}`;
}

function formatRate(bps: number): string {
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} MB/s` : bps >= 1e3 ? `${(bps / 1e3).toFixed(1)} kB/s` : `${bps.toFixed(0)} B/s`;
}

/** A host's status line as a status event. */
function statusFields(s: HostStatus): RunEventBody & { type: "status" } {
  const e: RunEventBody & { type: "status" } = { type: "status", host: s.host, pid: s.pid, role: s.role, epoch: s.epoch, icount: s.icount };
  for (const k of ["lagIcount", "lagMs", "throttle", "logBytesPerSec", "heldOutputs", "heldBytes", "heldWrites"] as const) if (typeof s[k] === "number") e[k] = s[k];
  return e;
}

/** The options a reader of the stream needs (the summary's lines about them), without functions. */
/**
 * Found out at the launch, not after a long run: `path` can be written. An existing file is
 * opened for writing without truncating it; a new one is created and removed again.
 */
function checkWritable(path: string, flag: string): void {
  try {
    if (existsSync(path)) closeSync(openSync(path, "r+"));
    else {
      closeSync(openSync(path, "wx"));
      unlinkSync(path);
    }
  } catch (e) {
    throw new HostError(`${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT_BAD_OPTION);
  }
}

function runOptions(o: ClusterOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || typeof v === "function" || k === "ui") continue;
    // The console input is a stream (a process's stdin), not a setting: the event says only
    // whether there is one (its serialised internals used to fill the line).
    if (k === "input") out.input = v === null ? null : "stream";
    else out[k] = v;
  }
  return out;
}

/** The summary's lines about divergences the backups caught live (none: none). */
function divergenceSummary(ds: ClusterResult["liveDivergences"], policy: string): string[] {
  if (ds.length === 0) return [];
  const first = ds[0];
  const where = `icount ${first.icount.toLocaleString("en-US")}${first.pc !== undefined ? `, pc ${first.pc}` : ""}${first.line ? ` [${first.line}]` : ""}`;
  return [
    `  divergence caught live: ${ds.length} time${ds.length === 1 ? "" : "s"}; the first by the backup${first.pid !== undefined ? ` pid ${first.pid}` : ""} at ${where}: ${first.reason}`,
    `    (--on-divergence ${policy}: ${policy === "stop" ? "the run was stopped" : "the backup halted; a new one is cloned from the primary"})`,
  ];
}
