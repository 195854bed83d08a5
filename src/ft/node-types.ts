// The FT node's types and constants: actions, roles, halt causes, configuration (see
// node.ts for the node itself and node-*.ts for its handlers by role).
import { type PeerMsg, ProtocolError } from "./protocol.js";
import type { TasRequest } from "../arbiter/core.js";
import type { Event } from "../devices/events.js";
import type { Tracer } from "../trace/tracer.js";
import type { DiskBackend, World } from "../replay/world.js";
import type { DiskGeometry } from "../devices/disk.js";
import { DiskGate } from "./diskgate.js";
import type { Image } from "../vm/image.js";
import { Machine } from "../vm/machine.js";
import { CLONE_DISK_CHUNK_BYTES } from "./clone.js";
import type { NetChunk } from "../devices/nic.js";

/**
 * How often the primary closes a batch (with a PROGRESS mark) when nothing else forces one.
 * Each batch costs a WebSocket message each way (a log message and its ack); at 2 ms they
 * took about 5% of a compute-bound primary's CPU in profiles, at 10 ms under 1%. Held
 * output forces a flush at once, so this bounds only how far the backup may trail an
 * idle-output guest, not the output rule's latency.
 */
export const FLUSH_INTERVAL_MS_DEFAULT = 10;
/**
 * The batch interval when nothing waits for the log's acknowledgement: the batch would
 * carry only a PROGRESS mark (no input, timer or disk event was logged since the last
 * one), no output is held and no backup is joining. Such batches only tell the backup how
 * far it may run, so fewer of them cost nothing but replay: the backup trails by up to
 * this much more execution, which a failover replays (about 10 ms more than at the
 * default). A compute-bound primary spent about 14% of its CPU on messages, most of them
 * per batch (a log message and its ack every 10 ms); at 20 ms, and with those batches'
 * acks left to the heartbeats (see LogMsg.ackLazy), that share roughly halves.
 */
export const FLUSH_INTERVAL_QUIET_MS_DEFAULT = 20;
/** The shortest time between two batches closed because the guest waits (WFI). */
export const WAIT_FLUSH_GAP_MS = 2;
/**
 * Held output closes a batch at once when no batch is waiting for its acknowledgement or
 * the guest waits (WFI); while one is in flight and the guest runs on, at most every this
 * many milliseconds. Each batch costs a socket write at
 * each end (the log message, its ack) and a sink message for what the ack releases; with
 * slices of half a millisecond (src/host/slice-pacer.ts), a busy guest closing a batch
 * per slice spent about half again as much CPU as before, mostly in those writes. Output
 * made while a batch is in flight goes with the next one, when the ack comes or after
 * this gap, whichever is first: about one batch per round trip.
 */
export const HELD_FLUSH_GAP_MS = 1;
/** How long a cloned backup that is not yet paired keeps asking for the next epoch after its primary failed (see onTasResult). */
export const UNPAIRED_CLAIM_RETRY_MS = 10_000;
/** Bytes of the snapshot buffer touched per run() before a clone (see runLive). */
export const PREFAULT_BYTES_PER_RUN = 2 * 1024 * 1024;
/**
 * A primary whose log channel closed waits at least this many heartbeat intervals (and a
 * quarter of the failure timeout) for its backup to reconnect before it gives up on it:
 * 250 ms with the defaults. A backup that lives reconnects at once; on a loaded machine
 * that takes a few of its own scheduling rounds.
 */
export const RECONNECT_GRACE_HEARTBEATS = 10;
/** How often a primary waiting at its crash icount for a paired backup looks again (ms; messages wake it sooner). */
export const CRASH_WAIT_POLL_MS = 20;
/**
 * How long a primary waits at its crash icount for a paired backup (ms) before it skips the
 * scripted crash and runs on, saying so. A clone takes seconds even under heavy load; a
 * backup that cannot pair for this long (clones failing one after another, the launcher
 * given up on new backups) would otherwise leave the run waiting forever.
 */
export const CRASH_WAIT_MAX_MS = 60_000;
/** A reconnecting backup gets the log it missed in messages of at most this many events. */
export const RESEND_EVENTS_PER_MESSAGE = 8192;
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
 * reply would have waited that long); it stays so after the joiner has restored the copy
 * until it has received the log sent while it copied; "handover": from there output waits
 * again until it has acknowledged the log through everything released as alone;
 * "electing": then the arbiter decides on the pair's epoch.
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
