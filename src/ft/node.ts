// One FT host as a pure, synchronous state machine: a primary (live, logging to its
// backup, holding output until the log is acknowledged) or a backup (replaying, ready to
// go live). Inputs are method calls carrying messages, acknowledgements, arbiter answers
// and clock readings; outputs are actions (send this, ask the arbiter that, release this
// output, halt). No sockets, timers or awaits: the same code runs in a real process
// (src/host/ft-host.ts) and under the seeded simulator (src/sim).
import { type CloneDiskMsg, type CloneMsg, LOG_PROTOCOL_VERSION, type LogMsg, type PeerMsg, ProtocolError } from "./protocol.js";
import type { TasRequest, TasResult } from "../arbiter/core.js";
import { Bus } from "../devices/bus.js";
import type { Event } from "../devices/events.js";
import { EV } from "../devices/events.js";
import { LiveEnv } from "../replay/live.js";
import { toEvents } from "../replay/logformat.js";
import { DivergenceError, ReplayEnv } from "../replay/replay.js";
import { LiveRunner, ReplayRunner, traceDelivered } from "../replay/session.js";
import type { Tracer } from "../trace/tracer.js";
import { QueueSource } from "../replay/source.js";
import type { DiskBackend, World } from "../replay/world.js";
import type { DiskGeometry } from "../devices/disk.js";
import { DISK_STATUS, geometryProblem } from "../devices/disk.js";
import { DiskGate } from "./diskgate.js";
import { LOCAL_DISK_ATTEMPTS_MAX, LocalDisk } from "./localdisk.js";
import { LocalReplaySource, withoutReadData } from "./localreplay.js";
import type { DiskCompletion } from "../devices/disk.js";
import type { Image } from "../vm/image.js";
import { decodeImage, encodeImage } from "../vm/image.js";
import { Machine } from "../vm/machine.js";
import { FailureDetector } from "./detector.js";
import { OutputGate, type HeldOutput } from "./gate.js";
import { AckError, LOG_BATCH_BYTES_MAX, PrimaryLog, eventBytes } from "./primary.js";
import { CLONE_DISK_BYTES_MAX, CLONE_DISK_CHUNK_BYTES, CLONE_DISK_READS_IN_FLIGHT, CloneAssembler, CloneError, cloneMessages } from "./clone.js";
import { Throttle } from "./throttle.js";
import { NetGate } from "./netgate.js";
import { ConsoleInGate } from "./console-in.js";
import type { NetChunk } from "../devices/nic.js";
import { getMachineState, setMachineState, StateError } from "../vm/snapshot.js";
import { DeviceStateError } from "../devices/device.js";

/**
 * How often the primary closes a batch (with a PROGRESS mark) when nothing else forces one.
 * Each batch costs a WebSocket message each way (a log message and its ack); at 2 ms they
 * took about 5% of a compute-bound primary's CPU in profiles, at 10 ms under 1%. Held
 * output forces a flush at once, so this bounds only how far the backup may trail an
 * idle-output guest, not the output rule's latency.
 */
export const FLUSH_INTERVAL_MS_DEFAULT = 10;
/** The shortest time between two batches closed because the guest waits (WFI). */
export const WAIT_FLUSH_GAP_MS = 2;
/** How long a cloned backup that is not yet paired keeps asking for the next epoch after its primary failed (see onTasResult). */
const UNPAIRED_CLAIM_RETRY_MS = 10_000;
/** Bytes of the snapshot buffer touched per run() before a clone (see runLive). */
const PREFAULT_BYTES_PER_RUN = 2 * 1024 * 1024;
/**
 * A primary whose log channel closed waits at least this many heartbeat intervals (and a
 * quarter of the failure timeout) for its backup to reconnect before it gives up on it:
 * 250 ms with the defaults. A backup that lives reconnects at once; on a loaded machine
 * that takes a few of its own scheduling rounds.
 */
const RECONNECT_GRACE_HEARTBEATS = 10;
/** How often a primary waiting at its crash icount for a paired backup looks again (ms; messages wake it sooner). */
const CRASH_WAIT_POLL_MS = 20;
/** A reconnecting backup gets the log it missed in messages of at most this many events. */
const RESEND_EVENTS_PER_MESSAGE = 8192;
/** Output a backup keeps until the sink has it; past this it stops replaying until the primary reports progress. */
export const BACKUP_OUTPUT_BYTES_MAX = 16 * 1024 * 1024;

/** A log-channel message (see protocol.ts: one union, one parser). */
export type Msg = PeerMsg;
export { ProtocolError };

/** A broken node invariant: a programmer error, never an operating one. */
export class InvariantError extends Error {}

export type Action =
  /** Send to the peer over the log channel. */
  | { kind: "send"; msg: Msg }
  /** Drop the log channel: the peer is considered failed. */
  | { kind: "cut"; reason: string }
  /** Ask the arbiter; the answer comes back through onTasResult (retry while it is unreachable). */
  | { kind: "tas"; req: TasRequest }
  /** Give output to the console sink; it answers with onSinkAck. */
  | { kind: "output"; epoch: number; offset: number; bytes: Uint8Array; atMs?: number }
  /** Give released network output (NIC chunks) to the virtual switch (see netgate.ts). */
  | { kind: "net-out"; epoch: number; chunks: NetChunk[] }
  /** Something worth telling the operator (and the launcher's summary). */
  | { kind: "news"; text: string; data: Record<string, unknown> }
  /** The guest finished and every byte of its output reached the sink. */
  | { kind: "done"; data: Record<string, unknown> }
  /** Stop this host (it lost an election, was deposed, or diverged): the cause typed, the reason for people. */
  | { kind: "halt"; reason: string; code: number; cause: HaltCause }
  /** Crash on purpose (--crash-at-icount): the shell kills the process without cleanup. */
  | { kind: "crash"; icount: number }
  /**
   * Backup: the log channel closed; try to reconnect to the primary now (with hello
   * {resume: lsn}) and answer with onResumed, or with onReconnectFailed when the
   * primary refuses or cannot be reached.
   */
  | { kind: "reconnect"; lsn: number };

/**
 * Why a host halts. "lost-election": another host holds the epoch it asked for;
 * "deposed": a newer epoch exists (the sink or the disk said so); "diverged": replay
 * differs from the primary's log; "disk-failed": its own disk failed for good; "no-state":
 * it has nothing to serve (a clone that never completed); "refused": its shell was
 * refused for good (another cluster's arbiter, sink or disk).
 */
export type HaltCause = "lost-election" | "deposed" | "diverged" | "disk-failed" | "no-state" | "refused";

export type Role =
  | "idle" // not started
  | "primary" // live, with a backup
  | "alone" // live, without a backup
  | "backup" // replaying
  | "joining" // a new backup receiving a clone of a running primary
  | "draining" // the primary failed: replaying what was received before claiming the next epoch
  | "electing" // asked the arbiter for the next epoch, waiting for the answer
  | "finishing" // the guest stopped; waiting for acknowledgements before the last output
  | "finished"
  | "halted";

const ROLES: ReadonlySet<string> = new Set<Role>(["idle", "primary", "alone", "backup", "joining", "draining", "electing", "finishing", "finished", "halted"]);
/** A role as it arrives from another process (a status line, news): checked, not cast. */
export function isRole(x: unknown): x is Role {
  return typeof x === "string" && ROLES.has(x);
}

export interface NodeConfig {
  id: string;
  heartbeatMs: number;
  timeoutMs: number;
  flushIntervalMs?: number;
  /** The primary's bound on unacknowledged log (bytes); past it execution pauses. */
  logBufferBytesMax?: number;
  /** The primary slows down once its backup's execution trails by more than this (ms). */
  lagThresholdMs?: number;
  crashAtIcount?: number;
  /**
   * With crashAtIcount: a primary that reaches it without a paired backup waits there
   * (the guest paused, output released) until a backup has joined and paired, then
   * crashes. A scripted crash must not take the last host with the guest's state.
   */
  crashOnlyPaired?: boolean;
  sliceIcount?: number;
  /** The live world (clock, randomness, host id) for when this node is live. */
  world: World;
  /** Installs an execution engine on a new machine (the compiled engine, or none). */
  attachEngine?: (m: Machine) => void;
  /**
   * The disk's back-end. Shared mode (the default): the shared disk's server client, used
   * only while this node is live and only through its DiskGate. Non-shared mode: this
   * host's own image (see localdisk.ts), used live and while replaying. A node whose guest
   * has a disk must have one to go live.
   */
  disk?: DiskBackend;
  /** "shared": one image both hosts reach; "non-shared": each host has its own image. */
  diskMode?: DiskMode;
  /** Non-shared: the geometry of this host's own image (a backup refuses a primary whose disk differs). */
  diskGeometry?: DiskGeometry;
  /**
   * Non-shared, as a primary: log read completions without their data (a CRC-32 instead);
   * the backup reads its own image. A backup follows what the primary's start says.
   */
  backupReads?: boolean;
  /**
   * Non-shared, as the primary of a clone: the size of the image's "clone-disk" chunks (a
   * multiple of the block size; default CLONE_DISK_CHUNK_BYTES). Tests and the simulator
   * use small ones so that a small image still travels in several chunks.
   */
  cloneDiskChunkBytes?: number;
  /**
   * Traces this host's execution (ftvm primary/backup --trace): called once the machine
   * stands where this host's execution starts (boot, or a restored clone). The tracer
   * follows the machine through a backup's go-live, so one host writes one trace.
   */
  tracer?: (machine: Machine, start: { role: "primary" | "backup"; epoch: number; program: string; image: Uint8Array }) => Tracer | undefined;
  /**
   * Keeps every event this host logs while live, with its epoch (ftvm ft --record stitches
   * the hosts' segments into the run's log; see src/replay/segment.ts). The shell writes
   * what it was given before any log batch leaves.
   */
  /** UNSAFE, for demonstrations and tests: while live, RAND reads the world without logging it, so the backup diverges. */
  unloggedRand?: boolean;
  recorder?: {
    open(s: { program: string; image: Uint8Array; memBytes: number; stackBytes: number; disk?: DiskGeometry }): void;
    add(e: Event, epoch: number): void;
  };
}

export type DiskMode = "shared" | "non-shared";

/**
 * A join's stages on the primary. "requested": the copy's buffer is being prepared;
 * "cloning": the snapshot went out and the joiner copies and catches up: it is no member
 * of any epoch yet and could never go live, so output does not wait for its
 * acknowledgements (a copy of a 16 MiB guest under load took seconds, and every client
 * reply would have waited that long); "handover": the joiner has restored the copy, and
 * output waits again until it has acknowledged the log through everything released
 * while it copied; "electing": then the arbiter decides on the pair's epoch.
 */
export type JoinStage = "requested" | "cloning" | "handover" | "electing";

export interface RunResult {
  actions: Action[];
  /** Nothing to do until a message, an answer or the clock reaches wakeAtMs. */
  idle: boolean;
  wakeAtMs?: number;
}

export interface StartPrimary {
  program: string;
  image: Image;
  memBytes?: number;
  stackBytes?: number;
  epoch: number;
  withBackup: boolean;
  /** The backup's identity (a reconnecting backup must be this one). */
  backupHost?: string;
  /** The shared disk's geometry (the backup builds the same disk); none when the guest has no disk. */
  disk?: DiskGeometry;
}

export class FtNode {
  role: Role = "idle";
  epoch = 0;
  machine!: Machine;
  bus!: Bus;
  private live?: LiveEnv;
  private liveRunner?: LiveRunner;
  private replay?: { env: ReplayEnv; runner: ReplayRunner; source: QueueSource };
  private readonly gate = new OutputGate();
  /** The NIC's output rule, the backup's copy of its output, and input durability (see netgate.ts). */
  readonly net = new NetGate();
  /** The output rule for disk writes while live (see diskgate.ts); undefined without a disk or while replaying. */
  private diskGate?: DiskGate;
  plog?: PrimaryLog;
  private detector?: FailureDetector;
  private lastHeartbeatMs = -Infinity;
  private lastFlushMs = -Infinity;
  /** Output given to the sink that the sink has not acknowledged (re-sent on reconnect). */
  readonly unsunk: HeldOutput[] = [];
  sinkDelivered = 0;
  /** Backup: log received through this lsn; the primary's sink watermark. */
  private received = 0;
  private primaryReleased = 0;
  /** Backup: output produced by replay that the sink may not have yet. */
  private pendingOut: HeldOutput[] = [];
  private pendingBytes = 0;
  private replayEnded = false;
  private sawBye = false;
  /** Why the peer is considered failed (set once). */
  private peerFailed?: string;
  private electionFor?: "alone" | "live";
  private goLiveTimes?: { detectedMs: number; silentMs: number; replayedMs: number };
  private finishReason = "";
  private program = "";
  /**
   * Primary: a new backup asked to join (set by acceptJoin, cleared when its clone fails
   * or the pair's epoch is granted), going through the stages of JoinStage.
   */
  private join?: { host: string; atMs: number; stage: JoinStage; icount: number; bytes: number; failed?: string; releasedIcount: number };
  /** The buffer a clone's memory is copied into (kept for the next clone), and how much of it has been touched. */
  private snapshotMem?: Uint8Array;
  private snapshotMemReady = 0;
  /** Backup: its last replay step had nothing more to do (reported in heartbeats). */
  private replayIdle = false;
  /** The throttle's current sleep ends here. */
  private throttledUntilMs = -Infinity;
  /** Backup: the clone being received. */
  private cloneIn?: CloneAssembler;
  /** Non-shared: this host's own disk (see localdisk.ts); undefined with a shared disk or none. */
  private localDisk?: LocalDisk;
  /** Non-shared backup: the replay source that performs requests on the own disk (see localreplay.ts). */
  private localReplay?: LocalReplaySource;
  /** Non-shared: reads are logged without data and the backup reads its own image (the primary decides). */
  private backupReads = false;
  /** Actions that arose in a disk callback (between calls): handed out by the next run(). */
  private outbox: Action[] = [];
  /** Primary: the own image being streamed to a joining backup (non-shared). */
  private diskClone?: { chunks: number; chunkBlocks: number; next: number; inFlight: number; sent: number; bytes: number };
  /** Joining backup: the image chunks expected, and how many have landed on this host's own image. */
  private diskCloneIn?: { chunks: number; chunkBlocks: number; seen: Set<number>; written: number; failed?: string };
  /** Joining backup: restored, but "restored" waits until the image has landed too. */
  private restoredUnsent = false;
  /**
   * Backup: false while a cloned backup waits for the pair's epoch: until then it is no
   * member of any epoch and may not claim one (the arbiter would refuse it anyway).
   */
  paired = true;
  /** Primary: the backup's lag, and how much the primary holds itself back because of it. */
  private readonly throttle: Throttle;
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
    this.becomeLive(1, 0);
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
    if (m.t === "clone") return this.startClone(m, nowMs);
    if (m.t !== "start" || !(m.image instanceof Uint8Array) || !Number.isSafeInteger(m.epoch)) throw new ProtocolError(`expected start from the primary, got "${m.t}"`);
    this.boot(decodeImage(new Uint8Array(m.image), "image from the primary"), m.memBytes as number, m.stackBytes as number, this.peerDisk(m.disk, m.diskMode));
    this.backupReads = this.localDisk !== undefined && m.backupReads === true;
    this.epoch = m.epoch as number;
    this.role = "backup";
    this.program = typeof m.program === "string" ? m.program : "";
    this.tracer = this.cfg.tracer?.(this.machine, { role: "backup", epoch: this.epoch, program: this.program, image: new Uint8Array(m.image) });
    this.startReplay();
    this.detector = new FailureDetector({ timeoutMs: this.cfg.timeoutMs, heartbeatMs: this.cfg.heartbeatMs }, nowMs);
    return [this.newsAction(`backup of epoch ${this.epoch}`, { event: "start" })];
  }

  /** A new backup starts from a running primary's snapshot: memory chunks follow, then the log. */
  private startClone(m: CloneMsg, nowMs: number): Action[] {
    let c: CloneAssembler;
    let image: Image;
    try {
      c = new CloneAssembler(m);
      image = decodeImage(c.image, "image from the primary");
    } catch (e) {
      throw new ProtocolError((e as Error).message);
    }
    this.boot(image, c.memBytes, c.stackBytes, this.peerDisk(c.disk, c.diskMode));
    this.backupReads = this.localDisk !== undefined && c.backupReads;
    if (this.localDisk) {
      // The primary streams its own image after the memory: it lands on ours before replay starts.
      const g = this.bus.disk.geometry;
      if (c.diskChunkBytes % g.blockBytes !== 0) throw new ProtocolError(`clone header: disk image chunks of ${c.diskChunkBytes} bytes are no multiple of the ${g.blockBytes}-byte block`);
      const chunkBlocks = c.diskChunkBytes / g.blockBytes;
      if (c.diskChunks !== Math.ceil(g.blocks / chunkBlocks)) throw new ProtocolError(`clone header: ${c.diskChunks} disk image chunks for ${g.blocks} blocks of ${g.blockBytes} bytes`);
      this.diskCloneIn = { chunks: c.diskChunks, chunkBlocks, seen: new Set(), written: 0 };
    }
    this.program = c.program;
    this.epoch = c.epoch;
    this.cloneIn = c;
    this.paired = false;
    this.role = "joining";
    this.detector = new FailureDetector({ timeoutMs: this.cfg.timeoutMs, heartbeatMs: this.cfg.heartbeatMs }, nowMs);
    const actions = [this.newsAction(`joining the primary of epoch ${c.epoch}: receiving a clone of ${c.memBytes} bytes of memory`, { event: "joining" })];
    if (c.complete) actions.push(...this.restoreClone());
    return actions;
  }

  /** The clone is complete: restore it, replay from the snapshot's lsn, tell the primary. */
  private restoreClone(): Action[] {
    const c = this.cloneIn!;
    try {
      setMachineState(this.machine, c.machineState());
      this.bus.setState(c.devices);
    } catch (e) {
      if (e instanceof StateError || e instanceof DeviceStateError) throw new ProtocolError(`clone refused: ${e.message}`);
      throw e;
    }
    this.cloneIn = undefined;
    this.tracer = this.cfg.tracer?.(this.machine, { role: "backup", epoch: this.epoch, program: this.program, image: c.image });
    const env = this.startReplay();
    env.lastLsn = c.lsn;
    env.lastUs = c.lastUs;
    this.received = c.lsn;
    // Output the primary released before the snapshot but the sink may not have: ours to
    // re-send if we go live (the sink drops what it has).
    this.pendingOut = c.unsunk;
    // Everything before the first unsunk byte reached the sink (all of it, when none is
    // unsunk): were this host to go live with the guest halted and nothing to re-send, no
    // acknowledgement would ever tell it so, and it would wait to finish forever.
    this.primaryReleased = c.unsunk.length > 0 ? c.unsunk[0].offset : this.bus.console.drainedBytes;
    this.net.keep(c.netKept);
    this.pendingBytes = c.unsunk.reduce((n, o) => n + o.bytes.length, 0);
    this.role = "backup";
    // Non-shared: the primary's image is still on its way; replay (and "restored", which
    // lets the primary claim the pair's epoch) waits until it has landed here.
    if (this.imagePending()) {
      this.restoredUnsent = true;
      return [this.newsAction(`restored the clone's memory at icount ${this.machine.icount}; receiving the disk image`, { event: "restored-memory", icount: this.machine.icount })];
    }
    return this.restoredActions();
  }

  private restoredActions(): Action[] {
    this.restoredUnsent = false;
    return [
      { kind: "send", msg: { t: "restored", icount: this.machine.icount, lsn: this.received } },
      this.newsAction(`restored the clone at icount ${this.machine.icount}; replaying, waiting for the pair's epoch`, { event: "restored", icount: this.machine.icount }),
    ];
  }

  /** A joining backup of a non-shared disk has not yet written the whole image it is being sent. */
  private imagePending(): boolean {
    const d = this.diskCloneIn;
    return d !== undefined && d.written < d.chunks;
  }

  /** The replay environment, reading from a new queue (through the own disk with a non-shared disk). */
  private startReplay(): ReplayEnv {
    const source = new QueueSource();
    this.localReplay = this.localDisk ? new LocalReplaySource(source, this.bus, this.localDisk, this.backupReads) : undefined;
    const env = new ReplayEnv(this.bus, this.localReplay ?? source, { stopAfterInput: !!this.tracer });
    this.bus.env = env;
    this.replay = { env, source, runner: new ReplayRunner(this.bus, env, { sliceIcount: this.cfg.sliceIcount, tracer: this.tracer }) };
    return env;
  }

  /** Joining backup: a chunk of the primary's image; written to this host's own image. */
  private onCloneDisk(m: CloneDiskMsg): Action[] {
    const d = this.diskCloneIn;
    if (!d) throw new ProtocolError(`unexpected "clone-disk": this backup is not receiving an image`);
    const g = this.bus.disk.geometry;
    const index = m.index as number;
    if (!Number.isSafeInteger(index) || index < 0 || index >= d.chunks || d.seen.has(index)) throw new ProtocolError(`clone: disk image chunk ${String(m.index)} is out of range or repeated`);
    const block = index * d.chunkBlocks;
    const count = Math.min(d.chunkBlocks, g.blocks - block);
    const bytes = m.bytes;
    if (!(bytes instanceof Uint8Array) || bytes.length !== count * g.blockBytes)
      throw new ProtocolError(`clone: disk image chunk ${index} has ${bytes instanceof Uint8Array ? bytes.length : "no"} bytes, expected ${count * g.blockBytes}`);
    d.seen.add(index);
    const data = new Uint8Array(bytes);
    const write = (attempt: number) =>
      this.localDisk!.writeRange(block, data, count, (status) => {
        if (this.diskCloneIn !== d) return;
        if (status === DISK_STATUS.OK) d.written++;
        else if (attempt < LOCAL_DISK_ATTEMPTS_MAX) write(attempt + 1);
        else if (!d.failed) {
          d.failed = `writing the cloned image's blocks ${block}..${block + count - 1} to this host's own image failed ${attempt} times (status ${status})`;
          this.outbox.push(...this.halt(d.failed, 1, "disk-failed"));
        }
      });
    write(1);
    return [];
  }

  /**
   * A new backup wants to join this primary, which runs alone. The next run() copies the
   * state at an instruction boundary and sends it; from then on output waits for the new
   * backup's acknowledgements; once it has restored the copy the primary claims the next
   * epoch for the pair. Returns the reason when a join is not possible now.
   */
  acceptJoin(host: string, nowMs: number): string | undefined {
    if (this.role !== "alone") return `this host is ${this.role}, not a primary running alone`;
    if (this.join) return `a clone to ${this.join.host} is already under way`;
    const g = this.bus.disk.geometry;
    if (this.localDisk && g.blocks * g.blockBytes > CLONE_DISK_BYTES_MAX)
      return `this host's own disk image of ${g.blocks * g.blockBytes} bytes exceeds the ${CLONE_DISK_BYTES_MAX} bytes a clone may stream`;
    this.join = { host, atMs: nowMs, stage: "requested", icount: 0, bytes: 0, releasedIcount: 0 };
    return undefined;
  }

  /** Copies the state at this boundary and turns this alone primary into one with a (joining) backup. */
  private sendClone(nowMs: number): Action[] {
    const j = this.join!;
    const actions: Action[] = [];
    // Everything produced so far is released (we are alone) before the copy, so the
    // console's state holds no undrained output and the copy's unsunk list is complete.
    const out = this.bus.console.drainOutput();
    if (out.length > 0) this.gate.hold({ icount: this.machine.icount, offset: this.bus.console.drainedBytes - out.length, bytes: out, atMs: nowMs });
    actions.push(...this.release(this.gate.releaseAll()));
    this.diskGate?.releaseAll();
    const machine = getMachineState(this.machine, this.snapshotMem);
    const lsn = this.live!.lastLsn;
    const msgs = cloneMessages({
      epoch: this.epoch,
      program: this.program,
      image: encodeImage(this.machine.image),
      machine,
      devices: this.bus.getState(),
      disk: this.diskGeometry(),
      lsn,
      lastUs: this.live!.virtualUs,
      unsunk: this.unsunk,
      netKept: this.net.keptChunks(),
      ...this.diskModeFields(),
      diskChunks: this.localDisk ? Math.ceil(this.bus.disk.geometry.blocks / this.cloneChunkBlocks()) : 0,
      diskChunkBytes: this.cloneChunkBlocks() * this.bus.disk.geometry.blockBytes,
    });
    for (const msg of msgs) actions.push({ kind: "send", msg });
    if (this.localDisk) {
      // Non-shared: the new backup needs this host's image as of S. New writes are held
      // from here until every chunk has been read (a write in flight at S may or may not
      // be in its chunk: the new backup performs it again, since its device lists it as
      // issued); reads go on. The chunks follow the memory on the channel.
      this.localDisk.hold();
      const g = this.bus.disk.geometry;
      const chunkBlocks = this.cloneChunkBlocks();
      this.diskClone = { chunks: Math.ceil(g.blocks / chunkBlocks), chunkBlocks, next: 0, inFlight: 0, sent: 0, bytes: 0 };
      this.pumpDiskClone();
    }
    this.plog = new PrimaryLog(this.cfg.logBufferBytesMax, lsn + 1);
    this.detector = new FailureDetector({ timeoutMs: this.cfg.timeoutMs, heartbeatMs: this.cfg.heartbeatMs }, nowMs);
    this.peerFailed = undefined;
    this.disconnected = false;
    this.lastHeartbeatMs = -Infinity;
    this.role = "primary";
    j.stage = "cloning";
    j.icount = this.machine.icount;
    j.bytes = machine.mem.length;
    actions.push(this.newsAction(`cloning: sent a snapshot at icount ${j.icount} (${j.bytes} bytes of memory) to ${j.host}`, { event: "clone", icount: j.icount, memBytes: j.bytes }));
    return actions;
  }

  private boot(image: Image, memBytes?: number, stackBytes?: number, disk?: DiskGeometry): void {
    this.machine = new Machine(image, { memBytes, stackBytes });
    this.cfg.attachEngine?.(this.machine);
    this.bus = new Bus(this.machine, undefined as never, { disk });
    this.localDisk = this.nonShared && disk && disk.blocks > 0 && this.cfg.disk ? new LocalDisk(this.cfg.disk) : undefined;
  }

  /** Blocks per "clone-disk" chunk: cloneDiskChunkBytes rounded down to whole blocks (at least one). */
  private cloneChunkBlocks(): number {
    const bs = this.bus.disk.geometry.blockBytes;
    const want = Math.min(CLONE_DISK_CHUNK_BYTES, this.cfg.cloneDiskChunkBytes ?? CLONE_DISK_CHUNK_BYTES);
    return Math.max(1, Math.floor(want / bs));
  }

  private get nonShared(): boolean {
    return this.cfg.diskMode === "non-shared";
  }

  /** What "start" and "clone" say about the disk's mode (nothing for a shared disk: older peers understand that). */
  private diskModeFields(): { diskMode?: DiskMode; backupReads?: boolean } {
    return this.localDisk ? { diskMode: "non-shared", backupReads: this.backupReads } : {};
  }

  /** Reads the next chunks of the own image for the joining backup (a few at a time); each becomes a "clone-disk" message. */
  private pumpDiskClone(): void {
    const c = this.diskClone;
    if (!c) return;
    const g = this.bus.disk.geometry;
    while (c.inFlight < CLONE_DISK_READS_IN_FLIGHT && c.next < c.chunks) {
      const index = c.next++;
      const block = index * c.chunkBlocks;
      const count = Math.min(c.chunkBlocks, g.blocks - block);
      c.inFlight++;
      const read = (attempt: number) =>
        this.localDisk!.readRange(block, count, (status, data) => {
          if (this.diskClone !== c) return; // the clone failed meanwhile
          if (status !== DISK_STATUS.OK || !data) {
            if (attempt < LOCAL_DISK_ATTEMPTS_MAX) return read(attempt + 1);
            this.outbox.push(...this.peerGone(`reading this host's image for the clone failed ${attempt} times (blocks ${block}..${block + count - 1})`, this.lastRunMs));
            return;
          }
          c.inFlight--;
          c.sent++;
          c.bytes += data.length;
          this.outbox.push({ kind: "send", msg: { t: "clone-disk", index, bytes: data } });
          if (c.sent === c.chunks) {
            this.diskClone = undefined;
            this.localDisk!.releaseHeld();
            this.outbox.push(this.newsAction(`clone: sent the disk image (${c.bytes} bytes in ${c.chunks} chunks); held writes released`, { event: "clone-disk", bytes: c.bytes }));
          } else this.pumpDiskClone();
        });
      read(1);
    }
  }

  /** The clone stopped (failed): stop streaming the image and perform the writes held for it. */
  private stopDiskClone(): void {
    if (!this.diskClone) return;
    this.diskClone = undefined;
    this.localDisk?.releaseHeld();
  }

  /** The geometry the peer sent in "start" or "clone" (none: no disk); a disk this host could not serve live is refused now, not at failover. */
  private peerDisk(raw: unknown, mode: unknown): DiskGeometry | undefined {
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

  private diskGeometry(): DiskGeometry | undefined {
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

  private becomeLive(firstLsn: number, startUs: number): void {
    this.net.startFrom(this.bus.nic);
    // A new LiveEnv lists every disk request started but not completed (the device's issued
    // requests): through this gate they are issued again, in the new epoch.
    let world = this.cfg.world;
    this.diskGate = undefined;
    if (this.localDisk) {
      // Non-shared: the own image, at once (see localdisk.ts for why no output rule).
      const w = this.cfg.world;
      world = { hostId: w.hostId, nowUs: () => w.nowUs(), random32: () => w.random32(), disk: this.localDisk, ...(w.net ? { net: w.net } : {}) };
    } else if (this.bus.disk.geometry.blocks > 0 && this.cfg.disk) {
      const w = this.cfg.world;
      this.diskGate = new DiskGate(this.cfg.disk, () => this.machine.icount, () => this.epoch);
      world = { hostId: w.hostId, nowUs: () => w.nowUs(), random32: () => w.random32(), disk: this.diskGate, ...(w.net ? { net: w.net } : {}) };
    }
    this.live = new LiveEnv(
      this.bus,
      world,
      (e: Event) => {
        // --backup-reads: a read's bytes stay out of the log; the backup reads its own image.
        this.plog?.add(this.backupReads && e.kind === EV.DISK_DONE ? { ...e, data: withoutReadData(e.data as DiskCompletion) } : e);
        this.net.noteLogged(e, this.bus.nic);
        this.consoleIn.noteLogged(e);
        this.cfg.recorder?.add(e, this.epoch);
      },
      { firstLsn, startUs, unloggedRand: this.cfg.unloggedRand, stopAfterInput: !!this.tracer, onDelivered: this.tracer ? traceDelivered(this.tracer) : undefined },
    );
    this.bus.env = this.live;
    this.consoleIn.startFrom(this.bus.console.receivedBytes, this.bus.console.inputEnded());
    this.cfg.recorder?.open({ program: this.program, image: encodeImage(this.machine.image), memBytes: this.machine.memBytes, stackBytes: this.machine.stackBytes, disk: this.diskGeometry() });
    this.liveRunner = new LiveRunner(this.bus, this.live, { maxIcount: this.cfg.crashAtIcount, sliceIcount: this.cfg.sliceIcount, tracer: this.tracer });
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
    if (this.role === "idle") return this.startBackup(m, nowMs);
    if (this.peerFailed) return [];
    this.detector?.heard(nowMs, m.t === "hb");
    if (this.role === "primary" || ((this.role === "electing" || this.role === "finishing") && this.plog)) {
      // The backup's heartbeats carry its received lsn too: a cumulative ack that covers
      // a lost last acknowledgement.
      if (m.t === "ack" || (m.t === "hb" && m.lsn !== undefined)) {
        if (!Number.isSafeInteger(m.lsn) || !Number.isSafeInteger(m.icount)) throw new ProtocolError(`${m.t} needs lsn and icount`);
        try {
          this.plog!.onAck(m.lsn as number, m.icount as number);
        } catch (e) {
          if (e instanceof AckError) throw new ProtocolError(e.message);
          throw e;
        }
        // A heartbeat says whether the backup had replayed everything it had: the throttle
        // must not read a backup that waits for log as a slow one.
        if (m.t === "hb") this.throttle.backupReport(m.idle === true);
        // While electing, the backup may be about to go live: nothing is released until we win.
        if (this.role === "electing") return [];
        this.diskGate?.release(this.plog!.heldIcount);
        return [...this.release(this.gate.release(this.plog!.ackedIcount)), ...this.handoverActions()];
      }
      if (m.t === "hb") return [];
      // The guest finished while the joiner copied: there is no pair to form any more.
      if (m.t === "restored" && this.join?.stage === "cloning" && this.role === "finishing") return [];
      if (m.t === "restored" && this.join?.stage === "cloning" && this.role === "primary") {
        // The new backup holds the copy. From here output waits for its acknowledgements
        // again; the pair's epoch is claimed once it has the log through everything
        // released while it copied (at once if it already has: see handoverActions).
        this.join.stage = "handover";
        return [...this.flush(nowMs), ...this.handoverActions()];
      }
      throw new ProtocolError(`unexpected "${m.t}" from the backup`);
    }
    if (this.role === "joining") {
      if (m.t === "hb") return [];
      if (m.t === "clone-disk") return this.onCloneDisk(m);
      if (m.t !== "clone-mem") throw new ProtocolError(`expected the clone's memory, got "${m.t}"`);
      try {
        this.cloneIn!.add(m);
      } catch (e) {
        if (e instanceof CloneError) throw new ProtocolError(e.message);
        throw e;
      }
      return this.cloneIn!.complete ? this.restoreClone() : [];
    }
    if (this.role === "backup") {
      if (m.t === "log") return this.onLog(m);
      if (m.t === "clone-disk") return this.onCloneDisk(m);
      if (m.t === "paired") {
        if (this.paired || m.epoch !== this.epoch + 1) throw new ProtocolError(`unexpected paired for epoch ${String(m.epoch)} (this backup: epoch ${this.epoch}${this.paired ? ", paired" : ""})`);
        this.epoch = m.epoch as number;
        this.paired = true;
        return [this.newsAction(`paired with the primary in epoch ${this.epoch}: ready to take over`, { event: "paired-backup" })];
      }
      if (m.t === "bye") {
        this.sawBye = true;
        return [];
      }
      if (m.t === "hb") {
        // The primary's heartbeat says how far it has sent: on an ordered channel, anything
        // beyond what arrived was lost without the connection closing. Cut rather than wait.
        if (typeof m.sentLsn === "number" && m.sentLsn > this.received)
          throw new ProtocolError(`log lost: the primary sent through lsn ${m.sentLsn}, only ${this.received} arrived`);
        return [];
      }
      throw new ProtocolError(`unexpected "${m.t}" from the primary`);
    }
    return [];
  }

  private onLog(m: LogMsg): Action[] {
    let events: Event[];
    try {
      events = toEvents(m.events, 0);
    } catch (e) {
      throw new ProtocolError((e as Error).message);
    }
    const fresh = events.filter((e) => e.lsn > this.received);
    if (fresh.length && fresh[0].lsn !== this.received + 1) throw new ProtocolError(`log gap: expected lsn ${this.received + 1}, got ${fresh[0].lsn}`);
    if (!this.replay!.source.push(fresh)) throw new ProtocolError(`replay queue full (${this.replay!.source.capacityEvents} events)`);
    if (fresh.length) this.received = fresh[fresh.length - 1].lsn;
    if (typeof m.released === "number" && m.released > this.primaryReleased) this.primaryReleased = m.released;
    return [{ kind: "send", msg: { t: "ack", lsn: this.received, icount: this.machine.icount } }];
  }

  /** The log channel closed (or was refused): the peer is gone. */
  onPeerClosed(reason: string, nowMs: number): Action[] {
    // Catch-up: a closed channel between two live hosts may be a blip. The backup tries to
    // reconnect at once (a refused connection means the primary is gone: fail over then);
    // the primary keeps running, holds output and keeps the unacknowledged log for it. The
    // failure detector still decides if nothing is heard within the timeout.
    if (!this.peerFailed && !this.disconnected) {
      if ((this.role === "primary" || (this.role === "finishing" && this.plog)) && !this.join && this.backupHost) {
        this.disconnected = true;
        return [this.newsAction(`the log channel closed (${reason || "no reason"}); holding output while the backup may reconnect`, { event: "disconnected" })];
      }
      // After "bye" the primary finished: a closed channel is the normal end.
      if (this.role === "backup" && this.paired && !this.sawBye) {
        this.disconnected = true;
        return [{ kind: "reconnect", lsn: this.received }];
      }
    }
    return this.peerGone(`the log channel closed (${reason || "no reason"})`, nowMs);
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
    if (this.join?.stage === "electing" && (this.role === "primary" || this.role === "finishing")) return this.onPairTas(r, nowMs);
    if (this.role !== "electing") return [];
    if (!r.granted && this.electionFor === "live" && r.state.epoch === this.epoch + 1 && r.state.members.includes(this.cfg.id) && r.state.holder !== this.cfg.id) {
      // The primary won the pair's epoch with this backup in it, but its "paired" never
      // arrived: this host is a member of that epoch, so it may claim the next one.
      this.epoch = r.state.epoch;
      this.paired = true;
      return [this.newsAction(`the primary had paired with this host in epoch ${this.epoch}; claiming the next`, { event: "paired-backup" }), ...this.elect()];
    }
    const epoch = this.epoch + 1;
    if (!r.granted && this.electionFor === "live" && !this.paired && r.state.epoch === this.epoch) {
      // A cloned backup that is not paired yet is refused as no member. But its primary's
      // claim for the pair's epoch (with this host in it) may still be on its way or being
      // retried: if it is granted after we gave up, the pair's only survivor would have
      // halted. So ask again for a while; the refusal's state shows when we are a member.
      this.unpairedClaimSinceMs ??= nowMs;
      if (nowMs - this.unpairedClaimSinceMs < UNPAIRED_CLAIM_RETRY_MS) {
        this.retryElectAtMs = nowMs + this.cfg.timeoutMs;
        return [];
      }
    }
    if (!r.granted) return this.halt(`lost the test-and-set for epoch ${epoch} (${r.reason})`, 3, "lost-election");
    this.epoch = epoch;
    const actions: Action[] = [];
    if (this.electionFor === "alone") {
      // The backup failed: stop logging, release everything held, go on alone.
      this.role = "alone";
      this.plog = undefined;
      actions.push(this.newsAction(`won epoch ${epoch} alone: backup failed: ${this.peerFailed}`, { event: "alone" }));
      actions.push(...this.release(this.gate.releaseAll()));
      this.diskGate?.releaseAll();
      if (this.finishAfterElection) {
        // The guest stopped during the election: end the log (once) and finish alone.
        if (!this.endLogged) actions.push(...this.finish(this.finishReason, nowMs));
        else {
          this.role = "finishing";
          actions.push(...this.finishing(nowMs));
        }
      }
      return actions;
    }
    // The primary failed and we won: devices switch from replay to live; the timer re-arms
    // from its programmed period; the output the old primary may have released goes again
    // (the sink drops what it has).
    const env = this.replay!.env;
    const t = this.goLiveTimes!;
    const resent = this.pendingOut.reduce((n, c) => n + c.bytes.length, 0);
    // What the old primary knew had reached the sink did: a guest that already halted,
    // with nothing to re-send, finishes without waiting for an acknowledgement.
    if (this.primaryReleased > this.sinkDelivered) this.sinkDelivered = this.primaryReleased;
    actions.push(...this.release(this.pendingOut));
    // Kept, not taken: like any primary's released output it stays until the switch reports
    // it written, so a shell that has no switch channel now sends it when it connects
    // (found by the network simulator: ftvm sim --net --seed 32).
    const netResent = [...this.net.keptChunks()];
    if (netResent.length > 0) actions.push({ kind: "net-out", epoch, chunks: netResent });
    this.pendingOut = [];
    this.pendingBytes = 0;
    this.gate.startAt(this.bus.console.drainedBytes);
    this.replay = undefined;
    if (this.localReplay) {
      // Non-shared: everything replay performed has landed (see "draining"). The requests
      // the guest saw start but not complete are issued again by the new LiveEnv; restoring
      // the device's own state lists them as issued-but-unsubmitted (see Disk.setState).
      if (this.imagePending()) return this.halt("won the epoch before the cloned disk image had landed: this host has no image to serve", 1, "no-state");
      this.localReplay = undefined;
      this.localDisk!.forgetAll();
      this.bus.disk.setState(this.bus.disk.getState());
    }
    this.becomeLive(env.lastLsn + 1, env.lastUs);
    this.tracer?.liveMark(epoch);
    this.tracer?.flush();
    this.role = "alone";
    actions.push(
      this.newsAction(`went live at icount ${this.machine.icount} in epoch ${epoch}: primary failed: ${this.peerFailed}`, {
        event: "live",
        icount: this.machine.icount,
        silentMs: Math.round(t.silentMs),
        replayMs: Math.round(t.replayedMs - t.detectedMs),
        electMs: Math.round(nowMs - t.replayedMs),
        resent,
      }),
    );
    if (this.replayEnded || this.machine.halted || this.machine.trap) actions.push(...this.finish(this.machine.trap ? "trapped" : "halted", nowMs));
    return actions;
  }

  /** Heartbeats and failure detection; call every heartbeatMs or so. */
  tick(nowMs: number): Action[] {
    const actions: Action[] = [];
    const paired = this.role === "primary" || this.role === "backup" || this.role === "joining" || (this.role === "finishing" && this.plog !== undefined);
    if (!paired || this.peerFailed) return actions;
    if (nowMs - this.lastHeartbeatMs >= this.cfg.heartbeatMs) {
      this.lastHeartbeatMs = nowMs;
      const msg: Msg =
        this.role === "backup" || this.role === "joining" ? { t: "hb", icount: this.machine.icount, lsn: this.received, idle: this.replayIdle } : { t: "hb", icount: this.machine.icount, sentLsn: this.plog?.sentLsn ?? 0 };
      actions.push({ kind: "send", msg });
    }
    if (this.detector!.suspect(nowMs)) actions.push(...this.peerGone(this.detector!.describe(nowMs), nowMs));
    else if (this.disconnected && this.role !== "backup" && this.detector!.silentMs(nowMs) > this.reconnectGraceMs())
      // The channel closed and the backup, which reconnects at once when it lives, has not:
      // most likely its process died (its kernel closed the socket). Output is held
      // meanwhile, so this waits far less than the silence floor.
      actions.push(...this.peerGone(`the log channel closed and the backup did not reconnect within ${this.reconnectGraceMs()} ms of this host's running time`, nowMs));
    return actions;
  }

  private peerGone(why: string, nowMs: number): Action[] {
    if (this.peerFailed || this.role === "halted" || this.role === "finished") return [];
    if (this.role === "backup" && this.sawBye) return [];
    this.peerFailed = why;
    const actions: Action[] = [{ kind: "cut", reason: why }];
    if (this.join && this.join.stage !== "requested" && (this.role === "primary" || this.role === "finishing")) {
      // A new backup failed while joining. Before the arbiter is asked, the pair never
      // existed and this host still holds its epoch alone; while it decides, wait for the
      // answer (if granted, the dead backup is a member and must be fenced by a new epoch).
      if (this.join.stage === "electing") {
        this.join.failed = why;
        return actions;
      }
      actions.push(...this.cloneFailed(why, nowMs));
      return actions;
    }
    if (this.role === "joining") {
      actions.push(...this.halt(`the primary failed before the clone was complete (${why}): this host has no state to serve`, 3, "no-state"));
      return actions;
    }
    if (this.role === "primary" || (this.role === "finishing" && this.plog)) {
      // Keep executing, but release nothing until the arbiter says we are alone.
      const finishing = this.role === "finishing";
      this.electionFor = "alone";
      actions.push(...this.elect());
      if (finishing) this.finishAfterElection = true;
      return actions;
    }
    if (this.role === "backup") {
      // Next run(): replay everything received, so the guest reaches exactly the state
      // the old primary had at its last logged point; the run after that claims the
      // next epoch (two calls, so the shell's clock readings split replay from election).
      this.goLiveTimes = { detectedMs: nowMs, silentMs: this.detector!.silentMs(nowMs), replayedMs: nowMs };
      this.role = "draining";
    }
    return actions;
  }

  private finishAfterElection = false;
  /** Primary: the identity of its paired backup. */
  private backupHost?: string;
  /** The log channel closed and the peer may come back (see onPeerClosed). */
  private disconnected = false;
  /** An unpaired backup's claim was refused: when it first was, and when to ask again. */
  private unpairedClaimSinceMs?: number;
  private retryElectAtMs?: number;

  /**
   * Primary: the backup reconnected having received the log through `lsn`. Returns the
   * actions (the log it missed) or the reason it cannot continue from there.
   */
  acceptResume(host: string, lsn: number, nowMs: number): Action[] | string {
    const paired = this.role === "primary" || (this.role === "finishing" && this.plog !== undefined);
    if (!paired || this.peerFailed || this.join) return `this host is ${this.peerFailed ? "no longer paired" : this.role}, not a primary waiting for its backup`;
    if (host !== this.backupHost) return `host ${host} is not this primary's backup`;
    const events = this.plog!.resendAfter(lsn);
    if (!events) return `the log after lsn ${lsn} is no longer held here (acknowledged ${this.plog!.ackedLsn}, sent ${this.plog!.sentLsn})`;
    this.disconnected = false;
    this.detector!.heard(nowMs, false);
    const actions: Action[] = [{ kind: "send", msg: { t: "resumed", lsn } }];
    // Messages of at most RESEND_EVENTS_PER_MESSAGE events and about LOG_BATCH_BYTES_MAX
    // bytes (disk reads' data makes events large), far below the channel's message bound.
    for (let i = 0; i < events.length; ) {
      let j = i;
      let bytes = 0;
      while (j < events.length && j - i < RESEND_EVENTS_PER_MESSAGE && (j === i || bytes < LOG_BATCH_BYTES_MAX)) bytes += eventBytes(events[j++]);
      const part = events.slice(i, j);
      i = j;
      actions.push({ kind: "send", msg: { t: "log", events: part.map((e) => [e.lsn, e.icount, e.kind, e.data]), released: this.sinkDelivered } });
    }
    actions.push(this.newsAction(`the backup reconnected at lsn ${lsn}; re-sent ${events.length} events`, { event: "resumed", resent: events.length }));
    return actions;
  }

  /** Backup: the primary took us back on a new channel. */
  onResumed(nowMs: number): Action[] {
    if (!this.disconnected || this.role !== "backup") return [];
    this.disconnected = false;
    this.detector!.heard(nowMs, false);
    return [this.newsAction(`reconnected to the primary at lsn ${this.received}`, { event: "resumed" }), { kind: "send", msg: { t: "ack", lsn: this.received, icount: this.machine.icount } }];
  }

  /** Backup: reconnecting failed (nobody listens, or no answer): the primary is gone. */
  onReconnectFailed(reason: string, nowMs: number): Action[] {
    if (!this.disconnected) return [];
    this.disconnected = false;
    return this.peerGone(`the log channel closed and reconnecting failed (${reason})`, nowMs);
  }

  /**
   * Backup: the primary is alive but will not take us back (it gave up on us and is
   * going on alone). Let the arbiter decide: if the primary already won an epoch without
   * us, our claim is refused and we halt (a new backup is cloned in); if it has not, and
   * dies before it does, we are the epoch's only surviving member and must be able to serve.
   */
  onResumeRefused(reason: string, nowMs: number): Action[] {
    if (!this.disconnected) return [];
    this.disconnected = false;
    return this.peerGone(`the primary refused to resume (${reason})`, nowMs);
  }

  private cloneFailed(why: string, nowMs: number): Action[] {
    const host = this.join!.host;
    this.join = undefined;
    this.plog = undefined;
    this.detector = undefined;
    if (this.role === "primary") this.role = "alone";
    this.stopDiskClone();
    const actions: Action[] = [this.newsAction(`the clone to ${host} failed (${why}); still alone in epoch ${this.epoch}`, { event: "clone-failed" })];
    actions.push(...this.release(this.gate.releaseAll()));
    this.diskGate?.releaseAll();
    if (this.role === "finishing") actions.push(...this.finishing(nowMs));
    return actions;
  }

  /** The arbiter answered the claim of the next epoch for this primary and its cloned backup. */
  private onPairTas(r: TasResult, nowMs: number): Action[] {
    const j = this.join!;
    this.join = undefined;
    if (!r.granted) return this.halt(`lost the test-and-set for the pair's epoch ${this.epoch + 1} (${r.reason})`, 3, "lost-election");
    this.epoch += 1;
    this.backupHost = j.host;
    const actions: Action[] = [];
    if (!j.failed) actions.push({ kind: "send", msg: { t: "paired", epoch: this.epoch } });
    actions.push(
      this.newsAction(`redundancy restored: ${j.host} joined from a snapshot at icount ${j.icount}; epoch ${this.epoch}`, {
        event: "paired",
        icount: j.icount,
        memBytes: j.bytes,
        cloneMs: Math.round(nowMs - j.atMs),
      }),
    );
    if (j.failed) {
      this.peerFailed = undefined;
      actions.push(...this.peerGone(j.failed, nowMs));
    }
    return actions;
  }

  /** Hand-over: once the joiner has the log through all output released while it copied, claim the pair's epoch. */
  private handoverActions(): Action[] {
    const j = this.join;
    if (j?.stage !== "handover" || this.role !== "primary" || this.plog!.ackedIcount < j.releasedIcount) return [];
    j.stage = "electing";
    return [{ kind: "tas", req: { epoch: this.epoch + 1, host: this.cfg.id, members: [this.cfg.id, j.host] } }];
  }

  /** How long a primary whose channel closed waits for its backup to reconnect (ms of its own running time). */
  private reconnectGraceMs(): number {
    return Math.min(this.cfg.timeoutMs, Math.max(RECONNECT_GRACE_HEARTBEATS * this.cfg.heartbeatMs, this.cfg.timeoutMs / 4));
  }

  private elect(): Action[] {
    this.role = "electing";
    return [{ kind: "tas", req: { epoch: this.epoch + 1, host: this.cfg.id, members: [this.cfg.id] } }];
  }

  // ---- running ---------------------------------------------------------------------

  /** When run() was last called (for actions that arise in disk callbacks between calls). */
  private lastRunMs = 0;

  /** Runs one slice (or does nothing when there is nothing to do). */
  run(nowMs: number): RunResult {
    this.lastRunMs = nowMs;
    const r = this.runRole(nowMs);
    if (this.outbox.length > 0) {
      // Actions from disk callbacks since the last call (image chunks, a failed clone) go first.
      r.actions = [...this.outbox.splice(0), ...r.actions];
      r.idle = false;
    }
    return r;
  }

  private runRole(nowMs: number): RunResult {
    switch (this.role) {
      case "primary":
      case "alone":
        return this.runLive(nowMs);
      case "electing":
        // The old primary keeps executing while it waits (output stays held).
        if (this.electionFor === "alone" && !this.finishAfterElection) return this.runLive(nowMs);
        if (this.retryElectAtMs !== undefined) {
          if (nowMs < this.retryElectAtMs) return { actions: [], idle: true, wakeAtMs: this.retryElectAtMs };
          this.retryElectAtMs = undefined;
          return { actions: this.elect(), idle: true };
        }
        return { actions: [], idle: true };
      case "backup":
        return this.runReplay();
      case "draining":
        if (!this.drained) {
          // A backup whose cloned image has not landed cannot serve (nor replay): the
          // arbiter refuses it anyway, as it never paired.
          const actions = this.imagePending() ? [] : this.drainReplay();
          if ((this.role as Role) !== "draining") return { actions, idle: true };
          // Non-shared: a completion waits for the own disk; the shell wakes us when it settles.
          if (this.localReplay?.blocked) return { actions, idle: true };
          this.drained = true;
          return { actions, idle: false };
        }
        // Non-shared: what the backup performed for replay lands before it goes live.
        if (this.localDisk && this.localDisk.inFlight > 0 && !this.imagePending()) return { actions: [], idle: true };
        this.goLiveTimes!.replayedMs = nowMs;
        this.electionFor = "live";
        return { actions: this.elect(), idle: true };
      case "finishing":
        return { actions: this.finishing(nowMs), idle: true };
      default:
        return { actions: [], idle: true };
    }
  }

  private runLive(nowMs: number): RunResult {
    const m = this.machine;
    if (this.cfg.crashAtIcount !== undefined && m.icount >= this.cfg.crashAtIcount) {
      if (!this.cfg.crashOnlyPaired || (this.role === "primary" && !this.join)) return { actions: [{ kind: "crash", icount: m.icount }], idle: true };
      // No paired backup yet (see crashOnlyPaired): keep the log flowing to a joiner and wait.
      if (!(this.join?.stage === "requested" && this.role === "alone")) return { actions: this.flush(nowMs), idle: true, wakeAtMs: nowMs + CRASH_WAIT_POLL_MS };
    }
    // A join waits for a boundary: this is one (a run() call never splits an instruction).
    // First the copy's buffer is touched, a piece per run between guest slices: touching
    // fresh memory costs page faults (about 10 ms per 16 MiB here), which would otherwise
    // all fall into the pause; with them out of the way the pause is one memcpy.
    if (this.join?.stage === "requested" && this.role === "alone") {
      const need = this.machine.memBytes;
      if (this.snapshotMem?.length !== need) {
        this.snapshotMem = new Uint8Array(need);
        this.snapshotMemReady = 0;
      }
      if (this.snapshotMemReady < need) {
        const end = Math.min(need, this.snapshotMemReady + PREFAULT_BYTES_PER_RUN);
        this.snapshotMem.fill(0, this.snapshotMemReady, end);
        this.snapshotMemReady = end;
      } else return { actions: this.sendClone(nowMs), idle: false };
    }
    // Throttled: a message that woke the shell early does not cut the sleep short.
    if (this.role === "primary" && nowMs < this.throttledUntilMs) return { actions: [], idle: true, wakeAtMs: this.throttledUntilMs };
    const actions: Action[] = [];
    if ((this.plog && (this.gate.full() || this.net.full() || this.plog.full())) || this.net.keptFull()) {
      // Bounded buffers: pause execution until the backup catches up, or the switch
      // confirms the network output it has (nothing is dropped).
      actions.push(...this.flush(nowMs));
      return { actions, idle: true, wakeAtMs: nowMs + 50 };
    }
    const r = this.liveRunner!.step();
    const out = this.bus.console.drainOutput();
    if (out.length > 0) this.gate.hold({ icount: m.icount, offset: this.bus.console.drainedBytes - out.length, bytes: out, atMs: nowMs });
    this.net.hold(this.bus.nic.drainOutput(), m.icount);
    if (r === "max-icount" && this.cfg.crashAtIcount !== undefined && m.icount >= this.cfg.crashAtIcount) {
      // Crash without flushing: whatever the backup has not received is lost, as in a real crash.
      if (!this.cfg.crashOnlyPaired || (this.role === "primary" && !this.join)) {
        actions.push({ kind: "crash", icount: m.icount });
        return { actions, idle: true };
      }
      // Not paired: the next run() waits at the top for a backup.
      return { actions, idle: false };
    }
    if (r === "halted" || r === "trapped" || r === "max-icount") {
      if (this.role === "electing") {
        // Finish once the election is decided.
        this.finishAfterElection = true;
        this.finishReason = r;
        return { actions, idle: true };
      }
      actions.push(...this.finish(r, nowMs));
      return { actions, idle: true };
    }
    // Held output and held disk writes wait for the batch that covers them; a batch also
    // closes once the disk reads' data in it passes LOG_BATCH_BYTES_MAX, and when the guest
    // waits (WFI) — but then at most every WAIT_FLUSH_GAP_MS: a guest that waits on each
    // disk request in turn would otherwise send a batch, and get an acknowledgement, per
    // request (diskmix.s did 10,000 round trips a run that way and ran at a third of its
    // speed alone). A wait that could not flush ends by the gap instead (see below).
    const flushIntervalMs = this.cfg.flushIntervalMs ?? FLUSH_INTERVAL_MS_DEFAULT;
    const sinceFlushMs = nowMs - this.lastFlushMs;
    if (
      this.hasHeldOutput() ||
      sinceFlushMs >= flushIntervalMs ||
      (r === "waiting" && sinceFlushMs >= WAIT_FLUSH_GAP_MS) ||
      (this.plog !== undefined && this.plog.pendingBytes >= LOG_BATCH_BYTES_MAX)
    )
      actions.push(...this.flush(nowMs));
    if (this.plog && this.role === "primary") {
      // The backup trails: slow down (gradually) so the lag, and a failover's replay, stay bounded.
      this.throttle.sample(nowMs, m.icount);
      const sleep = this.throttle.sleepMs(nowMs, this.throttle.lagMs(nowMs, m.icount, this.plog.backupIcount));
      if (sleep > 0) {
        // A slice that ended waiting (WFI) sleeps too: its wake-up waits for the later of
        // the timer and the end of the sleep (see below and the top of runLive).
        this.throttledUntilMs = nowMs + sleep;
        // The backup catches up while we sleep: give it everything we have first.
        if (this.lastFlushMs !== nowMs) actions.push(...this.flush(nowMs));
        if (r !== "waiting") return { actions, idle: true, wakeAtMs: this.throttledUntilMs };
      }
    }
    if (r === "waiting") {
      const deadline = this.live!.timerDeadline();
      if (this.live!.hasPending()) return { actions, idle: false };
      const timerAtMs = deadline === undefined ? undefined : nowMs + Math.max(0, (deadline - this.live!.nowUs()) / 1000);
      let wakeAtMs = timerAtMs === undefined ? undefined : Math.max(timerAtMs, this.throttledUntilMs);
      // Whatever the guest did before it waited reaches the backup within WAIT_FLUSH_GAP_MS.
      if (this.plog && !this.peerFailed && this.plog.hasUnsent(m.icount)) wakeAtMs = Math.min(wakeAtMs ?? Infinity, this.lastFlushMs + WAIT_FLUSH_GAP_MS);
      return { actions, idle: true, wakeAtMs };
    }
    return { actions, idle: false };
  }

  /** Ships the current batch (with a PROGRESS mark), or releases output when alone. */
  private flush(nowMs: number): Action[] {
    this.lastFlushMs = nowMs;
    // The trace reaches its file before the log that covers it leaves: a primary killed
    // later has traced every instruction its backup will replay.
    this.tracer?.flush();
    if (this.role === "alone") {
      this.diskGate?.releaseAll();
      return this.release(this.gate.releaseAll());
    }
    if (!this.plog || this.peerFailed) return [];
    const batch = this.plog.takeBatch(this.machine.icount, () => this.live!.mark(EV.PROGRESS, null));
    const actions: Action[] = batch ? [{ kind: "send", msg: { t: "log", events: batch.map((e) => [e.lsn, e.icount, e.kind, e.data]), released: this.sinkDelivered } }] : [];
    if (this.join?.stage === "cloning" && this.role === "primary") {
      // The joiner is no member yet: release as if alone, and remember how far (see JoinStage).
      this.join.releasedIcount = this.machine.icount;
      this.diskGate?.releaseAll();
      actions.push(...this.release(this.gate.releaseAll()));
    }
    return actions;
  }

  private release(chunks: HeldOutput[]): Action[] {
    const actions: Action[] = [];
    for (const c of chunks) {
      this.unsunk.push(c);
      actions.push({ kind: "output", epoch: this.epoch, offset: c.offset, bytes: c.bytes, atMs: c.atMs });
    }
    actions.push(...this.netRelease());
    return actions;
  }

  /** Network output goes with console output: through the acknowledged icount, or all of it when alone. */
  private netRelease(): Action[] {
    if (this.net.heldCount === 0) return [];
    const cloning = this.join?.stage === "cloning" && this.role === "primary";
    const limit = !this.plog || this.role === "alone" || cloning ? Number.MAX_SAFE_INTEGER : this.peerFailed || this.role === "electing" ? -1 : this.plog.ackedIcount;
    const chunks = this.net.release(limit);
    // Kept until the switch says it wrote them (its marks trim them), so a clone taken
    // before then carries them: were this primary to die right after pairing, its new
    // backup re-sends them (the switch drops what it has).
    this.net.keep(chunks);
    return chunks.length > 0 ? [{ kind: "net-out", epoch: this.epoch, chunks }] : [];
  }

  private endLogged = false;

  private finish(reason: string, nowMs: number): Action[] {
    this.finishReason = reason;
    this.liveRunner!.end(reason);
    this.endLogged = true;
    const actions = this.flush(nowMs);
    this.role = "finishing";
    actions.push(...this.finishing(nowMs));
    return actions;
  }

  /** The guest stopped: the last output leaves once the log is acknowledged (or we are alone), then "done". */
  private finishing(nowMs: number): Action[] {
    // A joiner that is no member yet (see JoinStage) need not have the log: the guest's
    // last output does not wait for it. Once the pair's epoch is being claimed, it must.
    const joinerOnly = this.join !== undefined && this.join.stage !== "electing";
    if (this.plog && !this.peerFailed && !joinerOnly && this.plog.ackedLsn < this.plog.lastLsn) return [];
    if (this.plog && this.peerFailed) return []; // the election decides
    this.diskGate?.releaseAll();
    const actions = this.release(this.gate.releaseAll());
    if (this.sinkDelivered < this.bus.console.drainedBytes) return actions;
    // Non-shared: "done" only once the own image holds every write (the launcher keeps it).
    if (this.localDisk && (this.localDisk.inFlight > 0 || this.localDisk.heldCount > 0)) return actions;
    this.role = "finished";
    actions.push({ kind: "send", msg: { t: "bye", reason: this.finishReason } });
    actions.push({
      kind: "done",
      data: { reason: this.finishReason, icount: this.machine.icount, epoch: this.epoch, delivered: this.sinkDelivered, trap: this.machine.trap, logBytes: this.plog?.totalBytes ?? 0, logEvents: this.plog?.totalEvents ?? 0, lagMsMax: this.throttle.lagMsMax, throttleMax: this.throttle.levelMax },
    });
    return actions;
  }

  private runReplay(): RunResult {
    const rp = this.replay!;
    if (this.imagePending()) return { actions: [], idle: true };
    if (this.restoredUnsent) return { actions: this.restoredActions(), idle: false };
    if (this.sawBye && this.replayEnded) {
      this.role = "finished";
      return { actions: [], idle: true };
    }
    if (this.pendingBytes > BACKUP_OUTPUT_BYTES_MAX || this.net.keptFull()) return { actions: [], idle: true };
    const until = this.cfg.crashAtIcount ?? Number.MAX_SAFE_INTEGER;
    if (this.machine.icount >= until) return { actions: [{ kind: "crash", icount: this.machine.icount }], idle: true };
    let r;
    try {
      r = rp.runner.step(this.machine.icount, until);
    } catch (e) {
      if (e instanceof DivergenceError) return { actions: this.diverged(e), idle: true };
      throw e;
    }
    this.collectReplayOutput();
    // Requests this slice issued go to the own disk now, not at the next completion.
    this.localReplay?.submitIssued();
    if (r === "end") this.replayEnded = true;
    const idle = r === "needs-log" || r === "end" || r === "halted" || r === "trapped";
    // Waiting for the own disk is not waiting for log: the throttle must see a slow backup.
    this.replayIdle = idle && !this.localReplay?.blocked;
    return { actions: [], idle };
  }

  private collectReplayOutput(): void {
    // Drained after every replay step, as on the primary: the card's stop-before-full rule depends on it.
    this.net.keep(this.bus.nic.drainOutput());
    const out = this.bus.console.drainOutput();
    if (out.length) {
      this.pendingOut.push({ icount: this.machine.icount, offset: this.bus.console.drainedBytes - out.length, bytes: out });
      this.pendingBytes += out.length;
    }
    while (this.pendingOut.length && this.pendingOut[0].offset + this.pendingOut[0].bytes.length <= this.primaryReleased)
      this.pendingBytes -= this.pendingOut.shift()!.bytes.length;
  }

  private drained = false;

  private drainReplay(): Action[] {
    const rp = this.replay!;
    for (;;) {
      let r;
      try {
        r = rp.runner.step(this.machine.icount);
      } catch (e) {
        if (e instanceof DivergenceError) return this.diverged(e);
        throw e;
      }
      this.collectReplayOutput();
      if (r === "end") this.replayEnded = true;
      if (r === "needs-log" || r === "end" || r === "halted" || r === "trapped") return [];
    }
  }

  /** Replay diverged from the primary's log: say where (the launcher's policy decides what follows), and halt. */
  private diverged(e: DivergenceError): Action[] {
    const pc = e.pc;
    const line = pc !== undefined ? this.machine.image.lines[pc] : undefined;
    const where = `icount ${e.icount}${pc !== undefined ? `, pc ${pc}` : ""}${line ? ` [${line}]` : ""}`;
    return [this.newsAction(`divergence at ${where}: ${e.message}`, { event: "divergence", icount: e.icount, ...(pc !== undefined ? { pc } : {}), ...(line ? { line } : {}), reason: e.message }), ...this.halt(`replay diverged: ${e.message}`, 1, e.cause === "own-disk" ? "disk-failed" : "diverged")];
  }

  private halt(reason: string, code: number, cause: HaltCause): Action[] {
    this.role = "halted";
    return [this.newsAction(`halting: ${reason}`, { event: "halt", cause }), { kind: "halt", reason, code, cause }];
  }

  private newsAction(text: string, data: Record<string, unknown>): Action {
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

  /** Console output, network output or disk writes wait for acknowledgements. */
  hasHeldOutput(): boolean {
    return this.gate.heldCount > 0 || this.net.heldCount > 0 || (this.diskGate?.heldCount ?? 0) > 0;
  }

  /** The shared disk refused a write of ours: a newer epoch has written there, so this host is deposed. */
  onDiskFenced(reason: string): Action[] {
    if (this.role === "halted" || this.role === "finished") return [];
    return this.halt(`the disk refused a write (${reason}): deposed`, 3, "deposed");
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
  } {
    const icount = this.machine ? this.machine.icount : 0;
    return {
      role: this.role,
      epoch: this.epoch,
      icount,
      backupIcount: this.plog?.backupIcount,
      lagMs: this.plog ? this.throttle.lagMs(nowMs, icount, this.plog.backupIcount) : undefined,
      throttle: this.throttle.level,
      heldOutputs: this.gate.heldCount,
      heldBytes: this.gate.heldBytes,
      heldWrites: this.diskGate?.heldCount ?? this.localDisk?.heldCount ?? 0,
      logBytes: this.plog?.totalBytes ?? 0,
    };
  }
}

/** The peer sent something malformed or impossible: refuse it with this reason. */
