// The log channel's protocol: every message two FT hosts exchange, as one discriminated
// union, and the one parser that turns what arrived on the wire into it. A message the
// parser refuses never reaches the node: the shell closes the channel with the reason
// (a ProtocolError), the node keeps its state. The node still checks what only it can
// (is this message expected in my role? does the lsn follow?).
//
// Pure: no sockets, no clocks.

/**
 * The protocol's version, carried in "hello", "start" and "clone". A peer that speaks
 * another version is refused with both versions named, before anything else is read.
 * 3: the version field itself, and the parser's strict shapes.
 * 4: "log" carries the primary's state digest at each event (sd), which the backup checks.
 * 5: the memory part of those digests is the sum of vm/digest.ts's four-chain page hashes
 *    (hashPageFast), no longer of the serial ones: a version-4 peer would see every
 *    progress mark's digest differ. Also "log" may carry ackLazy (the backup leaves that
 *    batch's acknowledgement to its next heartbeat).
 * 6: a log batch with ackLazy stands for the primary's heartbeat: a quiet primary sends no
 *    separate "hb" (a version-5 backup would count no heartbeats from it).
 * 7: a "clone-mem" chunk that is all zero travels as "zero" without its bytes.
 */
export const LOG_PROTOCOL_VERSION = 7;

/** A malformed or impossible message from the peer: the shell refuses the peer with this reason. */
export class ProtocolError extends Error {}

/** Backup → primary, the first message on a new log channel: a first backup, a joiner, or a backup resuming from `resume`. */
export interface HelloMsg {
  t: "hello";
  v: number;
  host: string;
  cluster: string;
  /** A reconnecting backup: the last lsn it received. */
  resume?: number;
}
/** Primary → its first backup: the program, the machine's size and the epoch; the log follows. */
export interface StartMsg {
  t: "start";
  v: number;
  epoch: number;
  image: Uint8Array;
  memBytes: number;
  stackBytes: number;
  program: string;
  /** The disk's geometry (checked by the node: a host that could not serve it refuses now). */
  disk?: unknown;
  diskMode?: string;
  backupReads?: boolean;
}
/** Primary → a joining backup: everything of the snapshot but memory (CloneAssembler checks the rest). */
export interface CloneMsg {
  t: "clone";
  v: number;
  epoch: number;
  [k: string]: unknown;
}
/** Primary → joiner: a chunk of the snapshot's memory, or (non-shared disk) of its own image. */
export interface CloneMemMsg {
  t: "clone-mem";
  index: number;
  /** The chunk's bytes; empty when `zero`. */
  bytes: Uint8Array;
  /** The chunk is all zero (its bytes are not sent). */
  zero?: true;
}
export interface CloneDiskMsg {
  t: "clone-disk";
  index: number;
  bytes: Uint8Array;
}
/** Joiner → primary: the copy is restored at this icount, and the log received through lsn. */
export interface RestoredMsg {
  t: "restored";
  icount: number;
  lsn: number;
}
/** Primary → joiner: the arbiter granted the pair this epoch: the joiner is a member now. */
export interface PairedMsg {
  t: "paired";
  epoch: number;
}
/** Primary → backup: a batch of log events ([lsn, icount, kind, data] each; the replay layer checks them) and the sink's watermark. */
export interface LogMsg {
  t: "log";
  events: unknown[];
  released?: number;
  /** The primary's state digest (32 bits) at each event, one per event (see ft/state-check.ts). */
  sd?: number[];
  /**
   * True: nothing on the primary waits for this batch's acknowledgement (no held output,
   * no input to make durable, no hand-over), so the backup may leave it to its next
   * heartbeat, which carries the same cumulative lsn. Absent: acknowledge at once.
   */
  ackLazy?: boolean;
  /**
   * Never on the wire (parsePeerMsg does not read it): set by the backup's host from its
   * log front (log-front.ts), which saw this message first. The node's received lsn once
   * it has applied it, and whether the front already acknowledged it.
   */
  front?: { lsn: number; acked: boolean };
}
/** Backup → primary: the log received through lsn, at this icount of its replay. */
export interface AckMsg {
  t: "ack";
  lsn: number;
  icount: number;
}
/** Either way: a heartbeat. The backup's carries its received lsn (a cumulative ack) and whether it idles; the primary's how far it has sent. */
export interface HeartbeatMsg {
  t: "hb";
  icount: number;
  lsn?: number;
  idle?: boolean;
  sentLsn?: number;
}
/** Primary → backup: the guest finished; a closed channel after this is the normal end. */
export interface ByeMsg {
  t: "bye";
  reason?: string;
}
/** Primary → a reconnecting backup: taken back, continuing after lsn. */
export interface ResumedMsg {
  t: "resumed";
  lsn?: number;
}

export type PeerMsg = HelloMsg | StartMsg | CloneMsg | CloneMemMsg | CloneDiskMsg | RestoredMsg | PairedMsg | LogMsg | AckMsg | HeartbeatMsg | ByeMsg | ResumedMsg;
export type PeerMsgType = PeerMsg["t"];

type Raw = Record<string, unknown>;

const uint = (m: Raw, k: string): number => {
  const v = m[k];
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new ProtocolError(`"${String(m.t)}": ${k} must be a non-negative integer, got ${describe(v)}`);
  return v as number;
};
const optUint = (m: Raw, k: string): number | undefined => (m[k] === undefined ? undefined : uint(m, k));
const bytes = (m: Raw, k: string): Uint8Array => {
  const v = m[k];
  if (!(v instanceof Uint8Array)) throw new ProtocolError(`"${String(m.t)}": ${k} must be bytes, got ${describe(v)}`);
  return v;
};
const str = (m: Raw, k: string): string => {
  const v = m[k];
  if (typeof v !== "string") throw new ProtocolError(`"${String(m.t)}": ${k} must be a string, got ${describe(v)}`);
  return v;
};
const optBool = (m: Raw, k: string): boolean | undefined => {
  const v = m[k];
  if (v !== undefined && typeof v !== "boolean") throw new ProtocolError(`"${String(m.t)}": ${k} must be true or false, got ${describe(v)}`);
  return v as boolean | undefined;
};
const optStr = (m: Raw, k: string): string | undefined => (m[k] === undefined ? undefined : str(m, k));

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "object") return Array.isArray(v) ? "a list" : v === null ? "null" : "a map";
  return String(v);
}

/** A peer of another protocol version: refused before anything else is read. */
export function checkVersion(m: Raw): void {
  if (m.v !== LOG_PROTOCOL_VERSION)
    throw new ProtocolError(`the peer speaks log protocol version ${m.v === undefined ? "(none: an older ftvm)" : describe(m.v)}, this host speaks version ${LOG_PROTOCOL_VERSION}`);
}

/**
 * The one parser: a decoded wire message (a map with a string `t`) becomes a PeerMsg, or
 * a ProtocolError names what is wrong. Fields the protocol does not know are dropped, so
 * nothing unchecked reaches the node.
 */
export function parsePeerMsg(raw: { readonly t: string }): PeerMsg {
  const m = raw as unknown as Raw;
  switch (raw.t) {
    case "hello": {
      checkVersion(m);
      const resume = optUint(m, "resume");
      return { t: "hello", v: LOG_PROTOCOL_VERSION, host: str(m, "host"), cluster: str(m, "cluster"), ...(resume !== undefined ? { resume } : {}) };
    }
    case "start": {
      checkVersion(m);
      const diskMode = optStr(m, "diskMode");
      const backupReads = optBool(m, "backupReads");
      return {
        t: "start",
        v: LOG_PROTOCOL_VERSION,
        epoch: uint(m, "epoch"),
        image: bytes(m, "image"),
        memBytes: uint(m, "memBytes"),
        stackBytes: uint(m, "stackBytes"),
        program: str(m, "program"),
        disk: m.disk,
        ...(diskMode !== undefined ? { diskMode } : {}),
        ...(backupReads !== undefined ? { backupReads } : {}),
      };
    }
    case "clone":
      checkVersion(m);
      // The header's many parts are checked by CloneAssembler, which builds the machine from them.
      return { ...m, t: "clone", v: LOG_PROTOCOL_VERSION, epoch: uint(m, "epoch") };
    case "clone-mem":
      return { t: "clone-mem", index: uint(m, "index"), bytes: bytes(m, "bytes"), ...(m.zero === true ? { zero: true as const } : {}) };
    case "clone-disk":
      return { t: "clone-disk", index: uint(m, "index"), bytes: bytes(m, "bytes") };
    case "restored":
      return { t: "restored", icount: uint(m, "icount"), lsn: uint(m, "lsn") };
    case "paired":
      return { t: "paired", epoch: uint(m, "epoch") };
    case "log": {
      if (!Array.isArray(m.events)) throw new ProtocolError(`"log": events must be a list, got ${describe(m.events)}`);
      const released = optUint(m, "released");
      const sd = m.sd;
      if (sd !== undefined && !(Array.isArray(sd) && sd.length === m.events.length && sd.every((d) => Number.isInteger(d) && d >= 0 && d <= 0xffffffff)))
        throw new ProtocolError(`"log": sd must be a list of ${m.events.length} 32-bit digests (one per event), got ${describe(sd)}`);
      const ackLazy = optBool(m, "ackLazy");
      return { t: "log", events: m.events, ...(released !== undefined ? { released } : {}), ...(sd !== undefined ? { sd: sd as number[] } : {}), ...(ackLazy ? { ackLazy } : {}) };
    }
    case "ack":
      return { t: "ack", lsn: uint(m, "lsn"), icount: uint(m, "icount") };
    case "hb": {
      const lsn = optUint(m, "lsn");
      const idle = optBool(m, "idle");
      const sentLsn = optUint(m, "sentLsn");
      return { t: "hb", icount: uint(m, "icount"), ...(lsn !== undefined ? { lsn } : {}), ...(idle !== undefined ? { idle } : {}), ...(sentLsn !== undefined ? { sentLsn } : {}) };
    }
    case "bye": {
      const reason = optStr(m, "reason");
      return { t: "bye", ...(reason !== undefined ? { reason } : {}) };
    }
    case "resumed": {
      const lsn = optUint(m, "lsn");
      return { t: "resumed", ...(lsn !== undefined ? { lsn } : {}) };
    }
    default:
      throw new ProtocolError(`unknown message "${describe(raw.t).replaceAll('"', "")}" on the log channel`);
  }
}
