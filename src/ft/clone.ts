// Cloning a backup into a running primary: the snapshot as log-channel messages, and
// their reassembly on the new backup. The primary copies its state at one instruction
// boundary (icount S) and goes on running; the copy travels as one "clone" header
// (everything but memory) and memory in "clone-mem" chunks; the log from S follows on
// the same ordered channel. With a non-shared disk the primary's own image follows too,
// in "clone-disk" chunks read between guest slices (FtNode.pumpDiskClone), interleaved
// with the log; the new backup writes them to its own image before it replays.
// Pure: no sockets, no clocks.
import type { DevicesState } from "../devices/bus.js";
import type { DiskGeometry } from "../devices/disk.js";
import type { NetChunk } from "../devices/nic.js";
import { type CloneMemMsg, type CloneMsg, LOG_PROTOCOL_VERSION } from "./protocol.js";
import type { MachineState } from "../vm/snapshot.js";
import { MACHINE_STATE_VERSION } from "../vm/snapshot.js";
import type { HeldOutput } from "./gate.js";

/** Memory travels in chunks of this size: far below the channel's 16 MiB message bound, and small enough that the receiver never holds a huge frame. */
export const CLONE_CHUNK_BYTES = 1024 * 1024;
/** The largest guest memory a clone may carry (the machine's own bound is far lower). */
export const CLONE_MEM_BYTES_MAX = 1024 * 1024 * 1024;
/** A non-shared disk's image travels in chunks of this size (a multiple of every block size, which is at most 64 KiB). */
export const CLONE_DISK_CHUNK_BYTES = 1024 * 1024;
/** Chunks of the image the primary reads at once while streaming it (bounds the memory the copy takes). */
export const CLONE_DISK_READS_IN_FLIGHT = 4;
/**
 * The largest own disk image a clone streams. Every byte crosses the log channel while the
 * primary holds its new writes (its guest sees them complete only afterwards), so a larger
 * image is refused with this reason rather than stalling the guest's writes for minutes.
 */
export const CLONE_DISK_BYTES_MAX = 4 * 1024 * 1024 * 1024;

export interface CloneSnapshot {
  epoch: number;
  program: string;
  image: Uint8Array;
  machine: MachineState;
  devices: DevicesState;
  /** The shared disk's geometry, so the new backup builds the same disk (none: no disk). */
  disk?: DiskGeometry;
  /** Network output released before S that the switch has not confirmed: the backup re-sends it if it goes live. */
  netKept?: readonly NetChunk[];
  /** The last lsn the primary logged before S: the backup expects lsn + 1 next. */
  lsn: number;
  /** Virtual time reached at S (a backup going live continues from here, never earlier). */
  lastUs: number;
  /** Output released before S that the sink has not acknowledged: the backup re-sends it if it goes live. */
  unsunk: HeldOutput[];
  /** "non-shared": each host has its own image (absent: shared, or no disk). */
  diskMode?: string;
  backupReads?: boolean;
  /** Non-shared: how many "clone-disk" chunks of the image follow. */
  diskChunks?: number;
  /** Non-shared: the bytes in each of them (the last may be shorter). */
  diskChunkBytes?: number;
}

/** The messages that carry a snapshot: a header, then memory chunk by chunk (views of the snapshot's copy, not further copies). */
export function cloneMessages(s: CloneSnapshot): [CloneMsg, ...CloneMemMsg[]] {
  const mem = s.machine.mem;
  const chunks = Math.ceil(mem.length / CLONE_CHUNK_BYTES);
  const { mem: _mem, ...machine } = s.machine;
  const header: CloneMsg = {
    t: "clone",
    v: LOG_PROTOCOL_VERSION,
    epoch: s.epoch,
    program: s.program,
    image: s.image,
    memBytes: s.machine.memBytes,
    stackBytes: s.machine.stackBytes,
    machine,
    devices: s.devices,
    disk: s.disk,
    netKept: (s.netKept ?? []).map((c) => ({ conn: c.conn, generation: c.generation, offset: c.offset, bytes: c.bytes, close: c.close })),
    lsn: s.lsn,
    lastUs: s.lastUs,
    unsunk: s.unsunk.map((c) => ({ icount: c.icount, offset: c.offset, bytes: c.bytes })),
    memChunks: chunks,
    ...(s.diskMode ? { diskMode: s.diskMode, backupReads: s.backupReads === true, diskChunks: s.diskChunks ?? 0, diskChunkBytes: s.diskChunkBytes ?? CLONE_DISK_CHUNK_BYTES } : {}),
  };
  const out: [CloneMsg, ...CloneMemMsg[]] = [header];
  for (let i = 0; i < chunks; i++) {
    const bytes = mem.subarray(i * CLONE_CHUNK_BYTES, Math.min(mem.length, (i + 1) * CLONE_CHUNK_BYTES));
    // Much of a guest's memory is often untouched: an all-zero chunk goes without its
    // bytes. programs/redis.s under --mem 16MiB had 13 of its 16 chunks all zero at every
    // clone of a redis-lin run; each of their bytes crossed the channel and was copied on
    // both sides, between the primary's guest slices and on the joiner (16 MiB took the
    // primary 0.35-1.1 s of sending under the standard load, 2026-12-07).
    out.push(allZero(bytes) ? { t: "clone-mem", index: i, bytes: EMPTY, zero: true } : { t: "clone-mem", index: i, bytes });
  }
  return out;
}

const EMPTY = new Uint8Array(0);

/** True when every byte is 0 (read a word at a time where the view is aligned: 16 MiB in about ms). */
export function allZero(b: Uint8Array): boolean {
  let i = 0;
  if (b.byteOffset % 4 === 0) {
    const words = new Int32Array(b.buffer, b.byteOffset, b.length >> 2);
    for (let w = 0; w < words.length; w++) if (words[w] !== 0) return false;
    i = words.length << 2;
  }
  for (; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

export class CloneError extends Error {}

/** The new backup's side: checks the header, collects the memory chunks in order, and yields the machine state once complete. */
export class CloneAssembler {
  readonly epoch: number;
  readonly program: string;
  readonly image: Uint8Array;
  readonly memBytes: number;
  readonly stackBytes: number;
  readonly lsn: number;
  readonly lastUs: number;
  readonly devices: DevicesState;
  /** As sent; FtNode checks it. */
  readonly disk: unknown;
  readonly diskMode: unknown;
  readonly backupReads: boolean;
  /** Non-shared: image chunks that follow (FtNode checks the count against the geometry). */
  readonly diskChunks: number;
  /** Non-shared: the bytes in each image chunk (FtNode checks it against the geometry). */
  readonly diskChunkBytes: number;
  readonly netKept: NetChunk[];
  readonly unsunk: HeldOutput[];
  private readonly machine: Omit<MachineState, "mem">;
  private readonly chunks: number;
  /** Where the memory chunks land: a buffer of its own, or the joining machine's memory (see receiveInto). */
  private mem: Uint8Array;
  private received = 0;
  /** Chunks that came as all zero (without their bytes). */
  zeroChunks = 0;

  constructor(h: CloneMsg) {
    const int = (k: string) => {
      const v = h[k];
      if (!Number.isSafeInteger(v) || (v as number) < 0) throw new CloneError(`clone header: ${k} must be a non-negative integer, got ${String(v)}`);
      return v as number;
    };
    this.epoch = int("epoch");
    this.memBytes = int("memBytes");
    this.stackBytes = int("stackBytes");
    this.lsn = int("lsn");
    this.lastUs = int("lastUs");
    this.chunks = int("memChunks");
    if (this.memBytes > CLONE_MEM_BYTES_MAX) throw new CloneError(`clone header: memory of ${this.memBytes} bytes exceeds the bound of ${CLONE_MEM_BYTES_MAX}`);
    if (this.chunks !== Math.ceil(this.memBytes / CLONE_CHUNK_BYTES)) throw new CloneError(`clone header: ${this.chunks} memory chunks for ${this.memBytes} bytes`);
    if (!(h.image instanceof Uint8Array)) throw new CloneError("clone header: image must be bytes");
    this.image = h.image;
    this.program = typeof h.program === "string" ? h.program : "(clone)";
    const machine = h.machine as Omit<MachineState, "mem"> | undefined;
    if (!machine || typeof machine !== "object" || machine.version !== MACHINE_STATE_VERSION) throw new CloneError(`clone header: machine state version ${String(machine?.version)}, expected ${MACHINE_STATE_VERSION}`);
    this.machine = machine;
    if (!h.devices || typeof h.devices !== "object") throw new CloneError("clone header: devices state missing");
    this.devices = h.devices as DevicesState;
    this.disk = h.disk;
    this.diskMode = h.diskMode;
    this.backupReads = h.backupReads === true;
    this.diskChunks = h.diskChunks === undefined ? 0 : int("diskChunks");
    // Older primaries sent no size: they always used CLONE_DISK_CHUNK_BYTES.
    this.diskChunkBytes = h.diskChunkBytes === undefined ? CLONE_DISK_CHUNK_BYTES : int("diskChunkBytes");
    if (this.diskChunkBytes === 0 || this.diskChunkBytes > CLONE_DISK_CHUNK_BYTES) throw new CloneError(`clone header: disk image chunks of ${this.diskChunkBytes} bytes (1..${CLONE_DISK_CHUNK_BYTES})`);
    const kept = h.netKept ?? [];
    if (!Array.isArray(kept)) throw new CloneError("clone header: netKept must be a list");
    this.netKept = (kept as NetChunk[]).map((c) => {
      if (!c || !(c.bytes instanceof Uint8Array) || !Number.isSafeInteger(c.conn) || !Number.isSafeInteger(c.generation) || !Number.isSafeInteger(c.offset) || typeof c.close !== "boolean")
        throw new CloneError("clone header: malformed network output");
      return { conn: c.conn, generation: c.generation, offset: c.offset, bytes: c.bytes, close: c.close };
    });
    if (!Array.isArray(h.unsunk)) throw new CloneError("clone header: unsunk must be a list");
    this.unsunk = (h.unsunk as HeldOutput[]).map((c) => {
      if (!c || !(c.bytes instanceof Uint8Array) || !Number.isSafeInteger(c.offset) || !Number.isSafeInteger(c.icount)) throw new CloneError("clone header: malformed unsunk output");
      return { icount: c.icount, offset: c.offset, bytes: c.bytes };
    });
    // Allocated here; receiveInto replaces it before any chunk lands (the pages of an unused
    // buffer are never touched, so it costs no memory).
    this.mem = new Uint8Array(this.memBytes);
  }

  /**
   * Lands the memory chunks straight in `mem` (the joining machine's memory, of the clone's
   * size) instead of a buffer of their own: the restore then copies nothing. For a 512 MiB
   * guest that copy kept the joiner from reading its socket for over a second after the
   * last chunk, and its primary declared it failed; it also held the memory twice.
   */
  receiveInto(mem: Uint8Array): void {
    if (this.received > 0) throw new Error("clone: receiveInto after memory chunks arrived");
    if (mem.length !== this.memBytes) throw new Error(`clone: receiveInto a buffer of ${mem.length} bytes, the clone has ${this.memBytes}`);
    this.mem = mem;
  }

  get complete(): boolean {
    return this.received === this.chunks;
  }

  /** Bytes of memory received so far (the launcher shows a clone's progress from it). */
  get receivedBytes(): number {
    return Math.min(this.memBytes, this.received * CLONE_CHUNK_BYTES);
  }

  /** Takes the next memory chunk; they must come in order and fit exactly. */
  add(m: CloneMemMsg): void {
    if (this.complete) throw new CloneError("clone: a memory chunk after the last one");
    if (m.index !== this.received) throw new CloneError(`clone: memory chunk ${String(m.index)}, expected ${this.received}`);
    const bytes = m.bytes;
    const at = this.received * CLONE_CHUNK_BYTES;
    const want = Math.min(CLONE_CHUNK_BYTES, this.memBytes - at);
    if (m.zero === true) {
      if (!(bytes instanceof Uint8Array) || bytes.length !== 0) throw new CloneError(`clone: memory chunk ${this.received} is marked all zero but carries bytes`);
      // The memory it lands in may hold the booted image (see receiveInto): zeroed, not skipped.
      this.mem.fill(0, at, at + want);
      this.received++;
      this.zeroChunks++;
      return;
    }
    if (!(bytes instanceof Uint8Array) || bytes.length !== want) throw new CloneError(`clone: memory chunk ${this.received} has ${bytes instanceof Uint8Array ? bytes.length : "no"} bytes, expected ${want}`);
    this.mem.set(bytes, at);
    this.received++;
  }

  machineState(): MachineState {
    if (!this.complete) throw new Error("clone: machine state asked before the memory is complete");
    return { ...this.machine, mem: this.mem };
  }
}
