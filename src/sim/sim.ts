// The seeded deterministic simulator of the FT protocol: the unchanged src/ft state
// machines (FtNodes, the arbiter's testAndSet, the sink's SinkState) run inside one
// process on a simulated clock, over the simulated network of ./net.ts, with the faults
// of ./plan.ts. Each host has a small shell that mirrors src/host/ft-host.ts — it feeds
// the node messages, ticks and answers, and carries out the node's actions — but with
// simulated time: a run() slice costs simulated time in proportion to the instructions it
// executed, inputs that arrive while a slice runs wait for it, and a crash in the middle
// of a slice means its actions never happen. Everything random comes from the seed, so a
// seed replays exactly (the run's fingerprint hashes its whole event trace).
//
// The run starts with a primary P and its backup B. Once a host runs live alone (its peer
// failed), the plan may start a fresh backup (C, D, E in turn): it connects to that host
// over a new log channel, the host's shell calls acceptJoin, and the node clones itself
// into the new backup (snapshot, memory, restore, the pair's epoch), as ft-host.ts does.
//
// Catch-up: the plan may drop the log connection while both hosts live (both sides see a
// close). A paired backup's node then asks to reconnect: the shell opens a new connection
// (over the same link model: delay, partitions) and sends hello {resume: lsn}, as
// FtHost.reconnect does; the primary's shell calls acceptResume (FtHost.listenForPeers),
// whose "resumed" answers the handshake. A refusal by the live primary ends in
// onResumeRefused; a primary whose process is gone refuses the connection (its machine
// answers), a dead machine or a partition gives no answer (the backup waits until its
// failure detector gives up on the primary): both end in onReconnectFailed. Plans may
// also bound the log buffer (NodeConfig.logBufferBytesMax)
// and pair a fast primary with a slow backup and a small lag threshold (throttling); the
// shell counts the pauses and sleeps it sees and measures the backup's true lag.
//
// The shared disk (disk runs): every host has a disk client, as FtHost.connectDisk gives
// the node one before it starts (NodeConfig.disk); the node's DiskGate holds writes until
// the backup has the log and hands reads and released writes to it with the node's epoch.
// Requests made inside a slice leave when the slice ends (a crash inside it loses them);
// once sent they travel over the host's link to the disk server (./disk.ts) and may arrive
// after their host died. Answers go back over the link; a dead host's are lost; a refused
// write is sent again in the host's newer epoch when it holds one, else the node hears
// onDiskFenced and halts. A new primary's node re-issues its device's outstanding requests
// by itself (its new LiveEnv submits them). Disk connections may reset: the client sends
// every unanswered request again (DiskClient.reconnect).
//
// Clusters (ArbiterClient, SinkState): the run's hosts belong to cluster c1, the arbiter's
// and the sink's. The plan may restart the arbiter: while it is down requests are lost, and
// answers it sent before it died never arrive (their connection died with it); hosts ask
// again. A restart with its state changes nothing else. A restart without it (amnesia)
// founds a new cluster (c2, ...) at epoch 0: a host of c1 that hears from it halts as the
// real host does on a WrongClusterError, and a stranger (X) may start against it, as a
// fresh `ftvm primary` would: it learns the new cluster, claims that cluster's epoch 1
// and sends its output to the same sink, which must refuse it for its cluster.
import type { ArbiterState, TasRequest, TasResult } from "../arbiter/core.js";
import { initialState, testAndSet } from "../arbiter/core.js";
import { EV } from "../devices/events.js";
import type { Action, Msg, RunResult } from "../ft/node.js";
import { FtNode, ProtocolError } from "../ft/node.js";
import { type FrontVerdict, LogFront } from "../ft/log-front.js";
import { QUEUE_EVENTS_MAX_DEFAULT } from "../replay/source.js";
import { type CloneMsg, parsePeerMsg } from "../ft/protocol.js";
import { PRIMARY_CONNECT_ATTEMPTS_MAX, PRIMARY_CONNECT_RETRY_MS, SINK_RECONNECT_MS } from "../ft/shell-timing.js";
import type { NodeIo } from "../ft/driver.js";
import { firstEpochRequest, onFirstEpochAnswer, resumeAnswerProblem, shellHalt } from "../ft/handshake.js";
import { LAG_THRESHOLD_MS_DEFAULT } from "../ft/throttle.js";
import type { OutputChunk, SinkVerdict } from "../ft/sink.js";
import { SinkState } from "../ft/sink.js";
import type { World } from "../replay/world.js";
import { memDigest, regsDigest } from "../vm/digest.js";
import type { Facts, HostFacts } from "./checks.js";
import { checkRun } from "./checks.js";
import type { DiskWireAns, DiskWireReq } from "./disk.js";
import { SimDiskServer, diskReference } from "./disk.js";
import { SimLocalDisk } from "./localdisk.js";
import { diskGeometry, diskGuestImage, guestImage } from "./guest.js";
import type { DiskBackend } from "../replay/world.js";
import type { DiskRequest } from "../devices/disk.js";
import { DISK_READ, DISK_WRITE } from "../devices/disk.js";
import { Net } from "./net.js";
import type { CrashTrigger, HostId, Plan, PlanOverrides, SpawnPlan } from "./plan.js";
import { HOSTS, STRANGER_ID, describePlan, makePlan } from "./plan.js";
import { otherCluster } from "../arbiter/core.js";
import { Prng } from "./prng.js";
import { HostShell, ShellHost, type Slice, notAccepted } from "./host-shell.js";

/**
 * Deliberately broken variants, to prove that the checks catch what they claim to:
 * - self-ack: the primary acknowledges its own log, so it releases output the backup does not have (the output rule broken);
 * - sink-no-dedup: the sink writes re-sent bytes again instead of dropping them;
 * - arbiter-grants-all: the arbiter grants every test-and-set, even for an epoch already taken;
 * - corrupt-log: the network changes one RAND value in one log batch on its way to the backup;
 * - sink-loses-output: the sink connection silently loses some output (not TCP);
 * - arbiter-silent: the arbiter never answers (elections never end);
 * - node-throws: the primary's tick throws an ordinary Error (a bug, not a refused message);
 * - corrupt-clone: the network changes one register in the first clone's snapshot on its way to the new backup;
 * - disk-unfenced: the disk server performs writes from an epoch older than one it has seen (disk runs);
 * - disk-early-write: the primary releases held disk writes once the backup acknowledged their icount, though
 *   the completion that let the device issue one, delivered at that icount, may not be acknowledged (the bug
 *   the simulator found: see PrimaryLog.heldIcount).
 * - backup-early-done: (non-shared) a backup delivers a write's completion to its guest before its own write landed;
 * - clone-no-hold: (non-shared) the primary of a clone does not hold new writes while it streams its image;
 * - corrupt-backup-image: (non-shared) one byte of B's own image changes while it replays.
 * - arbiter-forgets-cluster: an arbiter that lost its state comes back with the old cluster id (as if there were
 *   no cluster ids: epochs alone), so a stranger's claim of epoch 1 is a second epoch 1 of the run's cluster;
 * - sink-ignores-cluster: the sink takes output of any cluster (only epochs, offsets and bytes are checked).
 */
export const MUTATIONS = [
  "self-ack",
  "sink-no-dedup",
  "arbiter-grants-all",
  "corrupt-log",
  "sink-loses-output",
  "arbiter-silent",
  "node-throws",
  "corrupt-clone",
  "disk-unfenced",
  "disk-early-write",
  "backup-early-done",
  "clone-no-hold",
  "corrupt-backup-image",
  "arbiter-forgets-cluster",
  "sink-ignores-cluster",
  "front-unchecked",
] as const;
export type Mutation = (typeof MUTATIONS)[number];

/**
 * What a viewer of a simulated run sees (`ftvm sim --json`, `--report`), on the simulated
 * clock. Observing never changes the run: the hook is called, its result ignored.
 */
export type SimObservation =
  | { kind: "role"; host: string; role: string; epoch: number; icount: number }
  | { kind: "tick"; host: string; role: string; epoch: number; icount: number }
  | { kind: "news"; host: string; text: string; data: Record<string, unknown> }
  | { kind: "crash"; host: string; why: string }
  | { kind: "drop" }
  | { kind: "sink"; host: string; epoch: number; bytes: Uint8Array };

export interface SimOptions {
  /** Keep the event trace (the fingerprint is computed either way). */
  verbose?: boolean;
  observe?: (tMs: number, o: SimObservation) => void;
  mutation?: Mutation;
  plan?: PlanOverrides;
}

export interface SimStats {
  endMs: number;
  endReason: "quiet" | "cap";
  events: number;
  instructions: number;
  messages: number;
  lost: number;
  outputBytes: number;
  sinkBytes: number;
  /** The backup went live. */
  failovers: number;
  /** The primary won an epoch alone (its backup failed or was cut off). */
  aloneWins: number;
  /** Arbiter requests sent (retries included). */
  elections: number;
  crashes: number;
  halts: number;
  /** Output the sink refused as stale (a deposed primary), and bytes it dropped as duplicates. */
  staleRefused: number;
  duplicateBytes: number;
  /** Backup states compared with the primary's at the same icount. */
  tracePoints: number;
  /** ... of which by respawned (cloned) backups, from their snapshot on. */
  cloneTracePoints: number;
  finished: boolean;
  /** Backups respawned (started to join a host running alone). */
  respawns: number;
  /** Clones sent (a snapshot went out), completed (the pair's epoch was granted and a member learned it), failed (a side died, was cut off or refused before that). */
  clonesStarted: number;
  clonesCompleted: number;
  clonesFailed: number;
  /** Log connections dropped (plan.drops that found one open). */
  drops: number;
  /** A backup's reconnect attempts after its log channel closed, and how they ended: resumed, refused by a live primary (it halts), failed (nobody answered or the connection was refused: it fails over). */
  reconnects: number;
  resumes: number;
  resumesRefused: number;
  reconnectsFailed: number;
  /** Times a primary paused because its log buffer was full, and for how long in all (ms). */
  bufferPauses: number;
  bufferPausedMs: number;
  /** Sleeps of a throttled primary, and their total (ms). */
  throttleSleeps: number;
  throttledMs: number;
  /**
   * The backup's lag as the simulator sees it (ground truth, ms): the time the backup needs,
   * at its speed, to execute the instructions it trails its primary by; sampled at every
   * slice of a primary with a connected backup. Max over the run, and max once throttling
   * has acted: from the time the lag first came back to the threshold after the first
   * throttle sleep (the throttle ramps up by steps, so the lag overshoots first), and that
   * time (0: never).
   */
  lagMsMax: number;
  lagMsMaxSettled: number;
  lagSettledMs: number;
  /** A disk run: requests sent to the disk server (re-issues included), writes performed, reads served, writes refused as stale (fencing), requests a host sent again that another host had sent (re-issue after failover or clone). */
  disk: boolean;
  diskRequests: number;
  diskWrites: number;
  diskReads: number;
  diskRefused: number;
  diskReissued: number;
  /** Crashes of a host with disk requests in flight (sent and unanswered, or written and held by its gate). */
  crashesMidIo: number;
  /** Clones sent while the primary had disk requests in flight (the new backup's device holds them as issued). */
  clonesMidIo: number;
  /** Disk connection resets (the client re-sends what is unanswered), and re-sent requests the server joined to one still in flight. */
  diskResets: number;
  diskJoined: number;
  /** The disk's mode ("" without a disk); non-shared: requests on the hosts' own images, planned errors injected, backups that halted because their own disk failed persistently, image chunks sent to joining backups, images checked as a backup went live. */
  diskMode: "" | "shared" | "non-shared" | "backup-reads";
  localRequests: number;
  localErrors: number;
  localHalts: number;
  cloneDiskChunks: number;
  liveImageChecks: number;
  /** Arbiter restarts with their state, and without (amnesia: a new cluster); strangers started; output of another cluster the sink refused; hosts that halted on meeting an arbiter of another cluster. */
  arbiterRestarts: number;
  amnesias: number;
  strangers: number;
  foreignRefused: number;
  wrongClusterHalts: number;
}

/** The run's cluster (the arbiter's first, the sink's, every planned host's). */
export const RUN_CLUSTER = "c1";

export interface SimResult {
  seed: number;
  ok: boolean;
  failures: string[];
  stats: SimStats;
  /** Hash of the whole event trace: the same seed must give the same fingerprint. */
  fingerprint: string;
  /** The event trace (only with verbose). */
  trace: string[];
  /** The run's fault plan in one line. */
  plan: string;
  /** A command that replays this run. */
  replay: string;
}

export function replayCommand(seed: number, mutation?: Mutation, plan?: PlanOverrides): string {
  const disk = plan?.diskMode !== undefined && plan.disk !== false ? ` --disk-mode ${plan.diskMode}` : plan?.disk === true ? " --disk" : plan?.disk === false ? " --no-disk" : "";
  return `npx ftvm sim --seed ${seed}${disk}${mutation ? ` --mutation ${mutation}` : ""}`;
}

export function simulate(seed: number, opts: SimOptions = {}): SimResult {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`sim: the seed must be an integer, got ${seed}`);
  const root = new Prng(seed);
  const plan = makePlan(seed, root.fork("plan"), opts.plan);
  const sim = new Simulation(plan, root, opts);
  sim.run();
  const failures = checkRun(sim.facts);
  return {
    seed,
    ok: failures.length === 0,
    failures,
    stats: sim.stats(),
    fingerprint: sim.fingerprint(),
    trace: sim.trace,
    plan: describePlan(plan),
    replay: replayCommand(seed, opts.mutation, opts.plan),
  };
}

// ---- a broken node variant ---------------------------------------------------------

/** Acknowledges its own log after every slice: the next real ack then releases output the backup never received. */
class SelfAckingNode extends FtNode {
  override run(nowMs: number): RunResult {
    const r = super.run(nowMs);
    if (this.plog && this.role === "primary") this.plog.onAck(this.plog.lastLsn, 0);
    return r;
  }
}

/** Releases held disk writes by the acknowledged icount alone (the node's behaviour before PrimaryLog.heldIcount). */
class EarlyDiskWriteNode extends FtNode {
  override onPeerMessage(m: Msg, nowMs: number): Action[] {
    const actions = super.onPeerMessage(m, nowMs);
    const gate = (this as unknown as { diskGate?: { release(icount: number): number } }).diskGate;
    if (this.plog && this.role === "primary") gate?.release(this.plog.ackedIcount);
    return actions;
  }
}

/** The node's own disk and replay source (non-shared), for the mutations that break them. */
type LocalInternals = {
  localDisk?: { hold(): void; result(seq: number): { status: number; attempts: number } | undefined };
  localReplay?: object;
};

/** Delivers a write's completion to its replaying guest at once, before the backup's own write landed. */
class EarlyDoneNode extends FtNode {
  private patched?: object;
  override run(nowMs: number): RunResult {
    const me = this as unknown as LocalInternals;
    const d = me.localDisk;
    if (d && me.localReplay && this.patched !== d) {
      this.patched = d;
      const result = d.result.bind(d);
      d.result = (seq) => result(seq) ?? (this.bus.disk.inFlight().some((r) => r.seq === seq && r.op === DISK_WRITE) ? { status: 0, attempts: 1 } : undefined);
    }
    return super.run(nowMs);
  }
}

/** Streams its image to a joining backup without holding the guest's new writes. */
class NoHoldCloneNode extends FtNode {
  override run(nowMs: number): RunResult {
    const d = (this as unknown as LocalInternals).localDisk;
    if (d) d.hold = () => undefined;
    return super.run(nowMs);
  }
}

/** Throws from its fourth tick on. */
class ThrowingNode extends FtNode {
  private ticks = 0;
  override tick(nowMs: number): Action[] {
    if (++this.ticks > 3) throw new Error("deliberate bug (node-throws mutation)");
    return super.tick(nowMs);
  }
}

/** Writes whatever is not a gap or stale, duplicates included. */
class NaiveSink extends SinkState {
  override accept(c: OutputChunk): SinkVerdict {
    const v = super.accept(c);
    if (v.kind === "duplicate" || (v.kind === "write" && v.duplicateBytes > 0)) return { kind: "write", bytes: c.bytes, duplicateBytes: 0 };
    return v;
  }
}

// ---- one host's shell ------------------------------------------------------------------

const LIVE_ROLES = new Set(["primary", "alone", "finishing", "electing"]);

class Host extends ShellHost {
  readonly node: FtNode;
  readonly usPerInstr: number;
  /** The node runs live (the primary from the start, the backup after going live). */
  live = false;
  /** The log channel this host is on (at most one at a time), if any. */
  chan: Chan | undefined;
  /** A heartbeat tick is due and has not run: the log front acknowledges nothing early (see RemoteChannel.hold). */
  holdFront = false;
  /** The host whose execution this one replays: P for B, the primary it joined for a respawned backup. */
  source: Host | undefined;
  sinkUp = true;
  sinkGen = 0;
  /** The cluster this host belongs to (RUN_CLUSTER, or a stranger's, learned from the arbiter). */
  cluster = RUN_CLUSTER;
  tas: { req: TasRequest; attempt: number } | undefined;
  /** A backup reconnecting after its log channel closed: the new connection, until the primary answers. */
  resuming: { ch: Chan; lsn: number } | undefined;
  /** The primary's throttle sleep seen last, and since when its log buffer has been full. */
  throttledUntil = -Infinity;
  pausedSince: number | undefined;
  /** Throttling began (first sleep), and then the backup's true lag first came back to the threshold. */
  firstThrottleMs: number | undefined;
  lagSettledMs: number | undefined;
  readonly actionCounts = new Map<string, number>();
  /** The host's disk client (DiskClient's role): requests sent and unanswered, by id; requests made during a slice (sent when it ends). */
  readonly diskPending = new Map<number, { msg: DiskWireReq; done: (status: number, data?: Uint8Array) => void }>();
  diskOutbox: DiskWireReq[] = [];
  diskIds = 0;
  /** The disk connection: its number, and whether it is up (while down, requests wait; they are sent again on reconnect). */
  diskGen = 1;
  diskUp = true;
  diskWritesSent = 0;
  diskAnswers = 0;
  /** A disk trigger fired inside a slice: crash this long after the slice's requests left. */
  crashAfterFlush: number | undefined;
  /** Non-shared disks: this host's own image; its writes submitted and answers received while live (crash triggers), and clone-disk chunks it sent. */
  local: SimLocalDisk | undefined;
  localWrites = 0;
  localAnswers = 0;
  cloneChunksSent = 0;
  readonly triggers: CrashTrigger[];
  readonly facts: HostFacts;

  constructor(
    readonly id: HostId,
    readonly sim: Simulation,
    readonly plan: Plan,
    readonly rng: Prng,
    mutation: Mutation | undefined,
  ) {
    super(id, sim);
    const hp = plan.hosts[id];
    this.usPerInstr = hp.usPerInstr;
    this.triggers = [...hp.crash];
    const icountTrigger = hp.crash.find((c) => c.kind === "icount");
    const world: World = {
      hostId: 0x5001 + sim.ids.length,
      nowUs: () => this.clockMs() * 1000,
      random32: () => rng.next(),
    };
    const cfg = {
      id,
      heartbeatMs: plan.heartbeatMs,
      timeoutMs: plan.timeoutMs,
      flushIntervalMs: plan.flushIntervalMs,
      sliceIcount: hp.sliceIcount,
      crashAtIcount: icountTrigger?.kind === "icount" ? icountTrigger.icount : undefined,
      logBufferBytesMax: plan.logBufferBytesMax,
      lagThresholdMs: plan.lagThresholdMs,
      world,
      // The shared disk's client is connected before the host starts (FtHost.connectDisk);
      // a non-shared disk's image is opened before (FtHost with --disk-image).
      disk: plan.disk ? (plan.disk.local ? (this.local = sim.localDisk(this)) : sim.diskBackend(this)) : undefined,
      ...(plan.disk?.local
        ? { diskMode: "non-shared" as const, diskGeometry: diskGeometry(plan.disk.guest), backupReads: plan.disk.local.backupReads, cloneDiskChunkBytes: plan.disk.local.chunkBytes }
        : {}),
    };
    this.node =
      mutation === "disk-early-write"
        ? new EarlyDiskWriteNode(cfg)
        : mutation === "backup-early-done"
          ? new EarlyDoneNode(cfg)
          : mutation === "clone-no-hold"
            ? new NoHoldCloneNode(cfg)
        : id !== "P"
          ? new FtNode(cfg)
          : mutation === "self-ack"
            ? new SelfAckingNode(cfg)
            : mutation === "node-throws"
              ? new ThrowingNode(cfg)
              : new FtNode(cfg);
    this.facts = { id, cluster: RUN_CLUSTER, chunks: [], liveDigests: new Map(), received: { icount: -1, lsn: 0 }, started: false };
  }

  /** This host's side of its log channel is open. */
  get peerOpen(): boolean {
    return this.chan !== undefined && this.chan.open.has(this);
  }

  /** Records the node's console stream as it is drained (live or replayed). */
  hookConsole(): void {
    const con = this.node.bus.console;
    const drain = con.drainOutput.bind(con);
    con.drainOutput = () => {
      const out = drain();
      if (out.length) this.facts.chunks.push({ offset: con.drainedBytes - out.length, bytes: out, icount: this.node.machine.icount, live: this.live, t: this.sim.now });
      return out;
    };
  }

  recordDigest(): void {
    const m = this.node.machine;
    const d = `${regsDigest(m)}/${memDigest(m)}`;
    let set = this.facts.liveDigests.get(m.icount);
    if (!set) this.facts.liveDigests.set(m.icount, (set = new Set()));
    set.add(d);
  }
}

/** One log-channel connection between two hosts; each side closes on its own. Messages and closes of an older connection never reach a newer one. */
class Chan {
  readonly open = new Set<Host>();
  /**
   * The connecting backup's log front (src/ft/log-front.ts), as its I/O thread runs it:
   * it sees every message on arrival, before the host's slice ends, and acknowledges log.
   */
  front?: { host: Host; f: LogFront; taken: number; ackedMax: number };
  /** The connection dropped: nothing more gets through (each side sees the close on its own). */
  dead = false;
  /** Hosts a close of this connection reached (even before they attached it). */
  readonly closeSeen = new Set<Host>();
  constructor(
    readonly n: number,
    readonly a: Host,
    readonly b: Host,
  ) {}

  other(h: Host): Host {
    return h === this.a ? this.b : this.a;
  }
}

// ---- the simulation ----------------------------------------------------------------

export class Simulation extends HostShell<Host> {
  readonly net: Net;
  readonly hosts: Record<HostId, Host> = {};
  /** Every host that ever started, in order (P, B, then respawned ones). */
  readonly ids: HostId[] = [];
  readonly sink: SinkState;
  arbiter: ArbiterState = initialState(RUN_CLUSTER);
  /** The arbiter process is up; its incarnation (answers of an older one are lost with its connections); clusters founded. */
  private arbiterUp = true;
  private arbiterGen = 0;
  private clusters = 1;
  private readonly arbiterCounts = { restarts: 0, amnesias: 0, strangers: 0, foreignRefused: 0, wrongClusterHalts: 0 };
  readonly facts: Facts;
  private tasAttempts = 0;
  private readonly rng: Prng;
  private corrupted = false;
  private endReason: "quiet" | "cap" = "quiet";
  /** Backup states compared with the primary's at the same icount. */
  private tracePoints = 0;
  private cloneTracePoints = 0;
  private traceDiverged = false;
  private chans = 0;
  /** Respawns used, and whether one is scheduled. */
  private spawned = 0;
  private spawnPending = false;
  private capMs: number;
  private readonly worldRng: Prng;
  /** Every log connection, in order of opening. */
  private readonly chanList: Chan[] = [];
  /** The shared disk of a disk run (none with non-shared disks: each host has its own, Host.local). */
  readonly disk: SimDiskServer | undefined;
  /** A disk run, shared or not. */
  readonly diskRun: boolean;
  /** Which host first sent each request (by seq): another host sending it again re-issues it. */
  private readonly diskSeqsSent = new Map<number, HostId>();
  private readonly diskCounts = { requests: 0, reissued: 0, crashesMidIo: 0, clonesMidIo: 0, resets: 0, cloneDiskChunks: 0, localHalts: 0, liveImageChecks: 0 };
  private readonly counts = { drops: 0, reconnects: 0, resumes: 0, resumesRefused: 0, reconnectsFailed: 0, bufferPauses: 0, bufferPausedMs: 0, throttleSleeps: 0, throttledMs: 0, lagMsMax: 0, lagMsMaxSettled: 0, lagSettledMs: 0 };

  constructor(
    readonly plan: Plan,
    root: Prng,
    readonly opts: SimOptions,
  ) {
    super(plan, opts.verbose === true, true);
    this.rng = root.fork("shell");
    this.net = new Net(plan.links, root.fork("net"));
    this.worldRng = root;
    this.capMs = plan.capMs;
    this.sink = opts.mutation === "sink-no-dedup" ? new NaiveSink(RUN_CLUSTER) : new SinkState(RUN_CLUSTER);
    this.diskRun = plan.disk !== undefined;
    if (plan.disk && !plan.disk.local) {
      for (const l of plan.disk.links) this.net.add(l);
      this.disk = new SimDiskServer(
        diskGeometry(plan.disk.guest),
        root.fork("disk server"),
        plan.disk.latency,
        (t, label, fire) => this.at(t, label, fire),
        () => this.now,
        (host, gen, a) => this.diskAnswer(host, gen, a),
        (text) => this.log(text),
        opts.mutation === "disk-unfenced",
      );
    }
    this.facts = {
      plan,
      mutation: opts.mutation,
      hosts: {},
      clones: [],
      outputs: [],
      sinkWrites: [],
      sinkRefusals: [],
      sinkForeign: [],
      grants: [],
      violations: [],
      cluster: RUN_CLUSTER,
      arbiter: this.arbiter,
      clusterArbiter: this.arbiter,
      endMs: 0,
      endReason: "quiet",
      sinkDelivered: 0,
    };
  }

  // ---- the run ------------------------------------------------------------------------

  private newChan(a: Host, b: Host): Chan {
    const ch = new Chan(++this.chans, a, b);
    this.chanList.push(ch);
    return ch;
  }

  private addHost(id: HostId): Host {
    const h = new Host(id, this, this.plan, this.worldRng.fork(`world ${id}`), this.opts.mutation);
    this.hosts[id] = h;
    this.ids.push(id);
    this.facts.hosts[id] = h.facts;
    return h;
  }

  run(): void {
    const p = this.plan;
    this.log(`plan: ${describePlan(p)}`);
    const P = this.addHost("P");
    const B = this.addHost("B");
    B.source = P;
    B.facts.source = "P";
    const ch = this.newChan(P, B);
    ch.front = { host: B, f: new LogFront(), taken: 0, ackedMax: 0 };
    P.chan = B.chan = ch;
    ch.open.add(P).add(B);
    // The launcher: the primary claims epoch 1 for the pair, then starts (ft-host.runPrimary).
    // The same claim code as FtHost.runPrimary (src/ft/handshake.ts).
    const req = firstEpochRequest(this.arbiter.epoch, "P", "B");
    const granted = this.grant(req, testAndSet);
    const image = p.disk ? diskGuestImage(p.disk.guest) : guestImage(p.guest);
    const disk = p.disk ? diskGeometry(p.disk.guest) : undefined;
    this.call(P, "startPrimary", () => onFirstEpochAnswer(P.node, req, granted, { program: p.disk ? "sim-disk-guest.s" : "sim-guest.s", image, memBytes: p.memBytes, stackBytes: p.stackBytes, disk }, this.now).actions);
    P.started = P.facts.started = true;
    P.live = true;
    P.hookConsole();
    P.recordDigest();
    this.startTicks(P);
    this.scheduleRun(P, 0);
    for (const id of HOSTS) {
      const h = this.hosts[id];
      for (const c of h.triggers) if (c.kind === "time") this.at(c.atMs, `crash ${id}`, () => this.crash(h, `crash planned at ${c.atMs.toFixed(3)} ms`));
      for (const t of p.hosts[id].sinkResets) this.at(t, `sink reset ${id}`, () => this.sinkReset(h));
    }
    for (const t of p.drops) this.at(t, "drop", () => this.drop());
    for (const r of p.arbiterRestarts) this.at(r.atMs, "arbiter dies", () => this.arbiterDies(r.amnesia, r.downMs));
    for (const id of HOSTS) for (const t of p.disk?.resets[id] ?? []) this.at(t, `disk reset ${id}`, () => this.input(this.hosts[id], `disk reset ${id}`, () => this.diskReset(this.hosts[id])));
    if (this.opts.mutation === "corrupt-backup-image" && p.disk?.local) {
      const mr = this.worldRng.fork("mutation");
      const t = mr.range(0.05, 0.7) * p.expectedMs;
      const at = mr.int(0, B.local!.image.length - 1);
      this.at(t, "corrupt B's image", () => {
        if (!B.up || B.node.role !== "backup") return;
        B.local!.image[at] ^= 0x20;
        this.log(`MUTATION corrupt-backup-image: changed byte ${at} (block ${Math.floor(at / B.local!.geometry.blockBytes)}) of B's own image`);
      });
    }
    if (this.runEvents(() => this.capMs) === "cap") this.endReason = "cap";
    if (this.endReason === "quiet") this.now = this.lastBusy;
    this.log(`end (${this.endReason}): sink delivered ${this.sink.delivered} bytes at epoch ${this.sink.epoch}`);
    const f = this.facts;
    f.endMs = this.now;
    f.endReason = this.endReason;
    f.arbiter = this.arbiter;
    f.sinkDelivered = this.sink.delivered;
    f.amnesia = this.arbiterCounts.amnesias > 0;
    if (p.disk?.local) {
      const g = diskGeometry(p.disk.guest);
      f.disk = { geometry: g, writes: [], staleAccepted: [], refused: 0, reads: 0, joined: 0, image: new Uint8Array(0), reference: diskReference(p.disk.guest), local: { backupReads: p.disk.local.backupReads } };
    } else if (this.disk && p.disk)
      f.disk = {
        geometry: this.disk.geometry,
        writes: this.disk.writes,
        staleAccepted: this.disk.staleAccepted,
        refused: this.disk.refused,
        reads: this.disk.reads,
        joined: this.disk.joined,
        image: this.disk.image,
        reference: diskReference(p.disk.guest),
      };
    for (const c of f.clones) if (!c.outcome) c.outcome = this.cloneFailedWhy(c) ? "failed" : "open";
    for (const id of this.ids) {
      const h = this.hosts[id];
      h.facts.finalRole = h.node.role;
      if (h.started) {
        h.facts.finalDrained = h.node.bus.console.drainedBytes;
        h.facts.guestStopped = h.node.machine.halted || h.node.machine.trap !== null;
      }
    }
  }

  stats(): SimStats {
    let messages = 0;
    let lost = 0;
    for (const l of this.net.links.values()) {
      messages += l.sent;
      lost += l.lost;
    }
    const f = this.facts;
    return {
      endMs: Math.round(this.now * 1000) / 1000,
      endReason: this.endReason,
      events: this.events,
      instructions: this.ids.reduce((n, id) => n + (this.hosts[id].started ? this.hosts[id].node.machine.icount - (this.hosts[id].facts.cloned?.icount ?? 0) : 0), 0),
      messages,
      lost,
      outputBytes: f.outputs.reduce((n, o) => n + o.bytes.length, 0),
      sinkBytes: this.sink.delivered,
      failovers: this.ids.filter((id) => f.hosts[id].goLive).length,
      aloneWins: f.grants.filter((g) => g.epoch > 1 && g.members.length === 1 && f.hosts[g.holder]?.goLive?.epoch !== g.epoch).length,
      elections: this.tasAttempts,
      crashes: this.ids.filter((id) => f.hosts[id].crashed).length,
      halts: this.ids.filter((id) => f.hosts[id].halted).length,
      staleRefused: this.sink.refusedStale,
      duplicateBytes: this.sink.duplicateBytes,
      tracePoints: this.tracePoints,
      cloneTracePoints: this.cloneTracePoints,
      finished: this.ids.some((id) => f.hosts[id].done),
      respawns: this.spawned,
      clonesStarted: f.clones.length,
      clonesCompleted: f.clones.filter((c) => c.outcome === "paired").length,
      clonesFailed: f.clones.filter((c) => c.outcome === "failed").length,
      ...this.counts,
      bufferPausedMs: Math.round(this.counts.bufferPausedMs * 1000) / 1000,
      throttledMs: Math.round(this.counts.throttledMs * 1000) / 1000,
      lagMsMax: Math.round(this.counts.lagMsMax * 1000) / 1000,
      lagMsMaxSettled: Math.round(this.counts.lagMsMaxSettled * 1000) / 1000,
      lagSettledMs: Math.round(this.counts.lagSettledMs * 1000) / 1000,
      disk: this.diskRun,
      diskMode: !this.plan.disk ? "" : !this.plan.disk.local ? "shared" : this.plan.disk.local.backupReads ? "backup-reads" : "non-shared",
      localRequests: this.ids.reduce((n, id) => n + (this.hosts[id].local?.requests ?? 0), 0),
      localErrors: this.ids.reduce((n, id) => n + (this.hosts[id].local?.errors ?? 0), 0),
      localHalts: this.diskCounts.localHalts,
      cloneDiskChunks: this.diskCounts.cloneDiskChunks,
      liveImageChecks: this.diskCounts.liveImageChecks,
      diskRequests: this.diskCounts.requests,
      diskWrites: this.disk?.writes.length ?? 0,
      diskReads: this.disk?.reads ?? 0,
      diskRefused: this.disk?.refused ?? 0,
      diskReissued: this.diskCounts.reissued,
      crashesMidIo: this.diskCounts.crashesMidIo,
      clonesMidIo: this.diskCounts.clonesMidIo,
      diskResets: this.diskCounts.resets,
      diskJoined: this.disk?.joined ?? 0,
      arbiterRestarts: this.arbiterCounts.restarts,
      amnesias: this.arbiterCounts.amnesias,
      strangers: this.arbiterCounts.strangers,
      foreignRefused: this.arbiterCounts.foreignRefused,
      wrongClusterHalts: this.arbiterCounts.wrongClusterHalts,
    };
  }

  // ---- calling the node (./host-shell.ts's call) -----------------------------------------

  protected bug(h: Host, what: string, e: unknown): void {
    const err = e as Error;
    const where = (err?.stack ?? "")
      .split("\n")
      .slice(1, 3)
      .map((s) => s.trim().replace(/\(?[^ (]*\/(src\/[^)]*)\)?/, "$1"))
      .join(" < ");
    this.facts.violations.push({ t: this.now, check: "exception", text: `host ${h.id} threw in ${what}: ${err?.message ?? String(e)} (${where})` });
    this.log(`${h.id} EXCEPTION in ${what}: ${err?.message}`);
    this.crash(h, `exception in ${what}`);
  }

  /** Notes role changes (trace, crash triggers); true when the host crashed on it. */
  protected roleChanged(h: Host): boolean {
    const role = h.node.role;
    if (role === h.lastRole) return false;
    this.log(`${h.id} role ${h.lastRole} -> ${role} (epoch ${h.node.epoch})`);
    this.opts.observe?.(this.now, { kind: "role", host: h.id, role, epoch: h.node.epoch, icount: h.node.machine.icount });
    if (h.lastRole === "joining" && role === "backup") this.restored(h);
    h.lastRole = role;
    for (let i = 0; i < h.triggers.length; i++) {
      const c = h.triggers[i];
      if (c.kind !== "role" || c.role !== role) continue;
      h.triggers.splice(i--, 1);
      if (c.delayMs === 0) {
        this.crash(h, `crash on entering ${role}`);
        return true;
      }
      this.at(this.now + c.delayMs, `crash ${h.id}`, () => this.crash(h, `crash ${c.delayMs.toFixed(3)} ms after entering ${role}`));
    }
    if (role === "alone") this.maybeRespawn(h);
    return false;
  }

  /** A join trigger of this stage: true when the host crashed on it at once. */
  private joinStage(h: Host, stage: "clone" | "clone-mem" | "restored" | "granted"): boolean {
    const i = h.triggers.findIndex((c) => c.kind === "join" && c.stage === stage);
    if (i < 0) return false;
    const c = h.triggers.splice(i, 1)[0] as Extract<CrashTrigger, { kind: "join" }>;
    if (c.delayMs === 0) {
      this.crash(h, `crash on clone stage ${stage}`);
      return true;
    }
    this.at(this.now + c.delayMs, `crash ${h.id}`, () => this.crash(h, `crash ${c.delayMs.toFixed(3)} ms after clone stage ${stage}`));
    return false;
  }

  // ---- carrying out actions (as FtHost.exec does) --------------------------------------

  /** The simulator's side of the one driver (src/ft/driver.ts) for host h: the seeded network, arbiter and sink, and the facts the checks read. */
  protected io(h: Host): NodeIo {
    return {
      before: (a) => {
        if (!h.up) return false;
        const n = (h.actionCounts.get(a.kind) ?? 0) + 1;
        h.actionCounts.set(a.kind, n);
        const trig = h.triggers.findIndex((c) => c.kind === "action" && c.action === a.kind && c.nth === n);
        if (trig >= 0) {
          h.triggers.splice(trig, 1);
          this.crash(h, `crash before its ${a.kind} action #${n}`);
          return false;
        }
        return true;
      },
      send: (msg) => {
        if (msg.t === "clone") {
          if (this.joinStage(h, "clone")) return false;
          this.cloneSent(h, msg);
        }
        if (msg.t === "clone-mem" && this.joinStage(h, "clone-mem")) return false;
        if (msg.t === "clone-disk") {
          h.cloneChunksSent++;
          this.diskCounts.cloneDiskChunks++;
          if (this.cloneDiskTrigger(h, "chunk")) return false;
        }
        if (msg.t === "restored") {
          h.facts.received = { icount: msg.icount, lsn: msg.lsn };
          // Replay has not started: the own image holds exactly the clone's chunks.
          if (h.local) h.facts.clonedImage = { t: this.now, image: h.local.image.slice() };
        }
        this.sendPeer(h, msg);
      },
      cut: (reason) => {
        this.log(`${h.id} cut: ${reason}`);
        this.noteFront(h, h.chan);
        this.closePeer(h, "terminated");
        this.call(h, "onPeerClosed", () => h.node.onPeerClosed("terminated", this.now));
      },
      tas: (req) => {
        this.log(`${h.id} asks the arbiter for epoch ${req.epoch}`);
        h.tas = { req, attempt: 0 };
        this.sendTas(h);
      },
      output: (a) => this.output(h, a.epoch, a.offset, a.bytes),
      // The simulator has no network path yet: released network output goes nowhere.
      netOut: () => undefined,
      news: (text, data) => {
        this.log(`${h.id} news: ${text}`);
        this.opts.observe?.(this.now, { kind: "news", host: h.id, text, data });
        if (data.event === "live") this.wentLive(h, data.icount as number);
        if (data.event === "clone-disk" && this.cloneDiskTrigger(h, "streamed")) return false;
        if (data.event === "paired" || data.event === "clone-failed") {
          const c = this.openClone((c) => c.from === h.id);
          if (c) c.outcome = data.event === "paired" ? "paired" : "failed";
        }
        if (data.event === "paired-backup") {
          const c = this.openClone((c) => c.to === h.id);
          if (c) c.outcome = "paired";
        }
      },
      done: (data) => {
        this.log(`${h.id} done: ${JSON.stringify(data)}`);
        h.facts.done = { t: this.now, drained: h.node.bus.console.drainedBytes, delivered: data.delivered as number };
        if (h.local) h.facts.diskImageAtDone = h.local.image.slice();
        this.stop(h, "guest finished");
      },
      halt: (reason, code, cause) => {
        this.log(`${h.id} halt (${code}): ${reason}`);
        h.facts.halted = { t: this.now, reason, code };
        // A backup whose own disk failed for good must halt (planned: not a violation).
        if (h.local?.broken && cause === "disk-failed") {
          h.facts.diskBroken = true;
          this.diskCounts.localHalts++;
        } else if (cause === "diverged" || cause === "disk-failed") this.facts.violations.push({ t: this.now, check: "replay-trace", text: `host ${h.id} halted: ${reason}` });
        this.stop(h, "halted");
      },
      crash: (icount) => this.crash(h, `crash at icount ${icount} (crashAtIcount)`),
      reconnect: (lsn) => this.reconnect(h, lsn),
    };
  }

  private wentLive(h: Host, icount: number): void {
    const m = h.node.machine;
    h.live = true;
    const digest = `${regsDigest(m)}/${memDigest(m)}`;
    h.facts.goLive = { t: this.now, icount, digest, drained: h.node.bus.console.drainedBytes, epoch: h.node.epoch };
    if (h.local) {
      // What the new primary's guest has seen of its disk, and its image now (re-issued requests have not landed yet).
      const dev = h.node.bus.disk;
      h.facts.diskImageAtLive = { image: h.local.image.slice(), nextSeq: (dev as unknown as { nextSeq: number }).nextSeq, issued: dev.inFlight().map((r) => r.seq), waiting: dev.waiting().map((r) => r.seq) };
      this.diskCounts.liveImageChecks++;
    }
  }

  // ---- the run loop (as FtHost.loop does) --------------------------------------------

  /** A slice ran: disk crash triggers, the live state's digest or the replay's comparison, and the primary watched. */
  protected override sliceRan(h: Host, s: Slice): string | false {
    const { roleBefore, executed, result: r } = s;
    if (this.diskRun && LIVE_ROLES.has(roleBefore)) {
      this.diskStartTrigger(h);
      if (!h.up) return false;
      if (h.node.inspect().ownDiskHeld > 0) this.cloneDiskTrigger(h, "held");
      if (!h.up) return false;
    }
    if (h.live && LIVE_ROLES.has(roleBefore)) h.recordDigest();
    else if (executed > 0 && (roleBefore === "backup" || roleBefore === "draining")) this.compareTrace(h);
    return LIVE_ROLES.has(roleBefore) ? this.watchPrimary(h, roleBefore, executed, r) : "";
  }

  /** Disk requests made inside the slice leave when it ends. */
  protected override sliceEnds(h: Host): void {
    this.flushDisk(h);
  }

  /**
   * A live host's slice seen from outside: a throttle sleep that began (the node's
   * throttledUntilMs moved), a pause on a full log buffer (nothing executed, the buffer at
   * its bound, not asleep), and the backup's true lag. Returns a note for the trace.
   */
  private watchPrimary(h: Host, role: string, executed: number, r: RunResult): string {
    const node = h.node;
    const c = this.counts;
    let note = "";
    const until = node.inspect().throttledUntilMs;
    if (until > this.now && until !== h.throttledUntil) {
      h.throttledUntil = until;
      c.throttleSleeps++;
      c.throttledMs += until - this.now;
      h.firstThrottleMs ??= this.now;
      note = `; throttled: sleeps ${(until - this.now).toFixed(3)} ms (level ${node.inspect().throttleLevel.toFixed(2)})`;
    }
    const paused = executed === 0 && r.idle && node.plog?.full() === true && !(until > this.now);
    if (paused && h.pausedSince === undefined) {
      h.pausedSince = this.now;
      c.bufferPauses++;
      note += `; paused: log buffer full (${node.plog!.bufferBytesMax} bytes)`;
    } else if (!paused && h.pausedSince !== undefined) {
      c.bufferPausedMs += this.now - h.pausedSince;
      note += `; resumes after a ${(this.now - h.pausedSince).toFixed(3)} ms pause`;
      h.pausedSince = undefined;
    }
    // The backup's true lag: the time it needs at its speed to execute what it trails by.
    const b = h.chan?.other(h);
    if (role === "primary" && b && h.peerOpen && b.peerOpen && b.chan === h.chan && b.up && b.started && b.source === h && b.node.role === "backup") {
      const lag = (Math.max(0, node.machine.icount - b.node.machine.icount) * this.plan.hosts[b.id].usPerInstr) / 1000;
      if (lag > c.lagMsMax) c.lagMsMax = lag;
      if (h.firstThrottleMs !== undefined && h.lagSettledMs === undefined && lag <= (this.plan.lagThresholdMs ?? LAG_THRESHOLD_MS_DEFAULT)) {
        h.lagSettledMs = this.now;
        if (c.lagSettledMs === 0) c.lagSettledMs = this.now;
      }
      if (h.lagSettledMs !== undefined && lag > c.lagMsMaxSettled) c.lagMsMaxSettled = lag;
    }
    return note;
  }

  /**
   * The backup's trace against the primary's: a replay slice that executed instructions
   * stops before the event at its icount (or right after a synchronous input), which is
   * exactly the state the primary had at the end of a slice at that icount, if it ended
   * one there. The primary flushes (and so the backup stops) at most slice ends, so
   * nearly every slice boundary of the primary gets compared.
   */
  private compareTrace(h: Host): void {
    const m = h.node.machine;
    const src = h.source;
    if (!src) return;
    const seen = src.facts.liveDigests.get(m.icount);
    if (!seen || this.traceDiverged) return;
    // Non-shared: a replay that waits for its own disk may stop between two events at one
    // icount (the first delivered, the second's local request not finished): a state the
    // primary never stopped in at a slice end.
    if (h.node.inspect().ownDiskReplayBlocked) return;
    this.tracePoints++;
    if (h.facts.cloned) this.cloneTracePoints++;
    const d = `${regsDigest(m)}/${memDigest(m)}`;
    if (seen.has(d)) return;
    this.traceDiverged = true;
    this.facts.violations.push({
      t: this.now,
      check: "replay-trace",
      text: `host ${h.id}, replaying, reached icount ${m.icount} in state ${d}, but host ${src.id} was in state ${[...seen].join(" or ")} there`,
    });
  }

  protected override tickDone(h: Host): void {
    h.holdFront = false;
  }

  protected override ticked(h: Host): void {
    h.holdFront = true;
    this.opts.observe?.(this.now, { kind: "tick", host: h.id, role: h.node.role, epoch: h.node.epoch, icount: h.node.machine.icount });
  }

  protected exited(h: Host, why: string): void {
    h.facts.exited = this.now;
    this.closePeer(h, why);
    h.sinkUp = false;
  }

  private crash(h: Host, why: string): void {
    if (!h.up) return;
    h.up = false;
    h.sinkUp = false;
    h.facts.crashed = { t: this.now, why };
    this.log(`${h.id} CRASH: ${why}`);
    this.opts.observe?.(this.now, { kind: "crash", host: h.id, why });
    if (this.diskRun && h.started) {
      const inside = h.node.inspect();
      const held = inside.diskGateHeld || inside.ownDiskHeld;
      const pending = h.diskPending.size + (h.local?.inFlight ?? 0);
      if (pending > 0 || held > 0) {
        this.diskCounts.crashesMidIo++;
        this.log(`${h.id} crashed with ${pending} disk requests unanswered and ${held} writes held`);
      }
    }
    const ch = h.chan;
    if (ch && ch.open.has(h)) {
      ch.open.delete(h);
      // The kernel closes the dead process's sockets: the peer sees a close, a little later.
      if (this.plan.hosts[h.id].closeOnCrash) this.notifyClose(h, ch, `${h.id} crashed`, this.now + this.rng.range(0.1, 2));
    }
  }

  // ---- the log channel ------------------------------------------------------------------

  private sendPeer(h: Host, msg: Msg): void {
    const ch = h.chan;
    if (!ch || !ch.open.has(h) || ch.dead) return;
    const to = ch.other(h);
    const link = this.net.link(h.id, to.id);
    const wire = this.net.encode(msg);
    const times = link.arrivals(this.now);
    if (msg.t !== "hb") this.log(`${h.id} -> ${to.id} ${describeMsg(msg)}${times.length === 0 ? " (lost)" : times.length > 1 ? " (duplicated)" : ""}`);
    if (ch.front?.host === h) ch.front.f.onOutgoing(msg, ch.front.taken);
    for (const t of times)
      this.at(t, `deliver ${h.id}>${to.id}`, () => {
        const front = this.frontArrival(to, ch, wire);
        this.input(to, `deliver ${h.id}>${to.id}`, () => this.deliverPeer(to, ch, wire, front));
      });
  }

  private deliverPeer(r: Host, ch: Chan, wire: Uint8Array, fv?: FrontVerdict): void {
    // Taken by the node from here (whatever it makes of it), as FtHost counts it.
    if (fv && ch.front) ch.front.taken = fv.seq;
    const front = fv?.front;
    // A message the I/O thread had received before the connection died is in the process:
    // it reaches the node all the same (the host's thread takes it from the port).
    if (ch.dead && !fv) return;
    if (r.resuming?.ch === ch) return this.resumeAnswer(r, ch, this.net.decode<Msg>(wire));
    if (r.chan !== ch || !ch.open.has(r)) return;
    // The wire carries maps; the one parser makes them protocol messages (as ft-host does).
    let msg: Msg;
    try {
      msg = parsePeerMsg(this.net.decode<{ t: string }>(wire));
      if (front && msg.t === "log") msg.front = front;
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.log(`${r.id} refuses the peer: ${e.message}`);
      this.closePeer(r, `refused: ${e.message}`);
      if (!r.started) return this.crash(r, `refused the primary's first message: ${e.message}`);
      this.noteFront(r, ch);
      this.call(r, "onPeerClosed", () => r.node.onPeerClosed(`refused: ${e.message}`, this.now));
      return;
    }
    if (this.opts.mutation === "corrupt-log" && r.id === "B" && msg.t === "log" && !this.corrupted && this.now > this.plan.expectedMs * 0.2) this.corrupt(msg);
    if (this.opts.mutation === "corrupt-clone" && msg.t === "clone" && !this.corrupted) {
      const regs = (msg.machine as { regs: number[] }).regs;
      regs[7] = (regs[7] ^ 1) >>> 0;
      this.corrupted = true;
      this.log(`MUTATION corrupt-clone: changed r7 in the snapshot for ${r.id}`);
    }
    if (msg.t !== "hb") this.log(`${r.id} <- ${describeMsg(msg)}`);
    if (msg.t === "restored" && r.started && this.joinStage(r, "restored")) return;
    try {
      if (!r.started) {
        // The backup's first message must be the start (FtHost.runBackup).
        this.call(r, "startBackup", () => r.node.startBackup(msg, this.now), true);
        if (!r.up) return;
        r.started = r.facts.started = true;
        r.hookConsole();
        this.startTicks(r);
        return;
      }
      let acked = false;
      this.call(r, "onPeerMessage", () => {
        const actions = r.node.onPeerMessage(msg, this.now);
        acked = msg.t === "log" && (msg.front?.acked === true || actions.some((a) => a.kind === "send" && a.msg.t === "ack"));
        return actions;
      }, true);
      if (acked && msg.t === "log") {
        const ev = msg.events as unknown[][];
        const last = ev[ev.length - 1];
        if (last && (last[1] as number) > r.facts.received.icount) r.facts.received = { icount: last[1] as number, lsn: last[0] as number };
      }
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      // The shell refuses the peer: the channel closes (the peer sees it) and so does ours.
      this.log(`${r.id} refuses the peer: ${e.message}`);
      this.closePeer(r, `refused: ${e.message}`);
      if (!r.started) {
        // The backup never started: FtHost.runBackup throws and the process dies.
        this.crash(r, `refused the primary's first message: ${e.message}`);
        return;
      }
      this.noteFront(r, ch);
      this.call(r, "onPeerClosed", () => r.node.onPeerClosed(`refused: ${e.message}`, this.now));
    }
  }

  /** The corrupt-log mutation: one RAND value changes on the wire. */
  private corrupt(msg: Msg): void {
    if (msg.t !== "log") return;
    for (const e of msg.events as unknown[][]) {
      if (e[2] === EV.RAND) {
        e[3] = ((e[3] as number) ^ 0x10000) >>> 0;
        this.corrupted = true;
        this.log(`MUTATION corrupt-log: changed the RAND at lsn ${e[0]} (icount ${e[1]})`);
        return;
      }
    }
  }

  /** Closes this side of the log channel; the peer sees the close when (if) it gets through. */
  private closePeer(h: Host, reason: string): void {
    const ch = h.chan;
    if (!ch || !ch.open.has(h)) return;
    ch.open.delete(h);
    this.notifyClose(h, ch, reason, this.now);
  }

  /** `refused`: the close carries CLOSE_REFUSED (the peer's shell refused this connection). */
  private notifyClose(h: Host, ch: Chan, reason: string, at: number, refused = false): void {
    const to = ch.other(h);
    for (const t of this.net.link(h.id, to.id).arrivals(at, true)) {
      this.at(t, `close ${h.id}>${to.id}`, () => this.input(to, `close ${h.id}>${to.id}`, () => this.seeClose(to, ch, reason, refused)));
    }
  }

  /** A close of connection `ch` reaches host `to`. */
  private seeClose(to: Host, ch: Chan, reason: string, refused = false): void {
    ch.closeSeen.add(to);
    if (to.resuming?.ch === ch) {
      // The answer to a reconnect: a refusal by the live primary, or the connection ended.
      to.resuming = undefined;
      ch.open.delete(to);
      if (refused) {
        this.counts.resumesRefused++;
        this.log(`${to.id} reconnect refused (${reason})`);
        this.call(to, "onResumeRefused", () => to.node.onResumeRefused(reason, this.now));
      } else this.reconnectFailed(to, reason);
      return;
    }
    if (to.chan !== ch || !ch.open.has(to)) return;
    ch.open.delete(to);
    this.log(`${to.id} sees the log channel close (${reason})`);
    if (!to.started) {
      if (to.source && to.id !== "B") this.exitUnstarted(to, `the primary closed the log channel before the clone: ${reason}`);
      else this.crash(to, `the primary closed the log channel before starting: ${reason}`);
    } else {
      this.noteFront(to, ch);
      this.call(to, "onPeerClosed", () => to.node.onPeerClosed(reason, this.now));
    }
  }

  /** The channel is over for h: what its log front acknowledged is final (FtHost does the same at a close or cut). */
  private noteFront(h: Host, ch: Chan | undefined): void {
    if (ch?.front?.host === h) h.node.noteFrontAcked(ch.front.ackedMax);
  }

  /**
   * A message reaches host r's I/O thread: the log front sees it now, whatever the host's
   * thread is doing, and may acknowledge it at once (io-worker.ts). What it made of the
   * message goes to the node with it.
   */
  private frontArrival(r: Host, ch: Chan, wire: Uint8Array): FrontVerdict | undefined {
    const fr = ch.front;
    if (!fr || fr.host !== r || ch.dead || !r.up || !ch.open.has(r)) return undefined;
    const m = this.net.decode<{ t: string; [k: string]: unknown }>(wire);
    const n = r.node;
    let v = fr.f.onIncoming(m, {
      icount: n.machine?.icount ?? 0,
      queuedEvents: n.replay?.source.length ?? 0,
      queueEventsMax: n.replay?.source.capacityEvents ?? QUEUE_EVENTS_MAX_DEFAULT,
      ackAllowed: !r.holdFront && r.chan === ch,
    });
    if (this.opts.mutation === "front-unchecked" && m.t === "log" && Array.isArray(m.events) && m.events.length > 0) {
      // A front that does not mirror the node: it acknowledges every batch through its last event.
      const lsn = (m.events[m.events.length - 1] as number[])[0];
      v = { seq: v.seq, ack: { t: "ack", lsn, icount: v.ack?.icount ?? n.machine?.icount ?? 0 }, front: { lsn, acked: true } };
    }
    if (v.ack) {
      // The log is in the backup's process from now on: what the output rule's check counts.
      const ev = (m.events as unknown[][]).filter((e) => (e[0] as number) <= v.ack!.lsn);
      const last = ev[ev.length - 1];
      if (last && (last[1] as number) > r.facts.received.icount) r.facts.received = { icount: last[1] as number, lsn: last[0] as number };
      this.log(`${r.id} front acks lsn ${v.ack.lsn}`);
      // What was sent (as the I/O thread records it): the take-over rule rests on this figure.
      fr.ackedMax = Math.max(fr.ackedMax, v.ack.lsn);
      this.sendPeer(r, v.ack);
    }
    return v;
  }

  // ---- connection drops and catch-up (FtHost.reconnect / listenForPeers' resume) -----------

  /** A planned drop: every log connection open at both ends closes; both sides see it a little later (the hosts live on). */
  private drop(): void {
    const open = this.chanList.filter((c) => !c.dead && c.open.size === 2);
    if (open.length === 0) {
      this.log("drop: no log connection is open");
      return;
    }
    for (const ch of open) {
      ch.dead = true;
      this.counts.drops++;
      this.log(`the log connection ${ch.a.id}-${ch.b.id} drops`);
      this.opts.observe?.(this.now, { kind: "drop" });
      for (const side of [ch.a, ch.b]) {
        const at = this.now + this.rng.range(0.1, 2);
        this.at(at, `drop ${side.id}`, () => this.input(side, `drop ${side.id}`, () => this.seeClose(side, ch, "connection dropped")));
      }
    }
  }

  /**
   * The backup's shell reconnects to its primary over a new connection and sends hello
   * {resume: lsn}. The primary's process answers (if it is up and the hello gets through);
   * a process that is gone on a live machine refuses the connection (the kernel answers);
   * a machine that died, or a partition, gives no answer until the failure detector gives up.
   */
  private reconnect(h: Host, lsn: number): void {
    const src = h.chan?.other(h) ?? h.source;
    if (!src) return this.reconnectFailed(h, "no primary to reconnect to");
    this.counts.reconnects++;
    const ch = this.newChan(h, src);
    ch.front = { host: h, f: new LogFront(), taken: 0, ackedMax: 0 };
    ch.open.add(h);
    const att = { ch, lsn };
    h.resuming = att;
    this.log(`${h.id} reconnects to ${src.id} (resume from lsn ${lsn})`);
    for (const t of this.net.link(h.id, src.id).arrivals(this.now, true).slice(0, 1))
      this.at(t, `resume ${h.id}>${src.id}`, () => this.resumeHello(src, h, ch, lsn));
    // FtHost.reconnect: it waits for the answer until the node's failure detector gives up
    // on the primary (looked at every heartbeat interval), then terminates the connection.
    const giveUp = () =>
      this.input(h, `resume give-up check ${h.id}`, () => {
        if (h.resuming !== att) return;
        if (h.node.peerFailed === undefined) return void this.at(this.now + this.plan.heartbeatMs, `resume give-up check ${h.id}`, giveUp);
        h.resuming = undefined;
        ch.open.delete(h);
        this.notifyClose(h, ch, "terminated", this.now);
        this.reconnectFailed(h, "the failure detector gave up on the primary first");
      });
    this.at(this.now + this.plan.heartbeatMs, `resume give-up check ${h.id}`, giveUp);
  }

  private reconnectFailed(h: Host, reason: string): void {
    this.counts.reconnectsFailed++;
    this.log(`${h.id} reconnect failed (${reason})`);
    this.call(h, "onReconnectFailed", () => h.node.onReconnectFailed(reason, this.now));
  }

  /** The resume hello reaches the primary's machine. */
  private resumeHello(src: Host, h: Host, ch: Chan, lsn: number): void {
    if (!src.up) {
      // A crashed process on a live machine: the kernel refuses the connection; a dead machine says nothing.
      if (src.facts.crashed && !this.plan.hosts[src.id].closeOnCrash) return;
      for (const t of this.net.link(src.id, h.id).arrivals(this.now, true).slice(0, 1))
        this.at(t, `refused ${src.id}>${h.id}`, () =>
          this.input(h, `refused ${src.id}>${h.id}`, () => {
            if (h.resuming?.ch !== ch) return;
            h.resuming = undefined;
            ch.open.delete(h);
            this.reconnectFailed(h, `connect ECONNREFUSED (${src.id} is gone)`);
          }),
        );
      return;
    }
    this.input(src, `resume hello ${h.id}>${src.id}`, () => {
      if (ch.closeSeen.has(src)) return; // the backup gave up and its close came first
      const v = this.hearHello(src, h.id, RUN_CLUSTER, lsn, "acceptResume");
      if (!v) return;
      if (v.kind !== "resume") {
        const reason = notAccepted(v);
        this.log(`${src.id} refuses ${h.id}'s resume: ${reason}`);
        this.notifyClose(src, ch, reason, this.now, true);
        return;
      }
      this.log(`${src.id} accepts ${h.id}'s resume from lsn ${lsn}`);
      if (src.peerOpen) this.closePeer(src, "replaced by the reconnected backup");
      src.chan = ch;
      ch.open.add(src);
      if (this.roleChanged(src)) return;
      this.exec(src, v.actions);
    });
  }

  /** The first message on a reconnect's connection: "resumed" attaches it; anything else fails the reconnect. */
  private resumeAnswer(h: Host, ch: Chan, msg: Msg): void {
    h.resuming = undefined;
    // FtHost.reconnect: an answer that comes after the detector gave up is not used.
    const problem = h.node.peerFailed !== undefined ? "the failure detector gave up on the primary first" : resumeAnswerProblem(msg);
    if (problem !== undefined) {
      ch.open.delete(h);
      this.notifyClose(h, ch, "terminated", this.now);
      this.reconnectFailed(h, problem);
      return;
    }
    this.counts.resumes++;
    this.log(`${h.id} resumed with ${ch.other(h).id}`);
    h.chan = ch;
    this.call(h, "onResumed", () => h.node.onResumed(this.now));
  }

  // ---- respawned backups (FtHost.runBackup against a primary running alone) --------------

  /** A host runs alone: the next planned backup starts a little later, if any is left. */
  private maybeRespawn(src: Host): void {
    if (src.id === STRANGER_ID) return; // nobody joins a stranger: it is no part of the run
    if (this.spawnPending || this.spawned >= this.plan.spawns.length || src.stopping || !src.up) return;
    const sp = this.plan.spawns[this.spawned];
    this.spawnPending = true;
    this.at(this.now + sp.delayMs, `spawn ${sp.id}`, () => {
      this.spawnPending = false;
      if (!src.up || src.stopping || src.node.role !== "alone") {
        this.log(`${sp.id} not started: ${src.id} is ${src.up ? src.node.role : "down"}`);
        return;
      }
      this.spawn(sp, src);
    });
  }

  private spawn(sp: SpawnPlan, src: Host): void {
    this.spawned++;
    const t0 = this.now;
    const shift = (w: { from: number; to: number }) => ({ from: t0 + w.from, to: t0 + w.to });
    for (const [m, name] of [
      [sp.toPrimary, `${sp.id}>${src.id}`],
      [sp.fromPrimary, `${src.id}>${sp.id}`],
    ] as const)
      this.net.add({ ...m, name, partitions: m.partitions.map(shift) });
    for (const m of sp.links) this.net.add({ ...m, partitions: m.partitions.map(shift) });
    const h = this.addHost(sp.id);
    h.source = src;
    h.facts.source = src.id;
    const hp = this.plan.hosts[sp.id];
    for (const c of h.triggers) if (c.kind === "time") this.at(t0 + c.atMs, `crash ${h.id}`, () => this.crash(h, `crash planned at ${c.atMs.toFixed(3)} ms after its start`));
    for (const t of hp.sinkResets) this.at(t0 + t, `sink reset ${h.id}`, () => this.sinkReset(h));
    const lastFault = Math.max(
      t0,
      ...[sp.toPrimary, sp.fromPrimary, ...sp.links].flatMap((l) => l.partitions.map((w) => t0 + w.to)),
      ...hp.sinkResets.map((t) => t0 + t),
      ...h.triggers.map((c) => (c.kind === "time" ? t0 + c.atMs : t0)),
    );
    this.capMs = Math.max(this.capMs, Math.ceil(lastFault) + this.plan.capSlackMs);
    const ch = this.newChan(h, src);
    ch.front = { host: h, f: new LogFront(), taken: 0, ackedMax: 0 };
    h.chan = ch;
    ch.open.add(h);
    this.log(`${h.id} starts: joins ${src.id}`);
    this.sendHello(h, src, ch, 1);
  }

  /** Connects (reliably, like TCP's handshake; a partition that drops means retry every 50 ms, as runBackup does). */
  private sendHello(h: Host, src: Host, ch: Chan, attempt: number): void {
    if (!h.up || !ch.open.has(h)) return;
    const times = this.net.link(h.id, src.id).arrivals(this.now, true);
    if (times.length === 0) {
      if (attempt >= PRIMARY_CONNECT_ATTEMPTS_MAX) return this.exitUnstarted(h, `could not connect to ${src.id}`);
      this.at(this.now + PRIMARY_CONNECT_RETRY_MS, `hello ${h.id}`, () => this.sendHello(h, src, ch, attempt + 1));
      return;
    }
    this.at(times[0], `hello ${h.id}>${src.id}`, () => this.input(src, `hello ${h.id}>${src.id}`, () => this.hello(src, h, ch)));
  }

  /** FtHost.listenForPeers: the primary's shell asks its node to accept the join; on yes, the channel is this host's log channel. */
  private hello(src: Host, h: Host, ch: Chan): void {
    if (!ch.open.has(h)) return; // the joiner is gone already (its connection closed)
    const v = this.hearHello(src, h.id, RUN_CLUSTER, undefined, "acceptJoin");
    if (!v) return;
    if (v.kind !== "join") {
      const reason = notAccepted(v);
      this.log(`${src.id} refuses ${h.id}: ${reason}`);
      this.notifyClose(src, ch, reason, this.now);
      return;
    }
    this.log(`${src.id} accepts ${h.id}: cloning`);
    if (src.peerOpen) this.closePeer(src, "replaced by a joining backup");
    src.chan = ch;
    ch.open.add(src);
  }

  /** A respawned backup that never got a clone: its process exits (nothing to serve). */
  private exitUnstarted(h: Host, why: string): void {
    if (!h.up) return;
    this.log(`${h.id} exits: ${why}`);
    h.facts.exited = this.now;
    h.facts.refused = why;
    const ch = h.chan;
    if (ch) ch.open.delete(h);
    h.up = false;
    h.sinkUp = false;
  }

  /** The primary sent a clone's header: the state at S (nothing has run since the slice that sent it). */
  private cloneSent(h: Host, msg: CloneMsg): void {
    const to = h.chan?.other(h);
    const m = h.node.machine;
    h.cloneChunksSent = 0;
    if (this.diskRun && (h.diskPending.size > 0 || h.diskOutbox.length > 0 || (h.local?.inFlight ?? 0) > 0 || h.node.bus.disk.inFlight().length > 0)) this.diskCounts.clonesMidIo++;
    this.facts.clones.push({
      t: this.now,
      from: h.id,
      to: to?.id ?? "?",
      icount: m.icount,
      digest: `${regsDigest(m)}/${memDigest(m)}`,
      drained: h.node.bus.console.drainedBytes,
      lsn: msg.lsn as number,
      ...(h.local
        ? {
            image: h.local.image.slice(),
            inFlightWrites: h.node.bus.disk
              .inFlight()
              .filter((r) => r.op === DISK_WRITE)
              .map((r) => ({ seq: r.seq, block: r.block, data: r.data! })),
          }
        : {}),
    });
  }

  /** A joining backup restored its clone: its state now must be the primary's at S. */
  private restored(h: Host): void {
    const m = h.node.machine;
    h.facts.cloned = { t: this.now, from: h.source?.id ?? "?", icount: m.icount, digest: `${regsDigest(m)}/${memDigest(m)}`, base: h.node.bus.console.drainedBytes };
  }

  private openClone(pred: (c: Facts["clones"][number]) => boolean): Facts["clones"][number] | undefined {
    for (let i = this.facts.clones.length - 1; i >= 0; i--) {
      const c = this.facts.clones[i];
      if (pred(c)) return c.outcome ? undefined : c;
    }
    return undefined;
  }

  /** Why an unfinished clone failed (a side crashed, halted or exited without finishing), or undefined (the guest finished first). */
  private cloneFailedWhy(c: Facts["clones"][number]): string | undefined {
    for (const id of [c.from, c.to]) {
      const f = this.facts.hosts[id];
      if (!f) continue;
      if (f.crashed) return `${id} crashed`;
      if (f.halted) return `${id} halted`;
      if (f.exited !== undefined && !f.done) return `${id} exited`;
    }
    return undefined;
  }

  // ---- the shared disk (FtHost.connectDisk + DiskClient, against ./disk.ts's server) ------

  /** Non-shared disks: the host's own image (P's and B's start empty, a respawned host's holds garbage until its clone's image lands). */
  localDisk(h: Host): SimLocalDisk {
    const d = this.plan.disk!;
    const l = d.local!;
    return new SimLocalDisk(
      h.id,
      diskGeometry(d.guest),
      l,
      l.errors[h.id] ?? [],
      l.cloneReadErrors[h.id] ?? [],
      this.worldRng.fork(`local disk ${h.id}`),
      {
        now: () => h.clockMs(),
        replaying: () => !LIVE_ROLES.has(h.node.role),
        at: (t, label, fire) => this.at(Math.max(t, this.now), label, () => h.up && fire()),
        deliver: (label, fn) => this.input(h, label, () => this.localDone(h, fn)),
        log: (text) => this.log(text),
        submitted: (req) => this.localSubmitted(h, req),
      },
      HOSTS.includes(h.id) ? undefined : this.worldRng.fork(`garbage ${h.id}`),
    );
  }

  /** A live host submitted a request to its own disk: the "release" crash trigger counts its writes. */
  private localSubmitted(h: Host, req: DiskRequest): void {
    if (req.op !== DISK_WRITE || req.slot < 0 || h.node.role !== "primary") return;
    h.localWrites++;
    const i = h.triggers.findIndex((c) => c.kind === "disk" && c.stage === "release" && c.nth <= h.localWrites);
    if (i < 0) return;
    const c = h.triggers.splice(i, 1)[0] as Extract<CrashTrigger, { kind: "disk" }>;
    if (h.inStep) h.crashAfterFlush = c.delayMs;
    else this.crashAt(h, this.now + c.delayMs, `crash ${c.delayMs.toFixed(3)} ms after submitting its disk write #${h.localWrites}`);
  }

  /** The own disk's completion reaches the node (its process heard of it): the "complete" crash trigger, then the callback. */
  private localDone(h: Host, fn: () => void): void {
    if (h.node.role === "primary") {
      h.localAnswers++;
      const i = h.triggers.findIndex((c) => c.kind === "disk" && c.stage === "complete" && c.nth <= h.localAnswers);
      if (i >= 0) {
        const c = h.triggers.splice(i, 1)[0] as Extract<CrashTrigger, { kind: "disk" }>;
        if (c.delayMs === 0) return this.crash(h, `crash as its disk answer #${h.localAnswers} arrives`);
        this.crashAt(h, this.now + c.delayMs, `crash ${c.delayMs.toFixed(3)} ms after its disk answer #${h.localAnswers}`);
      }
    }
    try {
      fn();
    } catch (e) {
      this.bug(h, "a disk completion", e);
    }
  }

  /** A clone-disk crash trigger of this stage: true when the host crashed on it at once. */
  private cloneDiskTrigger(h: Host, stage: "chunk" | "streamed" | "held"): boolean {
    const i = h.triggers.findIndex((c) => c.kind === "clone-disk" && c.stage === stage && (stage !== "chunk" || c.nth <= h.cloneChunksSent));
    if (i < 0) return false;
    const c = h.triggers.splice(i, 1)[0] as Extract<CrashTrigger, { kind: "clone-disk" }>;
    const why = stage === "chunk" ? `before sending image chunk #${h.cloneChunksSent} of a clone` : stage === "streamed" ? "after streaming its image to a clone" : "while holding writes for a clone";
    if (c.delayMs === 0) {
      this.crash(h, `crash ${why}`);
      return true;
    }
    this.at(this.now + c.delayMs, `crash ${h.id}`, () => this.crash(h, `crash ${c.delayMs.toFixed(3)} ms ${why}`));
    return false;
  }

  /** The host's disk client as the node's back-end: each request goes to the server over the host's disk link. */
  diskBackend(h: Host): DiskBackend {
    return {
      submit: (req: DiskRequest, done: (status: number, data?: Uint8Array) => void, epoch = 0) => {
        const msg: DiskWireReq = { id: ++h.diskIds, host: h.id, gen: h.diskGen, epoch, op: req.op, block: req.block, count: req.count, seq: req.seq };
        if (req.data) msg.data = req.data;
        h.diskPending.set(msg.id, { msg, done });
        // Inside a slice the request leaves when the slice ends (the real client's send is
        // flushed when the run loop yields); a crash before that loses it.
        if (h.inStep) h.diskOutbox.push(msg);
        else this.sendDisk(h, msg);
      },
    };
  }

  /** The host's disk connection resets: answers on their way are lost; the client reconnects a little later and sends every unanswered request again (DiskClient.reconnect). */
  private diskReset(h: Host): void {
    if (!h.up || !h.diskUp) return;
    h.diskGen++;
    h.diskUp = false;
    this.diskCounts.resets++;
    this.log(`${h.id} disk connection resets (${h.diskPending.size} requests unanswered)`);
    // At once (a reset the client notices as it happens) or after some retries (RECONNECT_DELAY_MS apart).
    const delay = this.rng.chance(0.5) ? this.rng.range(0.05, 2) : this.rng.range(2, 300);
    this.at(this.now + delay, `disk reconnect ${h.id}`, () =>
      this.input(h, `disk reconnect ${h.id}`, () => {
        if (h.stopping) return;
        h.diskUp = true;
        this.log(`${h.id} disk reconnected: sending ${h.diskPending.size} unanswered requests again`);
        for (const p of h.diskPending.values()) this.sendDisk(h, p.msg);
      }),
    );
  }

  private flushDisk(h: Host): void {
    const out = h.diskOutbox;
    h.diskOutbox = [];
    for (const m of out) this.sendDisk(h, m);
    if (h.crashAfterFlush !== undefined) {
      const d = h.crashAfterFlush;
      h.crashAfterFlush = undefined;
      this.crashAt(h, this.now + d, `crash ${d.toFixed(3)} ms after sending a planned disk write`);
    }
  }

  private crashAt(h: Host, t: number, why: string): void {
    if (t <= this.now) this.crash(h, why);
    else this.at(t, `crash ${h.id}`, () => this.crash(h, why));
  }

  private sendDisk(h: Host, msg: DiskWireReq): void {
    if (!h.up || !h.diskUp) return; // sent again when the connection is back
    msg.gen = h.diskGen;
    this.diskCounts.requests++;
    const first = this.diskSeqsSent.get(msg.seq);
    if (first === undefined) this.diskSeqsSent.set(msg.seq, h.id);
    else if (first !== h.id) this.diskCounts.reissued++;
    const wire = this.net.encode(msg);
    const times = this.net.link(h.id, "DS").arrivals(this.now);
    this.log(`${h.id} -> disk #${msg.id}: ${msg.op === DISK_WRITE ? "write" : "read"} seq ${msg.seq} block ${msg.block} epoch ${msg.epoch}`);
    // Once sent, a request is on the network: it may reach the disk after its host died.
    for (const t of times) this.at(t, `disk <- ${h.id}`, () => this.disk!.arrive(this.net.decode<DiskWireReq>(wire)));
    if (msg.op === DISK_WRITE) {
      h.diskWritesSent++;
      const i = h.node.role === "primary" ? h.triggers.findIndex((c) => c.kind === "disk" && c.stage === "release" && c.nth <= h.diskWritesSent) : -1;
      if (i >= 0) {
        const c = h.triggers.splice(i, 1)[0] as Extract<CrashTrigger, { kind: "disk" }>;
        if (h.inStep) h.crashAfterFlush = c.delayMs;
        else this.crashAt(h, this.now + c.delayMs, `crash ${c.delayMs.toFixed(3)} ms after sending its disk write #${h.diskWritesSent}`);
      }
    }
  }

  /** The server answers a host; the host's client hands a completion to the node, or reports a refused write (renewing it in a newer epoch this host holds, as DiskClient does). */
  private diskAnswer(host: string, gen: number, a: DiskWireAns): void {
    const h = this.hosts[host];
    const wire = this.net.encode(a);
    for (const t of this.net.link("DS", host).arrivals(this.now))
      this.at(t, `disk -> ${host}`, () =>
        this.input(h, `disk -> ${host}`, () => {
          if (gen !== h.diskGen) return; // its connection reset: the answer is lost
          const m = this.net.decode<DiskWireAns>(wire);
          const p = h.diskPending.get(m.id);
          if (!p) return;
          if (m.t === "refused") {
            const now = h.node.epoch;
            if (now >= m.epoch && now > p.msg.epoch) {
              this.log(`${h.id} disk write #${m.id} refused (${m.reason}); sending it again in epoch ${now}`);
              p.msg.epoch = now;
              this.sendDisk(h, p.msg);
              return;
            }
            h.diskPending.delete(m.id);
            this.log(`${h.id} disk refused write #${m.id}: ${m.reason}`);
            this.call(h, "onDiskFenced", () => h.node.onDiskFenced(m.reason));
            return;
          }
          h.diskAnswers++;
          const i = h.node.role === "primary" ? h.triggers.findIndex((c) => c.kind === "disk" && c.stage === "complete" && c.nth <= h.diskAnswers) : -1;
          if (i >= 0) {
            const c = h.triggers.splice(i, 1)[0] as Extract<CrashTrigger, { kind: "disk" }>;
            if (c.delayMs === 0) return this.crash(h, `crash as its disk answer #${h.diskAnswers} arrives`);
            this.crashAt(h, this.now + c.delayMs, `crash ${c.delayMs.toFixed(3)} ms after its disk answer #${h.diskAnswers}`);
          }
          h.diskPending.delete(m.id);
          this.log(`${h.id} <- disk #${m.id} done (status ${m.status})`);
          p.done(m.status, m.data);
        }),
      );
  }

  /**
   * A primary (with a backup: disk triggers wait for one, so that a crash mid-I/O hands the
   * requests in flight to a successor) whose guest started the planned request (seq nth) in
   * this slice, or earlier: it crashes (delay 0: inside the slice).
   */
  private diskStartTrigger(h: Host): void {
    if (h.node.role !== "primary") return;
    const started = (h.node.bus.disk as unknown as { nextSeq: number }).nextSeq - 1;
    const i = h.triggers.findIndex((c) => c.kind === "disk" && c.stage === "start" && c.nth <= started);
    if (i < 0) return;
    const c = h.triggers.splice(i, 1)[0] as Extract<CrashTrigger, { kind: "disk" }>;
    this.crashAt(h, this.now + c.delayMs, `crash ${c.delayMs.toFixed(3)} ms into the slice that reached disk request ${c.nth}`);
  }

  // ---- the arbiter (ArbiterClient.testAndSetPatiently over a lossy link) -----------------

  private sendTas(h: Host): void {
    const tas = h.tas;
    if (!tas || !h.up) return;
    const attempt = ++this.tasAttempts;
    tas.attempt = attempt;
    const req = tas.req;
    const wire = this.net.encode({ t: "tas", id: attempt, ...req, cluster: h.cluster });
    for (const t of this.net.link(h.id, "A").arrivals(this.now)) this.at(t, `arbiter <- ${h.id}`, () => this.arbiterReceives(h, wire));
    this.at(this.now + this.plan.tasTimeoutMs, `tas timeout ${h.id}`, () => {
      if (!h.up || h.tas !== tas || tas.attempt !== attempt) return;
      // No answer in time: the client gives up on this request and asks again (a late answer is ignored).
      tas.attempt = -1;
      this.log(`${h.id} arbiter: no answer to request ${attempt} within ${this.plan.tasTimeoutMs} ms; retrying`);
      this.at(this.now + this.plan.tasRetryMs, `tas retry ${h.id}`, () => {
        if (h.tas === tas) this.sendTas(h);
      });
    });
  }

  private arbiterReceives(h: Host, wire: Uint8Array): void {
    const m = this.net.decode<Msg & TasRequest & { id: number }>(wire);
    if (this.opts.mutation === "arbiter-silent") return;
    if (!this.arbiterUp) {
      this.log(`arbiter is down: ${m.host}'s request ${m.id} is lost`);
      return;
    }
    const result = this.grant({ epoch: m.epoch, host: m.host, members: m.members, cluster: m.cluster }, this.opts.mutation === "arbiter-grants-all" ? grantAll : testAndSet);
    this.log(`arbiter: request ${m.id} from ${m.host} for epoch ${m.epoch}: ${result.granted ? "granted" : `refused (${result.reason})`}`);
    const back = this.net.encode({ t: "tas-result", id: m.id, result });
    const gen = this.arbiterGen;
    for (const t of this.net.link("A", h.id).arrivals(this.now))
      this.at(t, `arbiter -> ${h.id}`, () =>
        this.input(h, `arbiter -> ${h.id}`, () => {
          const r = this.net.decode<{ id: number; result: TasResult }>(back);
          const tas = h.tas;
          if (gen !== this.arbiterGen) return this.log(`${h.id} loses the arbiter's answer to request ${r.id}: the arbiter died after sending it`);
          if (!tas || tas.attempt !== r.id) return; // an answer nobody waits for any more
          h.tas = undefined;
          this.log(`${h.id} arbiter answered request ${r.id}: ${r.result.granted ? "granted" : "refused"} (cluster ${r.result.state.cluster})`);
          // ArbiterClient: an answer of another cluster is a WrongClusterError; FtHost halts on it.
          if (r.result.state.cluster !== h.cluster) return this.shellHalt(h, `${otherCluster("the arbiter", r.result.state.cluster, h.cluster)}: it lost its state or is another cluster's; this host can never be granted an epoch by it`);
          if (r.result.granted && tas.req.members.length > 1 && tas.req.epoch > 1 && this.joinStage(h, "granted")) return;
          this.call(h, "onTasResult", () => h.node.onTasResult(r.result, this.now));
        }),
      );
  }

  private grant(req: TasRequest, tas: typeof testAndSet): TasResult {
    const { state, result } = tas(this.arbiter, req);
    this.arbiter = state;
    if (state.cluster === RUN_CLUSTER) this.facts.clusterArbiter = state;
    // A repeated grant of the same epoch to the same host (an idempotent retry) is one grant.
    if (result.granted && !this.facts.grants.some((g) => g.epoch === req.epoch && g.holder === req.host && g.cluster === state.cluster))
      this.facts.grants.push({ t: this.now, cluster: state.cluster, epoch: req.epoch, holder: req.host, members: [...req.members] });
    return result;
  }

  /** The shell halts the host for a reason its node cannot see (FtHost.haltFor): another cluster's arbiter, a sink's refusal for good. */
  private shellHalt(h: Host, reason: string): void {
    if (!h.up || h.stopping) return;
    if (/belongs to cluster/.test(reason)) {
      h.facts.wrongCluster = reason;
      this.arbiterCounts.wrongClusterHalts++;
    }
    this.exec(h, shellHalt(reason, h.node.epoch));
  }

  // ---- arbiter restarts ---------------------------------------------------------------

  /** The arbiter process dies; it comes back downMs later with its state, or (amnesia) without it: a new cluster at epoch 0. */
  private arbiterDies(amnesia: boolean, downMs: number): void {
    if (!this.arbiterUp) return;
    this.arbiterUp = false;
    this.arbiterGen++;
    this.log(`the arbiter dies (at epoch ${this.arbiter.epoch} of cluster ${this.arbiter.cluster})`);
    this.at(this.now + downMs, "arbiter back", () => {
      this.arbiterUp = true;
      this.arbiterGen++;
      if (!amnesia) {
        this.arbiterCounts.restarts++;
        this.log(`the arbiter is back with its state: epoch ${this.arbiter.epoch} of cluster ${this.arbiter.cluster}`);
        return;
      }
      this.arbiterCounts.amnesias++;
      // The arbiter-forgets-cluster mutation: epochs alone, no new cluster id.
      const cluster = this.opts.mutation === "arbiter-forgets-cluster" ? this.arbiter.cluster : `c${++this.clusters}`;
      this.arbiter = initialState(cluster);
      this.log(`the arbiter is back WITHOUT its state: cluster ${cluster} at epoch 0`);
      const st = this.plan.stranger;
      if (st && this.arbiterCounts.amnesias === 1) this.at(this.now + st.afterMs, `start ${STRANGER_ID}`, () => this.startStranger());
    });
  }

  /**
   * A fresh primary against the forgetful arbiter (FtHost.runPrimary without --cluster):
   * it learns the arbiter's cluster, claims the next epoch alone and runs the guest, its
   * output going to the run's sink.
   */
  private startStranger(): void {
    if (!this.arbiterUp) {
      this.at(this.now + 10, `start ${STRANGER_ID}`, () => this.startStranger());
      return;
    }
    const p = this.plan;
    for (const l of p.stranger!.links) this.net.add(l);
    const X = this.addHost(STRANGER_ID);
    X.cluster = X.facts.cluster = this.arbiter.cluster;
    this.arbiterCounts.strangers++;
    const req = { ...firstEpochRequest(this.arbiter.epoch, X.id), cluster: X.cluster };
    const epoch = req.epoch;
    const r = this.grant(req, testAndSet);
    this.log(`${X.id} starts against the arbiter (cluster ${X.cluster}): epoch ${epoch} ${r.granted ? "granted" : `refused (${r.reason})`}`);
    if (!r.granted) return this.exitUnstarted(X, `the arbiter refused epoch ${epoch}`);
    this.call(X, "startPrimary", () => onFirstEpochAnswer(X.node, req, r, { program: "sim-guest.s", image: guestImage(p.guest), memBytes: p.memBytes, stackBytes: p.stackBytes }, this.now).actions);
    X.started = X.facts.started = true;
    X.live = true;
    X.hookConsole();
    X.recordDigest();
    this.startTicks(X);
    this.scheduleRun(X, this.now);
  }

  // ---- the console sink ------------------------------------------------------------------

  private output(h: Host, epoch: number, offset: number, bytes: Uint8Array): void {
    this.facts.outputs.push({ t: this.now, host: h.id, cluster: h.cluster, epoch, offset, bytes });
    this.log(`${h.id} output epoch ${epoch} bytes ${offset}..${offset + bytes.length}${h.sinkUp ? "" : " (sink connection down)"}`);
    this.checkOutputRule(h, epoch, offset, bytes.length);
    if (h.sinkUp) this.sendSink(h, { epoch, offset, bytes });
  }

  /** The output rule, checked as output leaves: the other member of the epoch must hold the log through the output's icount. */
  private checkOutputRule(h: Host, epoch: number, offset: number, length: number): void {
    const g = this.facts.grants.find((x) => x.epoch === epoch && x.cluster === h.cluster);
    if (!g) return; // reported by the one-releaser check
    const chunk = h.facts.chunks.find((c) => c.offset <= offset && offset < c.offset + c.bytes.length);
    if (!chunk) return;
    for (const other of g.members) {
      if (other === h.id) continue;
      const rec = this.facts.hosts[other as HostId]?.received;
      if (rec && rec.icount < chunk.icount)
        this.facts.violations.push({
          t: this.now,
          check: "output-rule",
          text: `host ${h.id} released output at offsets ${offset}..${offset + length} of epoch ${epoch}, produced at icount ${chunk.icount}, but its backup ${other} had received the log only through icount ${Math.max(0, rec.icount)}`,
        });
    }
  }

  private sendSink(h: Host, c: OutputChunk): void {
    const gen = h.sinkGen;
    const wire = this.net.encode({ t: "out", ...c, cluster: h.cluster });
    let times = this.net.link(h.id, "S").arrivals(this.now);
    if (this.opts.mutation === "sink-loses-output" && this.rng.chance(0.05)) {
      this.log(`MUTATION sink-loses-output: lost ${h.id}'s output at offset ${c.offset}`);
      times = [];
    }
    for (const t of times) this.at(t, `sink <- ${h.id}`, () => this.sinkReceives(h, gen, wire));
  }

  private sinkReceives(h: Host, gen: number, wire: Uint8Array): void {
    if (gen !== h.sinkGen) return; // that connection was reset
    const m = this.net.decode<OutputChunk>(wire);
    // The sink-ignores-cluster mutation: every output passes for the sink's own cluster.
    const v = this.sink.accept({ epoch: m.epoch, offset: m.offset, bytes: m.bytes, cluster: this.opts.mutation === "sink-ignores-cluster" ? this.sink.cluster : m.cluster });
    if (m.cluster !== this.sink.cluster) {
      this.facts.sinkForeign.push({ t: this.now, host: h.id, cluster: String(m.cluster), kind: v.kind });
      if (v.kind === "wrong-cluster") this.arbiterCounts.foreignRefused++;
    }
    if (v.kind === "write") this.facts.sinkWrites.push({ t: this.now, host: h.id, epoch: m.epoch, offset: m.offset + (m.bytes.length - v.bytes.length), bytes: v.bytes });
    if (v.kind === "write") this.opts.observe?.(this.now, { kind: "sink", host: h.id, epoch: m.epoch, bytes: v.bytes });
    if (v.kind === "write") this.log(`sink writes ${h.id}'s bytes ${m.offset + m.bytes.length - v.bytes.length}..${m.offset + m.bytes.length} (epoch ${m.epoch})`);
    if (v.kind === "stale" || v.kind === "gap" || v.kind === "diverged" || v.kind === "wrong-cluster") {
      this.facts.sinkRefusals.push({ t: this.now, host: h.id, epoch: m.epoch, offset: v.kind === "diverged" ? v.offset : m.offset, kind: v.kind, reason: v.reason });
      this.log(`sink refuses ${h.id}: ${v.reason}`);
    }
    if (v.kind === "diverged" || v.kind === "wrong-cluster") {
      // FtHost: a host whose output the sink refuses for good halts (it can never deliver it).
      const reason = `the console sink refused this host: ${v.reason}`;
      for (const t of this.net.link("S", h.id).arrivals(this.now)) this.at(t, `sink -> ${h.id}`, () => this.input(h, `sink -> ${h.id}`, () => gen === h.sinkGen && this.shellHalt(h, reason)));
      return;
    }
    const refused = v.kind === "stale" || v.kind === "gap";
    const back = { delivered: this.sink.delivered, epoch: refused ? this.sink.epoch : undefined };
    for (const t of this.net.link("S", h.id).arrivals(this.now))
      this.at(t, `sink -> ${h.id}`, () =>
        this.input(h, `sink -> ${h.id}`, () => {
          if (gen !== h.sinkGen) return;
          this.call(h, "onSinkAck", () => h.node.onSinkAck(back.delivered, back.epoch));
        }),
      );
  }

  private sinkReset(h: Host): void {
    if (!h.up || !h.sinkUp) return;
    h.sinkGen++;
    h.sinkUp = false;
    this.log(`${h.id} sink connection reset`);
    this.at(this.now + this.rng.range(1, 50), `sink reconnect ${h.id}`, () => this.sinkReconnect(h));
  }

  /** FtHost.connectSink: retry until the sink answers, then re-send everything it has not acknowledged. */
  private sinkReconnect(h: Host): void {
    if (!h.up || h.stopping) return;
    const link = this.net.link(h.id, "S");
    if (link.cutAt(this.now)) {
      this.at(this.now + SINK_RECONNECT_MS, `sink reconnect ${h.id}`, () => this.sinkReconnect(h));
      return;
    }
    h.sinkGen++;
    h.sinkUp = true;
    this.log(`${h.id} sink reconnected: re-sending ${h.node.unsunk.length} chunks`);
    for (const c of h.node.unsunk) this.sendSink(h, { epoch: h.node.epoch, offset: c.offset, bytes: c.bytes });
  }
}

/** The arbiter-grants-all mutation: no epoch check at all. */
function grantAll(s: ArbiterState, r: TasRequest): { state: ArbiterState; result: TasResult } {
  const next: ArbiterState = { cluster: s.cluster, epoch: Math.max(s.epoch, r.epoch), members: [...r.members], holder: r.host };
  return { state: next, result: { granted: true, state: next } };
}

function describeMsg(m: Msg): string {
  switch (m.t) {
    case "log": {
      const ev = m.events as unknown[][];
      return ev.length ? `log lsn ${ev[0][0]}..${ev[ev.length - 1][0]} icount ..${ev[ev.length - 1][1]} released ${m.released}` : "log (empty)";
    }
    case "ack":
      return `ack lsn ${m.lsn} icount ${m.icount}`;
    case "start":
      return `start epoch ${m.epoch}`;
    default:
      return m.t;
  }
}
