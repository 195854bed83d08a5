// The FT cluster on this machine: an arbiter, a primary and a backup, each its own OS
// process on loopback. The launcher holds the console sink (outside both hosts' failure
// domain), shows the guest's output and a status line per host, injects faults, restarts
// hosts (clones) and the arbiter, and ends with a summary. `ftvm ft` (src/cli/ft.ts) only
// turns flags into ClusterOptions.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { FAILURE_TIMEOUT_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from "../ft/detector.js";
import type { HostStatus } from "./sink.js";
import { startSink } from "./sink.js";
import type { DiskServer } from "./disksrv.js";
import type { DiskGeometry } from "../devices/disk.js";
import { createDiskImage, readDiskGeometry } from "./disk.js";
import { setLogger } from "../transport/channel.js";
import { ArbiterClient } from "../arbiter/client.js";
import type { ArbiterState } from "../arbiter/core.js";
import { type ClusterFacts, clusterFacts } from "./cluster-facts.js";

import { startClusterSwitch, switchSummary } from "./launcher-net.js";
import { HostError } from "./errors.js";
import { loadProgram } from "./program.js";
import { selfArgs } from "./self.js";
import { controlFile, removeControl, writeControl } from "./control.js";

/** A launch option the launcher refuses (the CLI prints it in one line and exits 2, as for a usage error). */
const EXIT_BAD_OPTION = 2;
/** The process exits 0 when the guest finished, 1 when it trapped or no host finished it, 130 when interrupted. */
const EXIT_OK = 0;
const EXIT_FAIL = 1;

/** A scripted fault that cannot be carried out now (no pair) is tried again after this long. */
const FAULT_RETRY_MS = 50;
/** After this many clones in a row fail, the launcher stops starting new backups (and says why). */
const CLONE_FAILURES_IN_ROW_MAX = 10;
/** The longest wait between a failed clone and the next attempt (the wait doubles from 50 ms). */
const CLONE_RETRY_DELAY_MS_MAX = 2000;

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
}

/** Attempts to restart a dead arbiter (on its port, with its state) before giving up. */
const ARBITER_RESTART_ATTEMPTS_MAX = 50;
const ARBITER_RESTART_DELAY_MS = 200;


export interface ClusterOptions {
  program: string;
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
  /** Guest memory and the log buffer bound, as the hosts' --mem and --log-buffer-bytes take them. */
  mem?: string;
  logBufferBytes?: string;
  /** A disk image: shared by both hosts through a disk server in this launcher, or copied per host (diskMode "non-shared"). */
  disk?: string;
  diskMode?: "shared" | "non-shared";
  /** Non-shared: the backup reads its own image instead of receiving read data in the log. */
  backupReads?: boolean;
  /** Backups replay this many times slower (a factor, as the hosts' --slowdown takes it). */
  backupSlowdown?: string;
  lagThresholdMs?: number;
  heartbeatMs?: number;
  timeoutMs?: number;
  quiet?: boolean;
  interpret?: boolean;
  /** Serve network clients on this [HOST:]PORT through the virtual switch. */
  listen?: string;
  /** Where guest output goes (default stdout). */
  write?: (b: Uint8Array) => void;
  /** Every host's status line as it arrives (every 250 ms), e.g. for a benchmark's log counts. */
  onStatus?: (s: HostStatus) => void;
  /** Where the summary and log lines go (default stderr). */
  info?: (s: string) => void;
  /** Called once every process started: crashes one with SIGKILL, as the p, b and a keys do (tests time kills by what they observe). */
  onControl?: (c: { crash(role: "primary" | "backup" | "arbiter"): void }) => void;
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
}

export async function runCluster(o: ClusterOptions): Promise<number> {
  return (await runClusterDetailed(o)).code;
}

export async function runClusterDetailed(o: ClusterOptions): Promise<ClusterResult> {
  // The program is checked here, before any process starts: a missing file or an
  // assembler error is the user's one-line error, not a host that dies before listening.
  loadProgram(o.program);
  const secret = randomBytes(24).toString("hex");
  const info = o.info ?? ((s: string) => process.stderr.write(s));
  const tty = !o.quiet && !o.info && process.stderr.isTTY === true;
  const write = o.write ?? ((b: Uint8Array) => process.stdout.write(b));
  const started = Date.now();
  const statuses = new Map<string, HostStatus>();
  const news: { at: number; host: string; text: string; data: Record<string, unknown> }[] = [];
  let done: Record<string, unknown> | undefined;
  let finish: (() => void) | undefined;
  const finished = new Promise<void>((r) => (finish = r));
  let statusLines = 0;
  const clearStatus = () => {
    if (tty && statusLines > 0) process.stderr.write(`\x1b[${statusLines}F\x1b[J`);
    statusLines = 0;
  };
  const renderStatus = () => {
    if (!tty) return;
    clearStatus();
    const lines = [...statuses.values()].filter((s) => s.role !== "halted" && alive(s.pid)).map(statusLine);
    lines.push("keys: p crash primary · b crash backup · a crash arbiter · q quit");
    // Each line is cut to the terminal's width: a line that wrapped would take two rows,
    // and the redraw (which moves up one row per line) would leave its top behind in
    // the scrollback, many times over.
    const width = Math.max(20, (process.stderr.columns ?? 80) - 1);
    process.stderr.write(lines.map((l) => (l.length > width ? l.slice(0, width - 1) + "…" : l)).join("\n") + "\n");
    statusLines = lines.length;
  };
  const logLine = (s: string) => {
    if (o.quiet) return;
    clearStatus();
    info(s.endsWith("\n") ? s : s + "\n");
    renderStatus();
  };
  setLogger((l) => logLine(`launcher: ${l}`));

  const kills: { role: string; at: number; pid?: number }[] = [];
  // Declared before the sink starts: its callbacks (news, exits) use them.
  /** The backup being started to join the live primary (one at a time). */
  let joiner: Child | undefined;
  let stopping = false;
  /** Why a host refused its options (the launch fails as a whole, exit 2). */
  let refused: string | undefined;
  const spawnedAtMs = new Map<number, number>();
  /** When the first pair formed (timed faults count from then), and a way to wait for it. */
  let pairFormedAt: number | undefined;
  let pairFormed: () => void = () => undefined;
  const pairFormedOnce = new Promise<void>((r) => (pairFormed = r));
  /** When the guest last began running without a paired backup (undefined while protected), and the total so far. */
  let unprotectedSinceMs: number | undefined;
  let unprotectedMs = 0;
  /** Clones that failed since the last pair formed, and the reasons (bounded retries). */
  let cloneFailuresInRow = 0;
  let respawnGaveUp: string | undefined;
  const cloneFailureReasons: string[] = [];
  /** Host processes that exited on their own before the end (not SIGKILLed by us): pid, code, and what they last said. */
  const selfExits: { pid: number; role: string; code: number | null; at: number }[] = [];
  /** Backups that exited before they ever started (refused by the primary, which may be finishing): not host failures. */
  let joinersRefused = 0;
  /** The current arbiter process (the launcher restarts it if it dies), and its restarts. */
  let arbiter: Child | undefined;
  let arbiterRestarts = 0;
  /** Set once the launcher's helpers below exist (news may arrive before: it waits in earlyNews). */
  let ready = false;
  const earlyNews: [Record<string, unknown>, string][] = [];
  const firstWriteAt = new Map<number, number>();
  const sink = await startSink(secret, {
    write: (b) => {
      if (!firstWriteAt.has(sink.state.epoch)) firstWriteAt.set(sink.state.epoch, Date.now());
      clearStatus();
      write(b);
      renderStatus();
    },
    status: (s) => {
      statuses.set(s.host, s);
      o.onStatus?.(s);
    },
    news: (host, text, data) => {
      news.push({ at: Date.now(), host, text, data });
      // News carries the host's role as of the event: fresher than its last status line.
      if (typeof data.role === "string" && typeof data.pid === "number") {
        const prev = statuses.get(host) ?? { host, pid: data.pid, icount: 0, epoch: 0, role: data.role };
        statuses.set(host, { ...prev, role: data.role, epoch: Number(data.epoch) });
      }
      onNews(data, text);
    },
    done: (_host, data) => {
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

  const children: Child[] = [];
  const spawnChild = (role: Child["role"], args: string[]): Promise<Child> =>
    new Promise((resolve, reject) => {
      // FTVM_HOST_NODE_ARGS passes extra Node flags to the hosts (e.g. --cpu-prof for profiling).
      const nodeArgs = (process.env.FTVM_HOST_NODE_ARGS ?? "").split(" ").filter(Boolean);
      const proc = spawn(process.execPath, [...nodeArgs, ...selfArgs(), role, ...args, "--exit-with-parent", ...(o.interpret ? ["--interpret"] : [])], {
        env: { ...process.env, FTVM_SECRET: secret },
        stdio: ["pipe", "pipe", "pipe"],
      });
      const child: Child = { role, proc, exited: false };
      children.push(child);
      createInterface({ input: proc.stdout! }).on("line", (line) => {
        const cl = /^cluster (\S+) epoch \d+$/.exec(line);
        if (cl) child.cluster = cl[1];
        const m = /^listening (ws:\/\/\S+)$/.exec(line);
        if (m && !child.url) {
          child.url = m[1];
          resolve(child);
        }
      });
      createInterface({ input: proc.stderr! }).on("line", (line) => {
        child.lastLine = line.replace(/^(primary|backup|arbiter|ftvm): /, "");
        logLine(`${role} (pid ${proc.pid}): ${line.replace(/^(primary|backup|arbiter): /, "")}`);
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
        if (signal === "SIGKILL") {
          logLine(`${role} (pid ${proc.pid}) was killed (SIGKILL)`);
          // Not by us: a host's own --crash-at-icount, an injected failure all the same.
          if (!kills.some((k) => k.pid === proc.pid) && !stopping) kills.push({ role, at: Date.now(), pid: proc.pid });
        }
        else if (role !== "arbiter" && !stopping && !done && code !== 0) {
          // A host that never said anything never held state: a refused joiner, not a failure.
          if ([...statuses.values()].some((s) => s.pid === proc.pid)) selfExits.push({ pid: proc.pid!, role, code, at: Date.now() });
          else joinersRefused++;
        }
        if (child === arbiter && !stopping) restartArbiter(0);
        // Every host gone without finishing: nobody can serve any more.
        const hosts = children.filter((c) => c.role !== "arbiter");
        if (hosts.every((c) => c.exited) && !done) {
          net?.serviceLost("no host is left to run the guest");
          finish?.();
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
  const arbiterDir = mkdtempSync(join(tmpdir(), "ftvm-arbiter-"));
  const arbiterState = join(arbiterDir, "state.json");
  /** A process of the first three could not start: stop what did, and fail the launch with its reason. */
  const abortLaunch = async (e: unknown): Promise<never> => {
    stopping = true;
    for (const c of children) if (!c.exited) c.proc.kill("SIGTERM");
    await Promise.all(children.map((c) => (c.exited ? undefined : new Promise((r) => c.proc.once("exit", r)))));
    await sink.close();
    await diskServer?.close();
    rmSync(arbiterDir, { recursive: true, force: true });
    throw e;
  };
  arbiter = await spawnChild("arbiter", ["--listen", "127.0.0.1:0", "--state", arbiterState]).catch(abortLaunch);
  const arbiterUrl = arbiter.url!;
  const cluster = arbiter.cluster!;
  // Sink, disk and switch belong to the arbiter's cluster before any host starts.
  sink.state.cluster = cluster;
  diskServer?.setCluster(cluster);
  const net = o.listen !== undefined ? await startClusterSwitch(o.listen, secret, arbiterUrl, logLine, info, cluster) : undefined;
  function restartArbiter(attempt: number): void {
    if (stopping || done) return;
    if (attempt >= ARBITER_RESTART_ATTEMPTS_MAX) return logLine(`the arbiter could not be restarted after ${attempt} attempts; hosts wait for it`);
    arbiterRestarts += attempt === 0 ? 1 : 0;
    if (attempt === 0) logLine(`the arbiter died; restarting it at ${arbiterUrl} with its state ${arbiterState}`);
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
    ...(diskServer ? ["--disk-server", diskServer.url] : []),
    ...hb,
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
  const primary = await spawnChild("primary", [
    o.program,
    "--listen",
    "127.0.0.1:0",
    ...(o.mem ? ["--mem", o.mem] : []),
    ...ownImage(true),
    ...(o.backupReads ? ["--backup-reads"] : []),
    ...common,
    ...(o.crashPrimaryAtIcount !== undefined ? ["--crash-at-icount", String(o.crashPrimaryAtIcount), ...(o.respawn === false ? [] : ["--crash-only-paired"])] : []),
  ]).catch(async (e) => {
    await net?.close();
    return abortLaunch(e);
  });
  const backup = await spawnChild("backup", [
    "--primary",
    primary.url!,
    ...ownImage(true),
    ...common,
    ...slow,
    ...(o.crashBackupAtIcount !== undefined ? ["--crash-at-icount", String(o.crashBackupAtIcount)] : []),
  ]);

  const arbiterClient = new ArbiterClient(arbiterUrl, secret, cluster);
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
    return clusterFacts(state, statuses, (pid) => !killedPids.has(pid) && alive(pid));
  };

  // Which process is primary changes with failovers: the hosts' own reports say.
  const pidOf = (role: "primary" | "backup"): number | undefined => {
    const live = [...statuses.values()].filter((s) => alive(s.pid));
    const want = role === "primary" ? ["primary", "alone"] : ["backup", "joining"];
    const byStatus = live.filter((s) => want.includes(s.role)).sort((a, b) => b.epoch - a.epoch)[0]?.pid;
    if (byStatus) return byStatus;
    const c = role === "primary" ? primary : backup;
    return c.exited ? undefined : c.proc.pid;
  };
  const crashArbiter = (): boolean => {
    const pid = arbiter && !arbiter.exited ? arbiter.proc.pid : undefined;
    if (pid === undefined) {
      logLine("no arbiter to crash");
      return true;
    }
    logLine(`crashing the arbiter (pid ${pid}) with SIGKILL`);
    kills.push({ role: "arbiter", at: Date.now(), pid });
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
  const crash = async (role: "primary" | "backup", scripted: boolean): Promise<boolean> => {
    let f: ClusterFacts;
    try {
      f = await facts();
    } catch (e) {
      if (!scripted) logLine(`not crashing the ${role}: the arbiter did not answer (${(e as Error).message})`);
      return false;
    }
    if (stopping || done) return true;
    const pid = role === "primary" ? f.primaryPid : f.backupPid;
    if (!f.paired || pid === undefined) {
      if (!scripted) logLine(`not crashing the ${role}: ${f.why ?? "no pair"}; it would leave no host with the guest's state`);
      return false;
    }
    if (killedPids.has(pid)) return true;
    logLine(`crashing the ${role} (pid ${pid}, epoch ${f.epoch}) with SIGKILL`);
    killedPids.add(pid);
    kills.push({ role, at: Date.now(), pid });
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
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
  const signalPair = async (signal: NodeJS.Signals, text: string, both: boolean): Promise<boolean> => {
    let f: ClusterFacts;
    try {
      f = await facts();
    } catch {
      return false;
    }
    if (!f.paired) return false;
    logLine(text);
    for (const pid of both ? [f.primaryPid, f.backupPid] : [f.primaryPid]) if (pid !== undefined) process.kill(pid, signal);
    return true;
  };
  // `ftvm crash primary|backup` from another terminal signals this launcher (SIGUSR1 for
  // the primary, SIGUSR2 for the backup), which carries the kill out under the same rule
  // as its keys. The control file (src/host/control.ts) names the launcher, the cluster
  // and each process's current role; it is replaced whole whenever a role changes.
  const control = controlFile();
  let lastControl = "";
  function updateControl(): void {
    const hosts = [...statuses.values()]
      .filter((h) => h.role !== "halted" && !killedPids.has(h.pid) && alive(h.pid))
      .map((h) => ({ role: h.role, pid: h.pid, epoch: h.epoch, icount: h.icount }));
    const key = JSON.stringify([arbiter?.proc.pid, hosts.map((h) => [h.role, h.pid, h.epoch])]);
    if (key === lastControl) return;
    lastControl = key;
    try {
      writeControl(control, { launcherPid: process.pid, arbiterPid: arbiter?.proc.pid, cluster, program: o.program, startedAtMs: started, hosts });
    } catch {
      // The control file is a convenience for `ftvm crash` and `ftvm ps`; without it, keys still work.
    }
  }
  updateControl();
  // The first line names the cluster and its control endpoint (ftvm ps and ftvm crash find it).
  if (!o.quiet) info(`ftvm ft: cluster ${cluster}, control ${control} (ftvm ps lists it; ftvm crash primary|backup|arbiter acts on it)\n`);
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
      respawnGaveUp = `${cloneFailuresInRow} clones in a row failed (last: ${cloneFailureReasons.at(-1) ?? "?"})`;
      logLine(`not starting another backup: ${respawnGaveUp}; the primary runs without one`);
      return;
    }
    const p = livePrimary();
    if (!p?.url) return;
    const args = ["--join", p.url, ...ownImage(false), ...common, ...slow];
    joiner = { role: "backup", proc: undefined as never, exited: false };
    void spawnChild("backup", args).then((c) => {
      joiner = c;
      spawnedAtMs.set(c.proc.pid!, Date.now());
      logLine(`starting a new backup (pid ${c.proc.pid}) to join the primary (pid ${p.proc.pid}) by clone`);
    });
  }

  // ---- news: pairs forming and breaking, clones failing ----
  function onNews(d: Record<string, unknown>, text: string): void {
    // News can arrive while this function's helpers below are still being set up: keep it
    // for when they are (see `ready`).
    if (!ready) {
      earlyNews.push([d, text]);
      return;
    }
    const ev = d.event;
    // Keep the arbiter's state fresh (see lastArbiterState) whenever the pair changes.
    if (ev === "start" || ev === "paired" || ev === "paired-backup" || ev === "live" || ev === "alone") void refreshArbiterState().catch(() => undefined);
    const now = Date.now();
    if ((ev === "start" && d.role === "primary") || ev === "paired") {
      if (ev === "paired") {
        joiner = undefined;
        cloneFailuresInRow = 0;
      }
      if (unprotectedSinceMs !== undefined) unprotectedMs += now - unprotectedSinceMs;
      unprotectedSinceMs = undefined;
      if (pairFormedAt === undefined) {
        pairFormedAt = now;
        pairFormed();
      }
      void pumpFaults();
    }
    if ((ev === "start" && d.role === "alone") || ev === "live" || ev === "alone") unprotectedSinceMs ??= now;
    if (ev === "clone-failed") {
      cloneFailuresInRow++;
      cloneFailureReasons.push(text.replace(/^.*?failed \((.*)\); still alone.*$/, "$1"));
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
  for (const [d, text] of earlyNews.splice(0)) onNews(d, text);
  o.onControl?.({ crash: (role) => (role === "arbiter" ? crashArbiter() : void crash(role, false)) });
  // A host that went alone before we were ready still wants a backup.
  if ([...statuses.values()].some((s) => s.role === "alone" && alive(s.pid))) scheduleRespawn();

  // Timed faults count from the moment the first pair formed (see the usage text).
  const afterPair = (ms: number | undefined, what: string, run: () => Promise<boolean>) => {
    if (ms !== undefined) void pairFormedOnce.then(() => timers.push(setTimeout(() => scheduleFault(what, run), ms)));
  };
  afterPair(o.crashPrimaryAfterMs, "kill-primary-once", () => crash("primary", true));
  afterPair(o.crashBackupAfterMs, "kill-backup-once", () => crash("backup", true));
  afterPair(o.dropChannelAfterMs, "drop-channel", () => signalPair("SIGUSR1", "dropping the log channel's connection (the backup should reconnect)", false));
  afterPair(o.partitionAfterMs, "partition", () => signalPair("SIGUSR2", "cutting the log channel between primary and backup (a partition)", true));
  afterPair(o.crashArbiterAfterMs, "kill-arbiter-once", async () => crashArbiter());
  timers.push(
    setInterval(() => {
      renderStatus();
      updateControl();
    }, 250),
  );

  let interrupted = false;
  const stdin = process.stdin;
  const keys = !o.info && stdin.isTTY === true;
  const onKey = (k: Buffer) => {
    const c = k.toString();
    if (c === "p") void crash("primary", false);
    else if (c === "b") void crash("backup", false);
    else if (c === "a") crashArbiter();
    else if (c === "q" || c === "\u0003") {
      interrupted = true;
      finish?.();
    }
  };
  if (keys) {
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on("data", onKey);
  }
  const onSigint = () => {
    interrupted = true;
    finish?.();
  };
  process.on("SIGINT", onSigint);

  await finished;
  stopping = true;
  arbiterClient.close();
  if (unprotectedSinceMs !== undefined) unprotectedMs += Date.now() - unprotectedSinceMs;

  for (const t of timers) clearTimeout(t);
  process.off("SIGINT", onSigint);
  process.off("SIGUSR1", onCrashPrimary);
  process.off("SIGUSR2", onCrashBackup);
  if (keys) {
    stdin.off("data", onKey);
    stdin.setRawMode(false);
    stdin.pause();
  }
  // Give the finishing host a moment to close cleanly, then stop everything we started.
  await new Promise((r) => setTimeout(r, done ? 100 : 0));
  for (const c of children) if (!c.exited) c.proc.kill("SIGTERM");
  await Promise.all(children.map((c) => (c.exited ? undefined : new Promise((r) => c.proc.once("exit", r)))));
  await sink.close();
  await net?.close();
  await diskServer?.close();
  rmSync(arbiterDir, { recursive: true, force: true });
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
  clearStatus();
  removeControl(control);
  if (refused !== undefined) throw new HostError(refused, EXIT_BAD_OPTION);
  const text =
    summary(o, sink.state, news, done, interrupted, Date.now() - started, kills, firstWriteAt, diskServer?.stats, ownImages ? { dir: ownImages.dir, copiedBack } : undefined, {
      unprotectedMs,
      selfExits,
      joinersRefused,
      cloneFailures: cloneFailureReasons,
      respawnGaveUp,
      pairFormedMs: pairFormedAt === undefined ? undefined : pairFormedAt - started,
    }, { cluster, restarts: arbiterRestarts }) +
    (net ? switchSummary(net.sw) : "");
  info(text);
  const failovers = news
    .filter((n) => n.data.event === "live")
    .map((l) => {
      const k = [...kills].reverse().find((x) => x.role === "primary" && x.at <= l.at);
      const first = firstWriteAt.get(Number(l.data.epoch));
      return {
        liveMs: k ? l.at - k.at : undefined,
        firstOutputMs: k && first !== undefined ? first - k.at : undefined,
        silentMs: Number(l.data.silentMs),
        replayMs: Number(l.data.replayMs),
        electMs: Number(l.data.electMs),
      };
    });
  const pauses = news.filter((n) => n.data.event === "clone-pause");
  const clones = news
    .filter((n) => n.data.event === "paired")
    .map((n) => {
      const pause = pauses.find((x) => x.host === n.host && x.data.icount === n.data.icount);
      // The memory chunks' sending finished before the pair's epoch (the backup restored them first).
      const sent = news.filter((x) => x.host === n.host && x.data.event === "clone-sent" && x.at <= n.at).at(-1);
      const joinerPid = [...statuses.values()].find((s) => news.some((x) => x.host === s.host && x.data.event === "restored" && x.data.icount === n.data.icount))?.pid;
      const spawned = joinerPid === undefined ? undefined : spawnedAtMs.get(joinerPid);
      return { pauseMs: pause ? Number(pause.data.pauseMs) : undefined, cloneMs: Number(n.data.cloneMs), fromSpawnMs: spawned === undefined ? undefined : n.at - spawned, memBytes: Number(n.data.memBytes), sendMs: sent ? Number(sent.data.sendMs) : undefined, sendWallMs: sent ? Number(sent.data.wallMs) : undefined };
    });
  const code = interrupted ? 130 : !done ? EXIT_FAIL : done.trap ? EXIT_FAIL : EXIT_OK;
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
  };
}

/** "a" or "a-b" (min-max) of a list of figures. */
function range(xs: number[], digits: number): string {
  if (xs.length === 0) return "-";
  const lo = Math.min(...xs).toFixed(digits);
  const hi = Math.max(...xs).toFixed(digits);
  return lo === hi ? lo : `${lo}-${hi}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function statusLine(s: HostStatus): string {
  const base = `${s.role.padEnd(8)} pid ${String(s.pid).padEnd(6)} epoch ${s.epoch}  icount ${s.icount.toLocaleString("en-US")}`;
  if (s.role !== "primary") return base;
  const throttle = s.throttle ? `  throttled ${Math.round(s.throttle * 100)}%` : "";
  const writes = s.heldWrites !== undefined ? `  held writes ${s.heldWrites}` : "";
  return `${base}  backup lag ${(s.lagIcount ?? 0).toLocaleString("en-US")} instr / ${(s.lagMs ?? 0).toFixed(1)} ms${throttle}  log ${formatRate(s.logBytesPerSec ?? 0)}  held ${s.heldOutputs ?? 0}${writes}`;
}

function formatRate(bps: number): string {
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} MB/s` : bps >= 1e3 ? `${(bps / 1e3).toFixed(1)} kB/s` : `${bps.toFixed(0)} B/s`;
}

function summary(
  o: ClusterOptions,
  sink: { epoch: number; delivered: number; chunksAccepted: number; chunksDuplicate: number; duplicateBytes: number; refusedStale: number; divergences: number; refusedCluster: number; uncheckedBytes: number },
  news: { at: number; host: string; text: string; data: Record<string, unknown> }[],
  done: Record<string, unknown> | undefined,
  interrupted: boolean,
  elapsedMs: number,
  kills: { role: string; at: number }[],
  firstWriteAt: Map<number, number>,
  disk?: DiskServer["stats"],
  ownImages?: { dir: string; copiedBack?: string },
  health?: { unprotectedMs: number; selfExits: { pid: number; role: string; code: number | null }[]; joinersRefused: number; cloneFailures: string[]; respawnGaveUp?: string; pairFormedMs?: number },
  arbiter?: { cluster: string; restarts: number },
): string {
  const lives = news.filter((n) => n.data.event === "live");
  // Every "alone", also from a host that had gone live earlier (it later lost its own backup).
  const alone = news.filter((n) => n.data.event === "alone");
  const lines: string[] = [];
  const end = done
    ? `the guest ${done.reason === "trapped" ? "trapped" : "halted"} at icount ${Number(done.icount).toLocaleString("en-US")}`
    : interrupted
      ? "stopped by the user"
      : "no host is left to run the guest (a fresh host may not serve: the arbiter refuses it)";
  lines.push(`ftvm ft: ${o.program}: ${end} after ${(elapsedMs / 1000).toFixed(1)} s`);
  lines.push(`  output: ${sink.delivered.toLocaleString("en-US")} bytes in ${sink.chunksAccepted} releases, each byte exactly once`);
  lines.push(`  epochs: ${sink.epoch}; failovers: ${lives.length}; duplicates dropped by the sink: ${sink.chunksDuplicate} chunks (${sink.duplicateBytes} bytes); stale outputs refused: ${sink.refusedStale}`);
  lines.push(
    `  divergences refused by the sink (re-sent bytes that differ from what it wrote): ${sink.divergences}; output of another cluster refused: ${sink.refusedCluster}` +
      (sink.uncheckedBytes ? `; re-sent bytes too old to compare: ${sink.uncheckedBytes}` : "") +
      (arbiter ? `; cluster ${arbiter.cluster}${arbiter.restarts ? `, arbiter restarted ${arbiter.restarts} time${arbiter.restarts === 1 ? "" : "s"}` : ""}` : ""),
  );
  if (disk)
    lines.push(
      `  disk: ${disk.writes.toLocaleString("en-US")} writes and ${disk.reads.toLocaleString("en-US")} reads performed; writes refused (stale epoch): ${disk.refusedStale}` +
        (disk.ioErrors ? `; I/O errors: ${disk.ioErrors}` : "") +
        (disk.joined ? `; re-sent requests joined: ${disk.joined}` : "") +
        `; divergences refused: ${disk.diverged}` +
        (disk.refusedCluster ? `; hosts of another cluster refused: ${disk.refusedCluster}` : ""),
    );
  if (ownImages)
    lines.push(
      ownImages.copiedBack
        ? `  disk: non-shared${o.backupReads ? ", backup reads" : ""}: the finishing primary's own image (${ownImages.copiedBack}) was copied back to ${o.disk}`
        : `  disk: non-shared: no host finished; ${o.disk} is unchanged, the hosts' own images are in ${ownImages.dir}`,
    );
  if (done && typeof done.logWireBytes === "number") {
    const secs = Number(done.runMs) / 1000;
    const rate = secs > 0 ? ` (${((done.logWireBytes * 8) / secs / 1e6).toFixed(2)} Mbit/s over ${secs.toFixed(1)} s)` : "";
    lines.push(`  log: ${done.logWireBytes.toLocaleString("en-US")} bytes sent to the backup by the finishing primary${rate}`);
  }
  for (const l of lives) {
    const d = l.data;
    lines.push(
      `  primary failed; the backup went live at icount ${Number(d.icount).toLocaleString("en-US")} (the old primary's last logged point) in epoch ${String(d.epoch)}: ` +
        `detection ${String(d.silentMs)} ms of silence, replay ${String(d.replayMs)} ms, test-and-set ${String(d.electMs)} ms; re-sent ${String(d.resent)} bytes`,
    );
  }
  for (const k of kills.filter((k) => k.role === "primary")) {
    const live = lives.find((l) => l.at >= k.at);
    if (!live) continue;
    const first = firstWriteAt.get(Number(live.data.epoch));
    lines.push(
      `  from the SIGKILL of the primary: the backup was live after ${live.at - k.at} ms` +
        (first !== undefined ? `, and the first new output reached the sink after ${first - k.at} ms` : ""),
    );
  }
  for (const a of alone) lines.push(`  backup failed; the primary won epoch ${String(a.data.epoch)} and went on alone`);
  const paired = news.filter((n) => n.data.event === "paired");
  if (paired.length > 0) {
    const pauses = news.filter((n) => n.data.event === "clone-pause").map((n) => Number(n.data.pauseMs));
    const cloneMs = paired.map((n) => Number(n.data.cloneMs));
    lines.push(
      `  redundancy restored ${paired.length} time${paired.length === 1 ? "" : "s"}: a new backup joined by clone (primary paused ${range(pauses, 1)} ms; join request to paired ${range(cloneMs, 0)} ms)`,
    );
  }
  if (o.crashPrimaryAtIcount !== undefined) lines.push(`  (the primary was set to crash at icount ${o.crashPrimaryAtIcount.toLocaleString("en-US")})`);
  if (health) {
    // Every host failure, injected or not: the kills we made, and hosts that stopped on
    // their own (a host that lost a test-and-set after a false suspicion, a joiner whose
    // clone failed, a crash).
    const own = health.selfExits;
    lines.push(
      `  host failures: ${kills.length} injected (SIGKILL), ${own.length} on their own` +
        (own.length > 0 ? ` (${own.map((x) => `${x.role} pid ${x.pid} exit ${x.code}`).join(", ")})` : "") +
        `; backups declared failed by their primary: ${alone.length}; failed clones: ${health.cloneFailures.length}` +
        (health.joinersRefused > 0 ? `; new backups refused before they started: ${health.joinersRefused}` : ""),
    );
    for (const [i, why] of health.cloneFailures.entries()) if (i < 5) lines.push(`    clone failed: ${why}`);
    if (health.cloneFailures.length > 5) lines.push(`    ... and ${health.cloneFailures.length - 5} more`);
    if (health.respawnGaveUp) lines.push(`  stopped starting new backups: ${health.respawnGaveUp}`);
    lines.push(
      `  unprotected (the guest ran without a paired backup): ${(health.unprotectedMs / 1000).toFixed(1)} s of ${(elapsedMs / 1000).toFixed(1)} s` +
        (health.pairFormedMs !== undefined ? `; the first pair formed ${(health.pairFormedMs / 1000).toFixed(1)} s after the launch` : "; no pair ever formed"),
    );
  }
  return lines.join("\n") + "\n";
}
