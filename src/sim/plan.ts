// The fault model: from a seed, everything about one simulated run — the guest's size,
// the protocol's timings, every link's delay/loss/duplication/reordering/partitions,
// resets of the sink connections, arbiter outages, and which hosts crash and when.
// Every partition heals (no fault lasts forever), so a run whose surviving host is a
// member of the current epoch must finish.
//
// Respawns: once a host runs live alone (its peer failed), most plans start a fresh host
// (C, D, E in turn) a little later; it connects to the live primary over a new link
// (drawn like the P<->B link: delays, chaos, partitions) and joins it by clone. Its faults
// (crashes, partitions, sink resets) are drawn up front, in times relative to its start.
//
// Catch-up, bounded buffers and throttling (drawn from their own stream, after the rest):
// some plans drop the log connection at a few times (sometimes twice in quick succession,
// hitting a reconnect), some bound the primary's log buffer to 2-16 KiB, and some pair a
// fast primary with a backup 4-8 times slower, a lag threshold of 20-100 ms and a guest
// long enough for the throttle to settle.
//
// Disk runs (their own stream, about 30% of seeds): the disk guest replaces the console
// guest; each host gets TCP-like links to the disk server, sometimes held up by a partition,
// and sometimes a few connection resets; primaries crash mid-I/O (CrashTrigger "disk"), and
// in some runs P crashes while its requests are held up on the way to the disk.
//
// Arbiter restarts (their own stream, drawn last): in some runs the arbiter process dies
// and comes back a little later with its state file (requests and answers in flight are
// lost; hosts retry); in some (ARBITER_AMNESIA_SHARE) it comes back without its file: it
// has lost its memory, so it starts a new cluster at epoch 0. In most of those a stranger
// (X) then starts, as a user would start a fresh primary against the same arbiter and
// sink (console-guest runs: the disk server is left out): it founds the arbiter's new
// cluster and claims its epoch 1. Nobody of the old cluster may ever be granted by the
// forgetful arbiter, and the stranger's output must be refused by the old sink.
//
// Non-shared disks (half the disk runs, drawn from their own stream; half of those with
// --backup-reads): no disk server; each host has its own in-memory image whose requests
// take a seeded latency (completions in any order). Respawned backups start with an image
// of garbage and get the primary's by clone, in several small chunks; crashes hit the
// clone's image stream (before the nth chunk, after the last, while writes are held).
// Backups see local disk errors at planned requests: transient ones (retried) and
// persistent ones (the backup must halt rather than go on with an image that differs).
import type { Role } from "../ft/node.js";
import type { DiskGuestParams, GuestParams } from "./guest.js";
import type { LinkModel, Window } from "./net.js";
import { calmLink } from "./net.js";
import type { Prng } from "./prng.js";

/** The stranger of an amnesia run (a fresh primary of the forgetful arbiter's new cluster). */
export const STRANGER_ID = "X";
/** The share of seeds (not calm) in which the arbiter restarts with its state at least once. */
export const ARBITER_RESTART_SHARE = 0.15;
/** The share of seeds (not calm) in which the arbiter restarts without its state (loses its memory). */
export const ARBITER_AMNESIA_SHARE = 0.06;
/** The share of amnesia runs (console guest) in which a stranger starts against the forgetful arbiter. */
export const STRANGER_SHARE = 0.75;

/** P and B start the run; respawned backups are C, D, E, ... (RESPAWN_IDS). */
export type HostId = string;
export const HOSTS: readonly HostId[] = ["P", "B"];
/** The ids of respawned backups, in the order they start (at most RESPAWNS_MAX of them). */
export const RESPAWN_IDS: readonly HostId[] = ["C", "D", "E"];
export const RESPAWNS_MAX = RESPAWN_IDS.length;

export type CrashTrigger =
  /** At this simulated time (in the middle of whatever the host is doing: a step it is running never completes). */
  | { kind: "time"; atMs: number }
  /** The node's own --crash-at-icount (NodeConfig.crashAtIcount): it stops there, live or replaying, without flushing. */
  | { kind: "icount"; icount: number }
  /** When the node enters this role: at once (before carrying out the actions that came with it) or delayMs later. */
  | { kind: "role"; role: Role; delayMs: number }
  /** Just before carrying out its nth action of this kind (a crash between two actions of one step). */
  | { kind: "action"; action: "send" | "output" | "tas" | "cut"; nth: number }
  /**
   * As the primary of a clone (the host a new backup joins): at once or delayMs after it
   * sends the snapshot ("clone": its header; "clone-mem": its memory), hears that the backup restored it ("restored", before
   * handling that), or gets the arbiter's answer for the pair's epoch ("granted", before
   * handling it: at once means the pair exists but "paired" is never sent).
   */
  | { kind: "join"; stage: "clone" | "clone-mem" | "restored" | "granted"; delayMs: number }
  /**
   * Non-shared disks, as the primary of a clone: before it sends its nth "clone-disk" chunk
   * ("chunk": mid-stream), delayMs after the image was sent and held writes released
   * ("streamed"), or delayMs after a guest write was held for the stream ("held").
   */
  | { kind: "clone-disk"; stage: "chunk" | "streamed" | "held"; nth: number; delayMs: number }
  /**
   * Mid-I/O, as a primary with a backup (disk runs only; a trigger whose point passed while
   * the host ran otherwise fires at the next such point): delayMs after the guest started its request with
   * seq `nth` ("start": seen at the end of the slice that started it, so delay 0 crashes
   * inside that slice), after the host sent its nth write to the disk server ("release":
   * the write is on its way; delay 0 crashes at once), or when its nth answer from the disk
   * reaches it ("complete": delay 0 crashes before the node sees it).
   */
  | { kind: "disk"; stage: "start" | "release" | "complete"; nth: number; delayMs: number };

export interface HostPlan {
  sliceIcount: number;
  /** Simulated cost of one guest instruction (µs). */
  usPerInstr: number;
  /** When this host crashes, does its peer see the connection close (the kernel sends a FIN/RST) or only silence (the machine died)? */
  closeOnCrash: boolean;
  crash: CrashTrigger[];
  /** Times at which its connection to the sink resets (it reconnects and re-sends what the sink has not acknowledged). */
  sinkResets: number[];
}

/** A backup started later, to join whichever host then runs alone. */
export interface SpawnPlan {
  id: HostId;
  /** How long after a host starts running alone this one starts. */
  delayMs: number;
  /** The log channel to the primary it joins, and back ("*" stands for that primary); partition windows are relative to the start. */
  toPrimary: LinkModel;
  fromPrimary: LinkModel;
  /** Its links to the arbiter and the sink (windows relative to the start). */
  links: LinkModel[];
}

export interface Plan {
  seed: number;
  guest: GuestParams;
  heartbeatMs: number;
  timeoutMs: number;
  flushIntervalMs: number;
  /** The arbiter client's per-request timeout before it retries (ArbiterClient: 2000 ms). */
  tasTimeoutMs: number;
  tasRetryMs: number;
  /** Fixed simulated cost of one run() call (ms). */
  stepOverheadMs: number;
  memBytes: number;
  stackBytes: number;
  hosts: Record<HostId, HostPlan>;
  links: LinkModel[];
  /** Rough length of a fault-free run (ms): faults are placed within it. */
  expectedMs: number;
  capMs: number;
  /** Room left after the last fault before a run counts as stuck: a respawn moves the cap to its last fault plus this. */
  capSlackMs: number;
  /** Loss on every arbiter link (respawned hosts' too). */
  arbiterLoss: number;
  /** Backups started later (empty: no respawns in this run). Their host plans are in hosts, with crash times and sink resets relative to their start. */
  spawns: SpawnPlan[];
  /**
   * Times (ms) at which the log connection between a primary and its backup (or joiner)
   * drops: both sides see a close, both hosts live on, and the backup reconnects (catch-up).
   */
  drops: number[];
  /** NodeConfig.logBufferBytesMax for every host (undefined: the default, 64 MiB). */
  logBufferBytesMax?: number;
  /** NodeConfig.lagThresholdMs for every host (undefined: the default, 1 s). */
  lagThresholdMs?: number;
  /** A fast primary paired with a much slower backup (B), with a small lag threshold: the primary throttles. */
  slowBackup: boolean;
  /** A run of the disk guest on a shared disk (instead of the console guest), or undefined. */
  disk?: DiskPlan;
  /** The arbiter process dies at these times and comes back downMs later, with its state or (amnesia) without it. */
  arbiterRestarts: ArbiterRestart[];
  /** After the first amnesia: a fresh primary (STRANGER_ID, its host plan in hosts) starts this long after the arbiter is back. */
  stranger?: { afterMs: number; links: LinkModel[] };
}

/** The arbiter dies at atMs and is back at atMs + downMs: with its state file, or (amnesia) without it. */
export interface ArbiterRestart {
  atMs: number;
  downMs: number;
  amnesia: boolean;
}

/** A planned local disk error on a host while it replays: its nth request (retries count) fails `times` times in a row; persistent ones fail on every attempt. */
export interface LocalDiskError {
  nth: number;
  times: number;
  persistent: boolean;
}

/** Non-shared disks: each host's own image, its latency, the clone's chunk size and the backups' disk errors. */
export interface LocalDiskPlan {
  backupReads: boolean;
  latency: { loMs: number; hiMs: number; slowChance: number; slowMs: number };
  /** NodeConfig.cloneDiskChunkBytes (a few blocks, so the image travels in several chunks). */
  chunkBytes: number;
  errors: Record<HostId, LocalDiskError[]>;
  /** Errors on a live host's reads of its image for a clone (the nth such read): transient ones are retried, a persistent one fails the clone. */
  cloneReadErrors: Record<HostId, LocalDiskError[]>;
}

/** The shared disk of a disk run: the guest, the server's latency, and each host's link to it (D). */
export interface DiskPlan {
  guest: DiskGuestParams;
  /** A request takes loMs..hiMs at the server, or with slowChance hiMs..slowMs. */
  latency: { loMs: number; hiMs: number; slowChance: number; slowMs: number };
  /** Times at which P's or B's connection to the disk server resets (its client reconnects and re-sends what is unanswered). */
  resets: Record<HostId, number[]>;
  /** Every host's links to the disk server and back ("H>DS", "DS>H"): TCP-like, sometimes held up by a partition. P's and B's go in at the start, a respawned host's when it starts (windows relative to its start). */
  links: LinkModel[];
  /** Non-shared disks (no disk server: links and resets stay empty), or undefined: shared. */
  local?: LocalDiskPlan;
}

export interface PlanOverrides {
  /** No faults at all: calm links, no crashes, no resets (a baseline run). */
  calm?: boolean;
  /** Force the crash plan (instead of drawing one). */
  crashes?: Partial<Record<HostId, CrashTrigger[]>>;
  /** Respawn backups (default: a seeded choice, most runs); false: never. */
  respawn?: boolean;
  /** Connection drops of the log channel (default: a seeded choice, some runs; none when calm); false: never; true: always some. */
  drops?: boolean;
  /** A fast primary with a much slower backup and a small lag threshold (default: a seeded choice, some runs; never when calm). */
  slowBackup?: boolean;
  /** A small log buffer (2-16 KiB) (default: a seeded choice, some runs; never when calm). */
  smallBuffer?: boolean;
  /** Run the disk guest on a shared disk (default: a seeded choice, some runs); false: never; true: always. */
  disk?: boolean;
  /** The disk's mode in disk runs (default: a seeded choice); given, every run is a disk run unless disk is false. */
  diskMode?: DiskModeChoice;
  /** Arbiter restarts: false: none (no amnesia either); a list: exactly these (and a stranger after the first amnesia, unless stranger is false). */
  arbiterRestarts?: false | ArbiterRestart[];
  /** With amnesia, start a stranger (default: a seeded choice); false: never. */
  stranger?: boolean;
}

export type DiskModeChoice = "shared" | "non-shared" | "backup-reads";
export const DISK_MODES: readonly DiskModeChoice[] = ["shared", "non-shared", "backup-reads"];
/** The share of disk runs (seeded) with non-shared disks; half of them with --backup-reads. */
export const NON_SHARED_SHARE = 0.5;

/** The share of runs (seeded) that run the disk guest. */
export const DISK_RUN_SHARE = 0.3;

export function makePlan(seed: number, rng: Prng, o: PlanOverrides = {}): Plan {
  const guest: GuestParams = { lines: rng.int(120, 260), periodUs: rng.pick([2000, 5000, 10000]), waitEvery: rng.pick([2, 4, 8]) };
  const heartbeatMs = rng.pick([20, 25, 25, 30]);
  const timeoutMs = rng.pick([100, 150, 150, 200]);
  const hostPlan = (rng: Prng): HostPlan => ({
    sliceIcount: rng.pick([500, 1000, 2000, 5000]),
    usPerInstr: rng.pick([0.2, 0.5, 1, 2]),
    closeOnCrash: rng.chance(0.5),
    crash: [],
    sinkResets: [],
  });
  const hosts: Record<HostId, HostPlan> = { P: hostPlan(rng), B: hostPlan(rng) };
  // A disk run (its own stream: the draws of other runs do not move) replaces the guest, and
  // with it the run's expected length, which places the faults.
  const rd = rng.fork("disk");
  const disk = o.disk ?? (o.diskMode !== undefined || rd.chance(DISK_RUN_SHARE)) ? drawDisk(rd) : undefined;
  // Non-shared or shared (its own stream again: shared runs' draws do not move).
  const rn = rng.fork("non-shared");
  const mode = o.diskMode ?? (rn.chance(NON_SHARED_SHARE) ? (rn.chance(0.5) ? "backup-reads" : "non-shared") : "shared");
  if (disk && mode !== "shared") disk.local = drawLocal(rn, mode === "backup-reads");
  const instrs = disk ? diskInstrs(disk.guest) : guest.lines * 420;
  const expectedMs = disk
    ? Math.round((instrs * hosts.P.usPerInstr) / 1000 + (diskRequests(disk.guest) * (disk.latency.loMs + disk.latency.hiMs + 5)) / disk.guest.window + 40)
    : Math.round(instrs * hosts.P.usPerInstr / 1000 + (guest.lines / guest.waitEvery) * guest.periodUs / 1000 + 20);
  const plan: Plan = {
    seed,
    guest,
    heartbeatMs,
    timeoutMs,
    flushIntervalMs: rng.pick([1, 2, 2, 5]),
    tasTimeoutMs: rng.pick([200, 500, 2000]),
    tasRetryMs: 100,
    stepOverheadMs: 0.005,
    memBytes: 64 * 1024,
    stackBytes: 4 * 1024,
    hosts,
    links: [],
    expectedMs,
    capMs: 0,
    capSlackMs: 0,
    arbiterLoss: 0,
    spawns: [],
    drops: [],
    slowBackup: false,
    disk,
    arbiterRestarts: [],
  };
  const t = () => rng.range(0, expectedMs * 1.2);
  const calm = o.calm === true;

  // ---- the log channel (primary <-> backup) ------------------------------------------
  // Mostly TCP-like (ordered, reliable, partitions that either hold or drop traffic);
  // sometimes a chaotic link that loses, duplicates and reorders (the node treats any of
  // that as a broken channel: a gap in the log is refused and the channel cut).
  const [pb, bp] = logChannel(rng, "P>B", "B>P", calm, t, timeoutMs);
  plan.links.push(pb, bp);

  // ---- the arbiter (request/response; an unanswered request is retried) -------------
  const arbiterLoss = !calm && rng.chance(0.15) ? rng.pick([0.05, 0.2, 0.4]) : 0;
  plan.arbiterLoss = arbiterLoss;
  const arbiterOutage = !calm && rng.chance(0.3);
  for (const h of HOSTS) {
    const req = calmLink(`${h}>A`, rng.range(0.1, 3), rng.range(0, 2));
    const res = calmLink(`A>${h}`, req.delayMs, req.jitterMs);
    for (const l of [req, res]) {
      l.loss = arbiterLoss;
      l.fifo = !rng.chance(0.3);
      l.partitionMode = rng.chance(0.5) ? "drop" : "hold";
    }
    if (arbiterOutage && rng.chance(0.7)) {
      const w = window(rng, t(), timeoutMs);
      req.partitions.push(w);
      if (rng.chance(0.7)) res.partitions.push(w);
    }
    plan.links.push(req, res);
  }

  // ---- the console sink (TCP: ordered, reliable while up; a partition delays) -------
  for (const h of HOSTS) {
    const out = calmLink(`${h}>S`, rng.range(0.05, 2), rng.range(0, 1));
    const ack = calmLink(`S>${h}`, out.delayMs, out.jitterMs);
    if (!calm && rng.chance(0.3)) {
      const w = window(rng, t(), timeoutMs);
      out.partitions.push(w);
      if (rng.chance(0.5)) ack.partitions.push({ ...w });
    }
    plan.links.push(out, ack);
    if (!calm && rng.chance(0.2)) {
      const n = rng.int(1, 2);
      for (let i = 0; i < n; i++) hosts[h].sinkResets.push(t());
    }
  }

  // ---- crashes ---------------------------------------------------------------------
  if (o.crashes) {
    for (const h of HOSTS) hosts[h].crash = o.crashes[h] ?? [];
  } else if (!calm) {
    const kind = rng.weighted([
      [25, "none"],
      [20, "P"],
      [15, "B"],
      [10, "both"],
      [30, "failover"],
    ] as const);
    if (kind === "P" || kind === "both") hosts.P.crash.push(crashTrigger(rng, t(), instrs));
    if (kind === "B" || kind === "both") hosts.B.crash.push(crashTrigger(rng, t(), instrs));
    if (kind === "failover") {
      // Hit the handover itself: one host fails (or the pair is split), then the other
      // crashes while draining, electing, just after going live, or while finishing.
      const first = rng.pick(HOSTS);
      const second: HostId = first === "P" ? "B" : "P";
      if (rng.chance(0.7)) hosts[first].crash.push(rng.chance(0.5) ? { kind: "time", atMs: t() } : { kind: "icount", icount: rng.int(0, instrs) });
      const roles: Role[] = second === "B" ? ["draining", "electing", "alone", "finishing"] : ["electing", "alone", "finishing"];
      hosts[second].crash.push({ kind: "role", role: rng.pick(roles), delayMs: rng.chance(0.5) ? 0 : rng.range(0, 2 * timeoutMs) });
      if (rng.chance(0.3)) hosts[second].crash.push({ kind: "action", action: rng.pick(["output", "tas", "send"] as const), nth: rng.int(1, 30) });
    }
  }
  const lastFault = Math.max(
    expectedMs,
    ...plan.links.flatMap((l) => l.partitions.map((w) => w.to)),
    ...HOSTS.flatMap((h) => hosts[h].sinkResets),
  );
  // Room for every failover and for 30 arbiter attempts: a run still going at the cap is stuck.
  plan.capSlackMs = Math.ceil(20 * timeoutMs + 30 * (plan.tasTimeoutMs + plan.tasRetryMs) + 5000);
  plan.capMs = Math.ceil(lastFault) + plan.capSlackMs;

  // ---- respawned backups (their own stream: the draws above do not move) ------------
  // Most runs start a fresh backup once a host runs alone; their faults hit every stage
  // of the clone (the joiner dies while joining or just after restoring, the primary dies
  // as it sends the snapshot, hears the restore, or wins the pair's epoch), and later
  // failovers to the new backup (P -> B -> C chains).
  const rr = rng.fork("respawns");
  if (!calm && o.respawn !== false && rr.chance(0.9)) {
    const n = rr.int(1, RESPAWNS_MAX);
    const rt = () => rr.range(0, expectedMs * 0.8);
    for (let i = 0; i < n; i++) {
      const id = RESPAWN_IDS[i];
      const hp = hostPlan(rr);
      const [toPrimary, fromPrimary] = logChannel(rr, `${id}>*`, `*>${id}`, false, rt, timeoutMs);
      const links: LinkModel[] = [];
      const req = calmLink(`${id}>A`, rr.range(0.1, 3), rr.range(0, 2));
      const res = calmLink(`A>${id}`, req.delayMs, req.jitterMs);
      for (const l of [req, res]) {
        l.loss = arbiterLoss;
        l.fifo = !rr.chance(0.3);
        l.partitionMode = rr.chance(0.5) ? "drop" : "hold";
      }
      if (arbiterOutage && rr.chance(0.5)) req.partitions.push(window(rr, rt(), timeoutMs));
      const out = calmLink(`${id}>S`, rr.range(0.05, 2), rr.range(0, 1));
      const ack = calmLink(`S>${id}`, out.delayMs, out.jitterMs);
      if (rr.chance(0.2)) out.partitions.push(window(rr, rt(), timeoutMs));
      if (rr.chance(0.15)) hp.sinkResets.push(rt());
      links.push(req, res, out, ack);
      if (o.crashes) hp.crash = o.crashes[id] ?? [];
      else
        hp.crash = rr.weighted<CrashTrigger[]>([
          [30, []],
          [8, [{ kind: "role", role: "joining", delayMs: rr.chance(0.5) ? 0 : rr.range(0, 5) }]],
          [8, [{ kind: "role", role: "backup", delayMs: rr.chance(0.4) ? 0 : rr.range(0, 2 * timeoutMs) }]],
          [6, [{ kind: "action", action: "send", nth: rr.int(1, 6) }]],
          [10, [{ kind: "time", atMs: rt() }]],
          [4, [{ kind: "icount", icount: rr.int(0, instrs) }]],
          [8, [{ kind: "role", role: rr.pick(["draining", "electing", "alone", "finishing"] as const), delayMs: rr.chance(0.5) ? 0 : rr.range(0, 2 * timeoutMs) }]],
        ]);
      hosts[id] = hp;
      plan.spawns.push({ id, delayMs: rr.chance(0.7) ? rr.range(1, 15) : rr.range(15, 3 * timeoutMs), toPrimary, fromPrimary, links });
    }
    // Clones need a host running alone: in some of these runs P or B also fails early
    // (on top of the crash plan above), so that most clones start well before the guest ends.
    if (!o.crashes && rr.chance(0.7)) hosts[rr.pick(HOSTS)].crash.push({ kind: "time", atMs: rr.range(0, expectedMs * 0.4) });
    // The primaries of clones: P (once alone), B and the respawned hosts may die at each stage of a clone they serve.
    if (!o.crashes)
      for (const id of [...HOSTS, ...plan.spawns.map((s) => s.id)]) {
        if (!rr.chance(0.25)) continue;
        const stage = rr.weighted([[2, "clone"], [1, "clone-mem"], [3, "restored"], [3, "granted"]] as const);
        const r = rr.float();
        const delayMs = r < 0.4 ? 0 : r < 0.7 ? rr.range(0, 10) : rr.range(10, expectedMs * 0.5);
        hosts[id].crash.push({ kind: "join", stage, delayMs });
      }
  }

  // ---- catch-up, bounded buffers, throttling (their own stream: the draws above do not move)
  // Drops of the log connection (the backup reconnects and resumes, or is refused, or finds
  // the primary gone), sometimes in bursts (a drop while the backup is reconnecting); small
  // log buffers (the primary pauses until acknowledgements free space); and a fast primary
  // with a backup several times slower and a lag threshold of tens of ms (it throttles).
  const rc = rng.fork("catchup");
  const drops = o.drops ?? (!calm && rc.chance(0.35));
  if (drops) {
    const n = rc.int(1, 4);
    for (let i = 0; i < n; i++) {
      const at = rc.range(0, expectedMs * 1.2);
      plan.drops.push(at);
      if (rc.chance(0.25)) plan.drops.push(at + rc.range(0.1, timeoutMs));
    }
    plan.drops.sort((a, b) => a - b);
  }
  if (o.smallBuffer ?? (!calm && rc.chance(0.2))) plan.logBufferBytesMax = rc.pick([2, 4, 8, 16]) * 1024;
  if (o.slowBackup ?? (!calm && rc.chance(0.15))) {
    // A backup 4-8 times slower than its primary (within what the throttle can absorb: it
    // sleeps at most 95% of the time), enough work per timer tick that the backup cannot
    // keep up, and a guest long enough (about a second of the primary's time) for the
    // throttle, which adjusts every 100 ms, to settle.
    plan.slowBackup = true;
    hosts.P.usPerInstr = rc.pick([0.5, 1]);
    hosts.B.usPerInstr = hosts.P.usPerInstr * rc.pick([4, 8]);
    plan.lagThresholdMs = rc.pick([20, 50, 100]);
    guest.lines = rc.int(800, 1600);
    guest.waitEvery = rc.pick([4, 8]);
    guest.periodUs = 2000;
  }
  if (plan.drops.length) plan.capMs = Math.max(plan.capMs, Math.ceil(plan.drops[plan.drops.length - 1]) + plan.capSlackMs);
  if (disk) diskFaults(plan, disk, disk.local ? rn : rd, calm, o);
  arbiterRestarts(plan, rng.fork("arbiter-restarts"), calm, o);
  return plan;
}

/**
 * The arbiter's restarts (with state: an outage in which requests and answers in flight
 * are lost; without: amnesia, a new cluster) and, after an amnesia, perhaps a stranger.
 */
function arbiterRestarts(plan: Plan, ra: Prng, calm: boolean, o: PlanOverrides): void {
  const { expectedMs, timeoutMs } = plan;
  const down = () => (ra.chance(0.5) ? ra.range(1, timeoutMs) : ra.range(timeoutMs, 4 * timeoutMs));
  if (o.arbiterRestarts === false) return;
  if (Array.isArray(o.arbiterRestarts)) plan.arbiterRestarts = o.arbiterRestarts.map((r) => ({ ...r }));
  else if (!calm) {
    if (ra.chance(ARBITER_RESTART_SHARE)) for (let i = ra.int(1, 3); i > 0; i--) plan.arbiterRestarts.push({ atMs: ra.range(0, expectedMs * 1.2), downMs: down(), amnesia: false });
    if (ra.chance(ARBITER_AMNESIA_SHARE)) plan.arbiterRestarts.push({ atMs: ra.range(0, expectedMs * 0.8), downMs: down(), amnesia: true });
    plan.arbiterRestarts.sort((a, b) => a.atMs - b.atMs);
  }
  const first = plan.arbiterRestarts.find((r) => r.amnesia);
  if (first && !plan.disk && (o.stranger ?? ra.chance(STRANGER_SHARE)) !== false) {
    const out = calmLink(`${STRANGER_ID}>S`, ra.range(0.05, 2), ra.range(0, 1));
    const ack = calmLink(`S>${STRANGER_ID}`, out.delayMs, out.jitterMs);
    plan.stranger = { afterMs: ra.chance(0.5) ? ra.range(0, 5) : ra.range(5, timeoutMs), links: [out, ack] };
    plan.hosts[STRANGER_ID] = { sliceIcount: ra.pick([500, 1000, 2000]), usPerInstr: ra.pick([0.2, 0.5, 1]), closeOnCrash: true, crash: [], sinkResets: [] };
  }
  const last = Math.max(0, ...plan.arbiterRestarts.map((r) => r.atMs + r.downMs + (plan.stranger?.afterMs ?? 0)));
  if (plan.arbiterRestarts.length) plan.capMs = Math.max(plan.capMs, Math.ceil(last) + plan.capSlackMs);
}

// ---- disk runs --------------------------------------------------------------------------

function drawDisk(rd: Prng): DiskPlan {
  const guest: DiskGuestParams = {
    records: rd.int(24, 160),
    recordBlocks: rd.pick([2, 4, 8, 16]),
    window: rd.pick([1, 2, 4, 6, 8, 8]),
    readEvery: rd.pick([1, 2, 4, 8]),
  };
  const hiMs = rd.pick([0.5, 2, 5]);
  return { guest, latency: { loMs: 0.02, hiMs, slowChance: rd.pick([0, 0.02, 0.1]), slowMs: hiMs * rd.pick([4, 20]) }, links: [], resets: {} };
}

function drawLocal(rn: Prng, backupReads: boolean): LocalDiskPlan {
  const hiMs = rn.pick([0.05, 0.5, 2, 5]);
  return {
    backupReads,
    latency: { loMs: 0.01, hiMs, slowChance: rn.pick([0, 0.02, 0.1]), slowMs: hiMs * rn.pick([4, 20]) },
    chunkBytes: rn.pick([1, 1, 2, 4, 64]) * 64,
    errors: {},
    cloneReadErrors: {},
  };
}

/** Requests the disk guest starts: every record's write, the reads, the header. */
export function diskRequests(g: DiskGuestParams): number {
  return g.records + Math.ceil(g.records / g.readEvery) + 1;
}

/** Rough instruction count of the disk guest (work, record building, checksums, reads' checks). */
function diskInstrs(g: DiskGuestParams): number {
  return g.records * 480 + Math.ceil(g.records / g.readEvery) * 230 + 1000;
}

/** A host's two links to the disk server: TCP-like (ordered, reliable), sometimes held up by a partition (its traffic arrives after it heals). */
export function diskLinks(rd: Prng, id: HostId, calm: boolean, t: () => number, timeoutMs: number): LinkModel[] {
  const req = calmLink(`${id}>DS`, rd.range(0.02, 1), rd.range(0, 1));
  const ans = calmLink(`DS>${id}`, req.delayMs, req.jitterMs);
  if (!calm && rd.chance(0.3)) {
    const w = window(rd, t(), timeoutMs);
    const dir = rd.weighted([[2, "both"], [2, "req"], [1, "ans"]] as const);
    if (dir !== "ans") req.partitions.push(w);
    if (dir !== "req") ans.partitions.push({ ...w });
  }
  return [req, ans];
}

/**
 * The disk's links and the crashes mid-I/O: the hosts that will be live (P, and B or a
 * respawned host after a failover) may crash right after a request starts, after a write
 * left for the server, or as an answer arrives; a host whose requests are held up on the
 * way to the disk sometimes crashes while they are (they reach the disk after its
 * successor went live: the fencing's case).
 */
function diskFaults(plan: Plan, disk: DiskPlan, rd: Prng, calm: boolean, o: PlanOverrides): void {
  const expectedMs = plan.expectedMs;
  const t = () => rd.range(0, expectedMs * 1.2);
  const n = diskRequests(disk.guest);
  const local = disk.local;
  if (!local) {
    for (const id of HOSTS) disk.links.push(...diskLinks(rd, id, calm, t, plan.timeoutMs));
    for (const id of HOSTS) disk.resets[id] = !calm && rd.chance(0.25) ? Array.from({ length: rd.int(1, 3) }, t).sort((a, b) => a - b) : [];
    for (const s of plan.spawns) s.links.push(...diskLinks(rd, s.id, calm, () => rd.range(0, expectedMs * 0.8), plan.timeoutMs));
  }
  if (calm) return;
  if (local) {
    // Disk errors on backups (every host but P may replay): transient (the node retries)
    // or persistent (it must halt rather than go on with an image that differs).
    for (const id of Object.keys(plan.hosts)) {
      if (id === "P" || !rd.chance(0.3)) continue;
      const errs: LocalDiskError[] = [];
      // A respawned backup's first requests are the clone's image chunks it writes.
      const nth = () => (!HOSTS.includes(id) && rd.chance(0.4) ? rd.int(1, 4) : rd.int(1, n));
      for (let i = rd.int(1, 3); i > 0; i--) errs.push({ nth: nth(), times: rd.int(1, 2), persistent: false });
      if (rd.chance(0.3)) errs.push({ nth: nth(), times: 0, persistent: true });
      local.errors[id] = errs;
    }
    for (const id of Object.keys(plan.hosts)) {
      if (plan.spawns.length === 0 || !rd.chance(0.15)) continue;
      local.cloneReadErrors[id] = [{ nth: rd.int(1, 4), times: rd.int(1, 2), persistent: rd.chance(0.3) }];
    }
    if (o.crashes) return;
    // The clone's image stream: its primary dies mid-stream, after it, or while a write is held.
    for (const id of [...HOSTS, ...plan.spawns.map((s) => s.id)]) {
      if (plan.spawns.length === 0 || !rd.chance(0.3)) continue;
      const stage = rd.weighted([[3, "chunk"], [2, "streamed"], [2, "held"]] as const);
      const r = rd.float();
      plan.hosts[id].crash.push({ kind: "clone-disk", stage, nth: rd.int(1, 6), delayMs: r < 0.4 ? 0 : r < 0.8 ? rd.range(0, 3) : rd.range(3, plan.timeoutMs) });
    }
  }
  if (o.crashes) return;
  const trigger = (): CrashTrigger => {
    const stage = rd.weighted([[3, "start"], [4, "release"], [3, "complete"]] as const);
    const r = rd.float();
    const delayMs = r < 0.5 ? 0 : r < 0.8 ? rd.range(0, 2) : rd.range(2, plan.timeoutMs);
    return { kind: "disk", stage, nth: stage === "start" ? rd.int(1, n) : rd.int(1, Math.max(1, Math.ceil(n / 2))), delayMs };
  };
  // The fencing's case, on purpose in some runs: P's requests are held up on their way to
  // the disk for several failure timeouts while P crashes; B takes over, and P's old
  // writes arrive after B's first requests (the disk must refuse them).
  if (!local && rd.chance(0.3)) {
    const from = rd.range(0, expectedMs * 0.7);
    const w = { from, to: from + rd.range(3, 8) * plan.timeoutMs };
    disk.links.find((l) => l.name === "P>DS")!.partitions.push(w);
    plan.hosts.P.crash.push({ kind: "time", atMs: rd.range(from, from + (w.to - from) * 0.3) });
  }
  for (const id of Object.keys(plan.hosts)) {
    if (rd.chance(id === "P" ? 0.5 : 0.12)) plan.hosts[id].crash.push(trigger());
    const held = disk.links.find((l) => l.name === `${id}>DS`)?.partitions[0];
    if (held && rd.chance(id === "P" ? 0.6 : 0.3)) plan.hosts[id].crash.push({ kind: "time", atMs: rd.range(held.from, held.to) });
  }
  if (local) return;
  const last = Math.max(...disk.links.flatMap((l) => l.partitions.map((w) => w.to)));
  if (Number.isFinite(last)) plan.capMs = Math.max(plan.capMs, Math.ceil(last) + plan.capSlackMs);
}

/** A log channel's two directions: mostly TCP-like, sometimes chaotic, sometimes partitioned. */
function logChannel(rng: Prng, there: string, back: string, calm: boolean, t: () => number, timeoutMs: number): [LinkModel, LinkModel] {
  // Mostly TCP-like (ordered, reliable, partitions that either hold or drop traffic);
  // sometimes a chaotic link that loses, duplicates and reorders (the node treats any of
  // that as a broken channel: a gap in the log is refused and the channel cut).
  const chaos = !calm && rng.chance(0.25);
  const pb = calmLink(there, rng.range(0.05, 1), rng.range(0, 1));
  const bp = calmLink(back, pb.delayMs, pb.jitterMs);
  if (chaos) {
    for (const l of [pb, bp]) {
      l.fifo = rng.chance(0.5);
      l.loss = rng.pick([0, 0.001, 0.005, 0.02]);
      l.dup = rng.pick([0, 0.001, 0.01, 0.05]);
      l.reorder = rng.pick([0, 0.01, 0.05]);
      l.reorderMs = rng.range(0.5, 5);
    }
  }
  if (!calm && rng.chance(0.4)) {
    const n = rng.int(1, 3);
    for (let i = 0; i < n; i++) {
      const w = window(rng, t(), timeoutMs);
      const dir = rng.weighted([[3, "both"], [1, "there"], [1, "back"]] as const);
      if (dir !== "back") pb.partitions.push(w);
      if (dir !== "there") bp.partitions.push(w);
    }
    pb.partitionMode = bp.partitionMode = rng.chance(0.6) ? "drop" : "hold";
  }
  return [pb, bp];
}

/** A partition window: mostly shorter than the failure timeout (a hiccup), sometimes far longer (a real split). */
function window(rng: Prng, from: number, timeoutMs: number): Window {
  const len = rng.chance(0.5) ? rng.range(1, timeoutMs * 0.8) : rng.range(timeoutMs, timeoutMs * 8);
  return { from, to: from + len };
}

function crashTrigger(rng: Prng, at: number, instrs: number): CrashTrigger {
  return rng.weighted<CrashTrigger>([
    [5, { kind: "time", atMs: at }],
    [3, { kind: "icount", icount: rng.int(0, instrs) }],
    [1, { kind: "action", action: rng.pick(["output", "send"] as const), nth: rng.int(1, 100) }],
  ]);
}

/** One line describing a plan's faults (for the verbose report). */
export function describePlan(p: Plan): string {
  const d = p.disk;
  const parts: string[] = [
    d
      ? `${d.local ? `non-shared disks${d.local.backupReads ? " with backup reads" : ""} (local latency ${d.local.latency.loMs}-${d.local.latency.hiMs} ms, ${d.local.latency.slowChance} slow up to ${d.local.latency.slowMs} ms; clone chunks of ${d.local.chunkBytes} bytes), ` : ""}disk guest ${d.guest.records} records over ${d.guest.recordBlocks} blocks, ${d.guest.window} outstanding, a read every ${d.guest.readEvery} (disk latency ${d.latency.loMs}-${d.latency.hiMs} ms, ${d.latency.slowChance} slow up to ${d.latency.slowMs} ms)`
      : `guest ${p.guest.lines} lines (timer ${p.guest.periodUs} µs, wait every ${p.guest.waitEvery})`,
    `hb ${p.heartbeatMs} ms, timeout ${p.timeoutMs} ms, tas timeout ${p.tasTimeoutMs} ms`,
  ];
  if (p.drops.length) parts.push(`log connection drops at ${p.drops.map((x) => x.toFixed(1)).join(", ")} ms`);
  if (p.logBufferBytesMax !== undefined) parts.push(`log buffer ${p.logBufferBytesMax} bytes`);
  if (p.slowBackup) parts.push(`slow backup: lag threshold ${p.lagThresholdMs} ms`);
  for (const r of p.arbiterRestarts) parts.push(`the arbiter restarts ${r.amnesia ? "WITHOUT its state (amnesia)" : "with its state"} at ${r.atMs.toFixed(1)} ms, down ${r.downMs.toFixed(1)} ms`);
  if (p.stranger) parts.push(`a stranger ${STRANGER_ID} starts ${p.stranger.afterMs.toFixed(1)} ms after the arbiter forgot`);
  for (const h of Object.keys(p.hosts)) {
    const hp = p.hosts[h];
    const crash = hp.crash.map((c) =>
      c.kind === "time"
        ? `at ${c.atMs.toFixed(1)} ms`
        : c.kind === "icount"
          ? `at icount ${c.icount}`
          : c.kind === "role"
            ? `on ${c.role}+${c.delayMs.toFixed(1)} ms`
            : c.kind === "join"
              ? `on clone ${c.stage}+${c.delayMs.toFixed(1)} ms`
              : c.kind === "clone-disk"
                ? `on clone image ${c.stage}${c.stage === "chunk" ? ` #${c.nth}` : ""}+${c.delayMs.toFixed(1)} ms`
              : c.kind === "disk"
                ? `on disk ${c.stage} #${c.nth}+${c.delayMs.toFixed(1)} ms`
                : `before ${c.action} #${c.nth}`,
    );
    const spawn = p.spawns.find((s) => s.id === h);
    if (spawn) parts.push(`${h} respawns ${spawn.delayMs.toFixed(1)} ms after a host runs alone (times relative to its start)`);
    const dr = p.disk?.resets[h] ?? [];
    const errs = p.disk?.local?.errors[h] ?? [];
    const cre = p.disk?.local?.cloneReadErrors[h] ?? [];
    if (cre.length) parts.push(`${h}'s own disk fails its image read #${cre[0].nth} for a clone ${cre[0].persistent ? "persistently" : `${cre[0].times}x`}`);
    if (errs.length) parts.push(`${h}'s own disk fails ${errs.map((e) => `request #${e.nth} ${e.persistent ? "persistently" : `${e.times}x`}`).join(", ")} while replaying`);
    parts.push(
      `${h}${dr.length ? ` (disk connection resets at ${dr.map((x) => x.toFixed(1)).join(", ")} ms)` : ""}: slice ${hp.sliceIcount}, ${hp.usPerInstr} µs/instr${crash.length ? `, crash ${crash.join(" or ")} (${hp.closeOnCrash ? "peer sees a close" : "silent"})` : ""}${hp.sinkResets.length ? `, sink resets at ${hp.sinkResets.map((x) => x.toFixed(1)).join(", ")} ms` : ""}`,
    );
  }
  for (const l of [...p.links, ...(d?.links ?? []), ...p.spawns.flatMap((s) => [s.toPrimary, s.fromPrimary, ...s.links])]) {
    const f: string[] = [];
    if (!l.fifo) f.push("unordered");
    if (l.loss) f.push(`loss ${l.loss}`);
    if (l.dup) f.push(`dup ${l.dup}`);
    if (l.reorder) f.push(`reorder ${l.reorder}`);
    if (l.partitions.length) f.push(`partitions (${l.partitionMode}) ${l.partitions.map((w) => `${w.from.toFixed(1)}-${w.to.toFixed(1)}`).join(", ")} ms`);
    if (f.length) parts.push(`${l.name}: ${f.join(", ")}`);
  }
  return parts.join("; ");
}
