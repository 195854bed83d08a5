// One FT host as a pure, synchronous state machine: a primary (live, logging to its
// backup, holding output until the log is acknowledged) or a backup (replaying, ready to
// go live). Inputs are method calls carrying messages, acknowledgements, arbiter answers
// and clock readings; outputs are actions (send this, ask the arbiter that, release this
// output, halt). No sockets, timers or awaits: the same code runs in a real process
// (src/host/ft-host.ts) and under the seeded simulator (src/sim).
//
// This file holds the node's state, its start, its invariants and the routing: each input
// (a peer's message, run(), the arbiter's answer, a tick) goes by role to the handlers in
//   node-live.ts      primary / alone: execution, log batches, the output rule, finishing
//   node-replay.ts    backup: the received log, replay, divergence, reconnecting
//   node-clone.ts     joining, on both sides: the snapshot, its restore, the pair's epoch
//   node-failover.ts  heartbeats, failure detection, draining, elections
// and node-types.ts has the actions, roles and configuration. The state's fields are
// public so those files can work on it; everything outside src/ft reads the node through
// its methods, status() and inspect().
import { LOG_PROTOCOL_VERSION, ProtocolError } from "./protocol.js";
import type { TasResult } from "../arbiter/core.js";
import { Bus } from "../devices/bus.js";
import { LiveEnv } from "../replay/live.js";
import { ReplayEnv } from "../replay/replay.js";
import { LiveRunner, ReplayRunner } from "../replay/session.js";
import type { Tracer } from "../trace/tracer.js";
import { QueueSource } from "../replay/source.js";
import type { DiskBackend } from "../replay/world.js";
import type { DiskGeometry } from "../devices/disk.js";
import { geometryProblem } from "../devices/disk.js";
import { DiskGate } from "./diskgate.js";
import { LocalDisk } from "./localdisk.js";
import { LocalReplaySource } from "./localreplay.js";
import type { Image } from "../vm/image.js";
import { encodeImage } from "../vm/image.js";
import { Machine } from "../vm/machine.js";
import { FailureDetector } from "./detector.js";
import { OutputGate, type HeldOutput } from "./gate.js";
import { PrimaryLog } from "./primary.js";
import { CloneAssembler } from "./clone.js";
import { Throttle } from "./throttle.js";
import { NetGate } from "./netgate.js";
import { ConsoleInGate } from "./console-in.js";
import { type Msg, InvariantError, type Action, type HaltCause, type Role, type NodeConfig, type DiskMode, type JoinStage, type RunResult, type StartPrimary } from "./node-types.js";
import * as live from "./node-live.js";

/** How long a node must have found nothing waiting before it counts as quiet (see FtNode.quiet): many slices of a guest that prints. */
export const QUIET_AFTER_MS = 50;
import * as replay from "./node-replay.js";
import * as clone from "./node-clone.js";
import * as failover from "./node-failover.js";
import type { StateCheck } from "./state-check.js";
export * from "./node-types.js";

export class FtNode {
  role: Role = "idle";
  epoch = 0;
  machine!: Machine;
  bus!: Bus;
  live?: LiveEnv;
  liveRunner?: LiveRunner;
  replay?: { env: ReplayEnv; runner: ReplayRunner; source: QueueSource };
  /** When this primary reached its crash icount and began waiting for a paired backup (see CRASH_WAIT_MAX_MS). */
  crashWaitSinceMs?: number;
  /** The backup's check of the primary's state digests (see state-check.ts). */
  stateCheck?: StateCheck;
  readonly gate = new OutputGate();
  /** The NIC's output rule, the backup's copy of its output, and input durability (see netgate.ts). */
  readonly net = new NetGate();
  /** The output rule for disk writes while live (see diskgate.ts); undefined without a disk or while replaying. */
  diskGate?: DiskGate;
  plog?: PrimaryLog;
  detector?: FailureDetector;
  lastHeartbeatMs = -Infinity;
  lastFlushMs = -Infinity;
  /** Output given to the sink that the sink has not acknowledged (re-sent on reconnect). */
  readonly unsunk: HeldOutput[] = [];
  sinkDelivered = 0;
  /**
   * Backup: the highest lsn its host's log front acknowledged for it (see log-front.ts).
   * A backup that holds less may not take over (see runDraining).
   */
  frontAckedLsn = 0;
  /** Backup: log received through this lsn; the primary's sink watermark. */
  received = 0;
  primaryReleased = 0;
  /** Backup: output produced by replay that the sink may not have yet. */
  pendingOut: HeldOutput[] = [];
  pendingBytes = 0;
  replayEnded = false;
  sawBye = false;
  /** Why the peer is considered failed (set once). */
  peerFailed?: string;
  electionFor?: "alone" | "live";
  goLiveTimes?: { detectedMs: number; silentMs: number; replayedMs: number };
  finishReason = "";
  program = "";
  /**
   * Primary: a new backup asked to join (set by acceptJoin, cleared when its clone fails
   * or the pair's epoch is granted), going through the stages of JoinStage.
   */
  join?: { host: string; atMs: number; stage: JoinStage; icount: number; bytes: number; failed?: string; releasedIcount: number; restoredLsn?: number };
  /** The buffer a clone's memory is copied into (kept for the next clone), and how much of it has been touched. */
  snapshotMem?: Uint8Array;
  snapshotMemReady = 0;
  /** Backup: its last replay step had nothing more to do (reported in heartbeats). */
  replayIdle = false;
  /** The throttle's current sleep ends here. */
  throttledUntilMs = -Infinity;
  /** Backup: the clone being received. */
  cloneIn?: CloneAssembler;
  /** Non-shared: this host's own disk (see localdisk.ts); undefined with a shared disk or none. */
  localDisk?: LocalDisk;
  /** Non-shared backup: the replay source that performs requests on the own disk (see localreplay.ts). */
  localReplay?: LocalReplaySource;
  /** Non-shared: reads are logged without data and the backup reads its own image (the primary decides). */
  backupReads = false;
  /** Actions that arose in a disk callback (between calls): handed out by the next run(). */
  outbox: Action[] = [];
  /** Primary: the own image being streamed to a joining backup (non-shared). */
  diskClone?: { chunks: number; chunkBlocks: number; next: number; inFlight: number; sent: number; bytes: number };
  /** Joining backup: the image chunks expected, and how many have landed on this host's own image. */
  diskCloneIn?: { chunks: number; chunkBlocks: number; seen: Set<number>; written: number; failed?: string };
  /** Joining backup: restored, but "restored" waits until the image has landed too. */
  restoredUnsent = false;
  /**
   * Backup: false while a cloned backup waits for the pair's epoch: until then it is no
   * member of any epoch and may not claim one (the arbiter would refuse it anyway).
   */
  paired = true;
  /** Primary: the backup's lag, and how much the primary holds itself back because of it. */
  readonly throttle: Throttle;
  /** Console input's durability while live (see console-in.ts). */
  readonly consoleIn = new ConsoleInGate();
  /** This host's execution trace (see NodeConfig.tracer); the shell flushes it. */
  tracer?: Tracer;

  constructor(readonly cfg: NodeConfig) {
    this.throttle = new Throttle(cfg.lagThresholdMs);
  }

  // ---- starting --------------------------------------------------------------------

  startPrimary(s: StartPrimary, nowMs: number): Action[] {
    this.boot(s.image, s.memBytes, s.stackBytes, s.disk);
    this.epoch = s.epoch;
    this.program = s.program;
    this.backupReads = this.localDisk !== undefined && this.cfg.backupReads === true;
    this.tracer = this.cfg.tracer?.(this.machine, { role: "primary", epoch: s.epoch, program: s.program, image: encodeImage(s.image) });
    live.becomeLive(this, 1, 0);
    const actions: Action[] = [];
    if (s.withBackup) {
      this.role = "primary";
      this.plog = new PrimaryLog(this.cfg.logBufferBytesMax);
      this.detector = new FailureDetector({ timeoutMs: this.cfg.timeoutMs, heartbeatMs: this.cfg.heartbeatMs }, nowMs);
      actions.push({
        kind: "send",
        msg: {
          t: "start",
          v: LOG_PROTOCOL_VERSION,
          epoch: s.epoch,
          image: encodeImage(s.image),
          memBytes: this.machine.memBytes,
          stackBytes: this.machine.stackBytes,
          program: s.program,
          disk: this.diskGeometry(),
          ...this.diskModeFields(),
        },
      });
      this.backupHost = s.backupHost;
      actions.push(this.newsAction(`primary of epoch ${s.epoch} with a backup`, { event: "start" }));
    } else {
      this.role = "alone";
      actions.push(this.newsAction(`primary of epoch ${s.epoch}, running alone (no backup)`, { event: "start" }));
    }
    return actions;
  }

  /** A backup starts from the primary's "start" message. Throws on a malformed one (the shell refuses the peer). */
  startBackup(m: Msg, nowMs: number): Action[] {
    return replay.startBackup(this, m, nowMs);
  }

  /**
   * A new backup wants to join this primary, which runs alone. The next run() copies the
   * state at an instruction boundary and sends it; from then on output waits for the new
   * backup's acknowledgements; once it has restored the copy the primary claims the next
   * epoch for the pair. Returns the reason when a join is not possible now.
   */
  acceptJoin(host: string, nowMs: number): string | undefined {
    return clone.acceptJoin(this, host, nowMs);
  }

  boot(image: Image, memBytes?: number, stackBytes?: number, disk?: DiskGeometry): void {
    this.machine = new Machine(image, { memBytes, stackBytes });
    this.cfg.attachEngine?.(this.machine);
    this.bus = new Bus(this.machine, undefined as never, { disk });
    this.localDisk = this.nonShared && disk && disk.blocks > 0 && this.cfg.disk ? new LocalDisk(this.cfg.disk) : undefined;
  }

  get nonShared(): boolean {
    return this.cfg.diskMode === "non-shared";
  }

  /** What "start" and "clone" say about the disk's mode (nothing for a shared disk: older peers understand that). */
  diskModeFields(): { diskMode?: DiskMode; backupReads?: boolean } {
    return this.localDisk ? { diskMode: "non-shared", backupReads: this.backupReads } : {};
  }

  /** The geometry the peer sent in "start" or "clone" (none: no disk); a disk this host could not serve live is refused now, not at failover. */
  peerDisk(raw: unknown, mode: unknown): DiskGeometry | undefined {
    if (raw === undefined || raw === null) return undefined;
    const g = raw as DiskGeometry;
    const problem = typeof raw === "object" ? geometryProblem(g) : "not a geometry";
    if (problem) throw new ProtocolError(`the primary's disk: ${problem}`);
    if (g.blocks > 0) {
      const theirs = mode === "non-shared";
      if (theirs && !this.nonShared) throw new ProtocolError("the primary's disk is non-shared but this host has no image of its own (start it with --disk-image)");
      if (!theirs && this.nonShared) throw new ProtocolError("the primary's disk is shared but this host was given an image of its own (start it with --disk-server)");
      if (!this.cfg.disk) throw new ProtocolError(theirs ? "the guest has a non-shared disk but this host has no disk back-end (start it with --disk-image)" : "the guest has a shared disk but this host has no disk back-end (start it with --disk-server)");
      const mine = this.cfg.diskGeometry;
      if (theirs && mine && (mine.blocks !== g.blocks || mine.blockBytes !== g.blockBytes))
        throw new ProtocolError(`this host's own image has ${mine.blocks} blocks of ${mine.blockBytes} bytes, the primary's disk ${g.blocks} of ${g.blockBytes}`);
    }
    return { blocks: g.blocks, blockBytes: g.blockBytes };
  }

  diskGeometry(): DiskGeometry | undefined {
    const g = this.bus.disk.geometry;
    return g.blocks > 0 ? { blocks: g.blocks, blockBytes: g.blockBytes } : undefined;
  }

  /**
   * The shell connected the disk's back-end (before starting, or before going live): the
   * shared disk's server, or, given `ownImage` (its geometry), this host's own image for
   * a non-shared disk.
   */
  setDiskBackend(b: DiskBackend, ownImage?: DiskGeometry): void {
    this.cfg.disk = b;
    if (ownImage) {
      this.cfg.diskMode = "non-shared";
      this.cfg.diskGeometry = { blocks: ownImage.blocks, blockBytes: ownImage.blockBytes };
    }
  }

  /**
   * A primary with a backup on the log channel: paired, or finishing while it still logs to
   * its backup. The one definition of the primary's side of "paired".
   */
  get primaryPaired(): boolean {
    return this.role === "primary" || (this.role === "finishing" && this.plog !== undefined);
  }

  // ---- invariants ------------------------------------------------------------------

  /**
   * The node's state is consistent with its role. The simulator and the tests' cluster
   * call this after every input; a broken invariant is a programmer error and throws
   * InvariantError naming the role, epoch and icount (never a wrong answer later).
   */
  invariants(): void {
    const fail = (what: string): never => {
      throw new InvariantError(`invariant broken in role ${this.role} (epoch ${this.epoch}, icount ${this.machine?.icount ?? 0}): ${what}`);
    };
    const r = this.role;
    if (r === "idle") {
      if (this.epoch !== 0) fail("an idle node has an epoch");
      return;
    }
    if (this.epoch < 1) fail("a started node has no epoch");
    if (r === "primary" && (!this.plog || !this.detector)) fail("a primary with a backup has no log or no failure detector");
    if (r === "alone" && this.plog && !this.join) fail("a primary running alone keeps a backup's log");
    if (r === "alone" && this.join && this.join.stage !== "requested") fail(`a primary running alone has a join in stage ${this.join.stage}`);
    if ((r === "backup" || r === "draining") && !this.replay) fail("a replaying node has no replay");
    if (r === "joining" && !this.cloneIn) fail("a joining node receives no clone");
    if ((r === "primary" || r === "alone") && this.replay && this.bus.env === this.replay.env) fail("a live node still reads its replay");
    if (!this.paired && (r === "primary" || r === "alone")) fail("an unpaired clone is live without an epoch of its own");
    if (this.join && r !== "primary" && r !== "alone" && r !== "finishing" && r !== "finished" && r !== "electing" && r !== "halted") fail(`a join is under way in role ${r}`);
    const log = this.plog;
    if (log) {
      if (log.ackedLsn > log.sentLsn) fail(`the backup acknowledged lsn ${log.ackedLsn}, only ${log.sentLsn} was sent`);
      if (log.sentLsn > log.lastLsn) fail(`sent through lsn ${log.sentLsn}, only ${log.lastLsn} was logged`);
      if (log.unackedBytes < 0) fail(`${log.unackedBytes} unacknowledged log bytes`);
    }
    if (this.sinkDelivered > this.bus.console.drainedBytes + this.pendingBytes + this.unsunk.reduce((n, c) => n + c.bytes.length, 0) && r !== "backup" && r !== "draining")
      fail(`the sink has ${this.sinkDelivered} bytes, more than this node ever released`);
    if (this.pendingBytes < 0) fail(`${this.pendingBytes} bytes of pending backup output`);
  }

  // ---- inputs ----------------------------------------------------------------------

  /** A message from the peer. Throws ProtocolError for a malformed or impossible one (the shell refuses the peer). */
  onPeerMessage(m: Msg, nowMs: number): Action[] {
    // A node that has not started starts from its primary's first message ("start", or a clone's header).
    if (this.role === "idle") return replay.startBackup(this, m, nowMs);
    if (this.peerFailed) return [];
    // A quiet log batch (ackLazy) stands for the primary's heartbeat (see live.flush).
    this.detector?.heard(nowMs, m.t === "hb" || (m.t === "log" && m.ackLazy === true));
    if (this.primaryPaired || (this.role === "electing" && this.plog)) return live.onBackupMessage(this, m, nowMs);
    if (this.role === "joining") return clone.onJoiningMessage(this, m);
    if (this.role === "backup") return replay.onPrimaryMessage(this, m);
    return [];
  }

  /** The host's log front acknowledged the log through `lsn` (called when its channel is closed, with the front's final figure). */
  noteFrontAcked(lsn: number): void {
    if (lsn > this.frontAckedLsn) this.frontAckedLsn = lsn;
  }

  /** The log channel closed (or was refused): the peer is gone. `closedHere`: this host closed it itself (a dropped channel), so the close says nothing of the peer. */
  onPeerClosed(reason: string, nowMs: number, closedHere = false): Action[] {
    return failover.onPeerClosed(this, reason, nowMs, closedHere);
  }

  /** The sink acknowledged the stream through `delivered`; `sinkEpoch` when it refused us as stale. */
  onSinkAck(delivered: number, sinkEpoch?: number): Action[] {
    // A refusal from a sink at a newer epoch counts a newer primary's output, not this
    // node's: taking it as this node's would claim more than it ever released
    // (`ftvm sim --seed 5082`: the invariant caught it in a deposed primary).
    if (sinkEpoch !== undefined && sinkEpoch > this.epoch) return this.halt(`the sink is at epoch ${sinkEpoch}, this host at ${this.epoch}: deposed`, 3, "deposed");
    if (delivered > this.sinkDelivered) this.sinkDelivered = delivered;
    while (this.unsunk.length && this.unsunk[0].offset + this.unsunk[0].bytes.length <= this.sinkDelivered) this.unsunk.shift();
    return [];
  }

  onTasResult(r: TasResult, nowMs: number): Action[] {
    return failover.onTasResult(this, r, nowMs);
  }

  /** Heartbeats and failure detection; call every heartbeatMs or so. */
  tick(nowMs: number): Action[] {
    return failover.tick(this, nowMs);
  }

  finishAfterElection = false;
  /** Primary: the identity of its paired backup. */
  backupHost?: string;
  /** The log channel closed and the peer may come back (see onPeerClosed). */
  disconnected = false;
  /** Primary, disconnected: this host closed the channel itself, so only the failure detector, not the reconnect grace, may call the backup dead (see tick). */
  disconnectedHere = false;
  /** An unpaired backup's claim was refused: when it first was, and when to ask again. */
  unpairedClaimSinceMs?: number;
  retryElectAtMs?: number;

  /**
   * Primary: the backup reconnected having received the log through `lsn`. Returns the
   * actions (the log it missed) or the reason it cannot continue from there.
   */
  acceptResume(host: string, lsn: number, nowMs: number): Action[] | string {
    return live.acceptResume(this, host, lsn, nowMs);
  }

  /** Backup: the primary took us back on a new channel. */
  onResumed(nowMs: number): Action[] {
    return replay.onResumed(this, nowMs);
  }

  /** Backup: reconnecting failed (nobody listens, or no answer): the primary is gone. */
  onReconnectFailed(reason: string, nowMs: number): Action[] {
    return replay.onReconnectFailed(this, reason, nowMs);
  }

  /**
   * Backup: the primary is alive but will not take us back (it gave up on us and is
   * going on alone). Let the arbiter decide: if the primary already won an epoch without
   * us, our claim is refused and we halt (a new backup is cloned in); if it has not, and
   * dies before it does, we are the epoch's only surviving member and must be able to serve.
   */
  onResumeRefused(reason: string, nowMs: number): Action[] {
    return replay.onResumeRefused(this, reason, nowMs);
  }

  // ---- running ---------------------------------------------------------------------

  /** When run() was last called (for actions that arise in disk callbacks between calls). */
  lastRunMs = 0;

  /**
   * Runs one slice (or does nothing when there is nothing to do). `sliceIcount`, when
   * given, is the most instructions this slice may run (a host paces its slices by time;
   * the simulator uses its plan's fixed slice).
   */
  run(nowMs: number, sliceIcount?: number): RunResult {
    this.lastRunMs = nowMs;
    if (sliceIcount !== undefined) {
      // A programmer error in the shell: crash, naming it.
      if (!Number.isInteger(sliceIcount) || sliceIcount <= 0) throw new RangeError(`a slice of ${sliceIcount} instructions`);
      this.liveRunner?.setSliceIcount(sliceIcount);
      this.replay?.runner.setSliceIcount(sliceIcount);
    }
    const r = this.runRole(nowMs);
    if (this.outbox.length > 0) {
      // Actions from disk callbacks since the last call (image chunks, a failed clone) go first.
      r.actions = [...this.outbox.splice(0), ...r.actions];
      r.idle = false;
    }
    return r;
  }

  runRole(nowMs: number): RunResult {
    switch (this.role) {
      case "primary":
      case "alone":
        return live.runLive(this, nowMs);
      case "electing":
        return failover.runElecting(this, nowMs);
      case "backup":
        return replay.runReplay(this);
      case "draining":
        return failover.runDraining(this, nowMs);
      case "finishing":
        return { actions: live.finishing(this, nowMs), idle: true };
      default:
        return { actions: [], idle: true };
    }
  }

  endLogged = false;

  drained = false;

  halt(reason: string, code: number, cause: HaltCause): Action[] {
    this.role = "halted";
    return [this.newsAction(`halting: ${reason}`, { event: "halt", cause }), { kind: "halt", reason, code, cause }];
  }

  newsAction(text: string, data: Record<string, unknown>): Action {
    return { kind: "news", text, data: { ...data, role: this.role, epoch: this.epoch } };
  }

  /** Console input for the guest, while live (see console-in.ts); false when it cannot take it now. */
  postConsole(bytes: Uint8Array): boolean {
    if (!this.live || this.replay || !this.live.postConsole(bytes)) return false;
    this.consoleIn.posted += bytes.length;
    return true;
  }

  /** The console input ended (after everything posted). */
  endConsole(): void {
    if (this.live && !this.replay) this.live.endConsole();
  }

  /** How far console input is durable: acknowledged by the backup, or logged when alone. */
  consoleInDurable(): { offset: number; eof: boolean } {
    if (this.live && !this.replay) this.consoleIn.durableThrough(this.plog ? this.plog.ackedLsn : this.live.lastLsn);
    return { offset: this.consoleIn.durableOffset, eof: this.consoleIn.durableEof };
  }

  /**
   * Nothing waits on this host's messages: a primary with no held output, no event but
   * PROGRESS marks logged since its last batch, no joiner and its log well within bounds
   * (nothingWaits), or a host alone with no held output and no joiner. The shell may then
   * run longer guest slices and read its sockets less often (src/host/slice-pacer.ts);
   * a backup is never quiet (its replay and acknowledgements pace its primary). Quiet only
   * once that has held for QUIET_AFTER_MS, every time the shell asked: a guest that prints
   * all the time (count.s) finds nothing held for a moment after each release, and a 2 ms
   * slice then held its next output that much longer (bench:latency, count.s held p50
   * 3.3 ms against 1.5 ms before quiet slices).
   */
  quiet(nowMs: number): boolean {
    const calm = this.role === "primary" ? !this.peerFailed && live.nothingWaits(this) : this.role === "alone" && this.join === undefined && !this.hasHeldOutput();
    if (!calm) {
      this.calmSinceMs = undefined;
      return false;
    }
    this.calmSinceMs ??= nowMs;
    return nowMs - this.calmSinceMs >= QUIET_AFTER_MS;
  }
  /** Since when quiet() has found nothing waiting, every time it was asked. */
  private calmSinceMs: number | undefined;

  /** Console output, network output or disk writes wait for acknowledgements. */
  hasHeldOutput(): boolean {
    return this.gate.heldCount > 0 || this.net.heldCount > 0 || (this.diskGate?.heldCount ?? 0) > 0;
  }

  /** The shared disk refused a write of ours: a newer epoch has written there, so this host is deposed. */
  onDiskFenced(reason: string): Action[] {
    if (this.role === "halted" || this.role === "finished") return [];
    return this.halt(`the disk refused a write (${reason}): deposed`, 3, "deposed");
  }

  /** A read-only view of internals the simulator's scheduling and checks look at (so they need no casts). */
  inspect(): { throttledUntilMs: number; throttleLevel: number; diskGateHeld: number; ownDiskHeld: number; ownDiskReplayBlocked: boolean } {
    return {
      throttledUntilMs: this.throttledUntilMs,
      throttleLevel: this.throttle.level,
      diskGateHeld: this.diskGate?.heldCount ?? 0,
      ownDiskHeld: this.localDisk?.heldCount ?? 0,
      ownDiskReplayBlocked: this.localReplay?.blocked ?? false,
    };
  }

  /** The status line's facts. */
  status(nowMs: number): {
    role: Role;
    epoch: number;
    icount: number;
    backupIcount?: number;
    lagMs?: number;
    throttle: number;
    heldOutputs: number;
    heldBytes: number;
    heldWrites: number;
    logBytes: number;
    /** A joining backup's copy so far: memory (and its own disk's image) received, of how much. */
    clone?: { bytes: number; totalBytes: number };
  } {
    const icount = this.machine ? this.machine.icount : 0;
    return {
      ...(clone.cloneProgress(this) ?? {}),
      role: this.role,
      epoch: this.epoch,
      icount,
      backupIcount: this.plog?.backupIcount,
      // As the last slice measured it: measuring here would move the throttle (see Throttle.lastLagMs).
      lagMs: this.plog ? this.throttle.lastLagMs : undefined,
      throttle: this.throttle.level,
      heldOutputs: this.gate.heldCount,
      heldBytes: this.gate.heldBytes,
      heldWrites: this.diskGate?.heldCount ?? this.localDisk?.heldCount ?? 0,
      logBytes: this.plog?.totalBytes ?? 0,
    };
  }
}

/** The peer sent something malformed or impossible: refuse it with this reason. */
