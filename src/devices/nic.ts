// The network card. Connections are small integer ids chosen by the host side (a TCP
// server for plain runs, later the virtual switch) and carried in the events:
// EV.NET_OPEN {conn}, EV.NET_RX {conn, bytes} and EV.NET_CLOSE {conn} arrive as
// asynchronous events and wait as *records* in a bounded receive queue until the guest
// takes them with NET_RECV (which copies data into guest memory at the instruction).
// The guest transmits with NET_SEND (a bounce copy out of guest memory at the
// instruction) and closes with NET_CLOSE. What it transmits is output: the card keeps it
// in a bounded buffer of chunks that the host drains after every run() return, each chunk
// tagged with its connection, the connection's generation and its byte offset in the
// connection's stream. Those numbers are guest state, so a primary and its backup number
// every output byte identically and a sink can drop what a new primary re-sends.
//
// A connection id's life: FREE → OPEN (NET_OPEN). The peer finishing (NET_CLOSE) makes it
// PEER_CLOSED, and the guest still may send (a half-closed TCP connection still carries
// replies); the guest closing makes it GUEST_CLOSED. It is FREE again only when both
// happened, so the host side may reuse an id once it has delivered NET_CLOSE for it and
// drained the guest's close; records of a connection still waiting when the guest closes
// it are dropped. Guest mistakes (a bad id, a send too long) get negative
// statuses; a buffer outside data memory traps like a load or store would.
import { VEC_NET } from "../../isa/ports.js";
import type { Machine } from "../vm/machine.js";
import type { Device, DeviceState } from "./device.js";
import { checkVersion } from "./device.js";
import { EV } from "./events.js";

/** Connection ids are 0 .. NET_CONNS_MAX - 1. */
export const NET_CONNS_MAX = 128;
/** Received payload bytes waiting for the guest; the live side delivers only what fits. */
export const NET_RX_BYTES_MAX = 64 * 1024;
/** Received records (open, data, close) waiting for the guest. */
export const NET_RX_RECORDS_MAX = 256;
/** The longest single NET_SEND. */
export const NET_SEND_BYTES_MAX = 64 * 1024;
/** Transmitted bytes not yet drained by the host. */
export const NET_TX_BYTES_MAX = 256 * 1024;
/** Transmitted chunks (sends and closes) not yet drained by the host. */
export const NET_TX_CHUNKS_MAX = 1024;

/** What NET_RECV returns: the kind of record it took. */
export const NET_REC = { NONE: 0, OPEN: 1, DATA: 2, CLOSE: 3 } as const;
/** Negative statuses of NET_SEND and NET_CLOSE. */
export const NET_E = {
  /** The id is not an open connection (never opened, or the guest closed it). */
  BADCONN: -1,
  /** NET_LEN is more than NET_SEND_BYTES_MAX. */
  TOOBIG: -2,
  /** The transmit buffer is full: only when a host fails to drain it (see stopIfNearlyFull). */
  FULL: -3,
} as const;

export const CONN = { FREE: 0, OPEN: 1, PEER_CLOSED: 2, GUEST_CLOSED: 3 } as const;

/** One piece of transmitted output, as the host drains it. */
export interface NetChunk {
  conn: number;
  /** How many times this id has been opened, counting the current connection (from 1). */
  generation: number;
  /** Stream offset of the first byte: bytes sent on this connection before this chunk. */
  offset: number;
  bytes: Uint8Array;
  /** The guest closed the connection here (bytes is empty). */
  close: boolean;
}

interface RxRecord {
  type: number;
  conn: number;
  /** Data not yet copied to the guest (empty for open and close). */
  bytes: Uint8Array;
}

const STATE_VERSION = 2;
const EMPTY = new Uint8Array(0);
const NO_CHUNKS: readonly NetChunk[] = [];

export class Nic implements Device {
  readonly name = "nic";
  readonly kinds = [EV.NET_OPEN, EV.NET_RX, EV.NET_CLOSE];
  /** NET_CTRL: bit 0 raises VEC_NET when a record arrives. */
  ctrl = 0;
  /** NET_CONN, NET_ADDR, NET_LEN: the operands of the next NET_RECV, NET_SEND or NET_CLOSE. */
  conn = 0;
  addr = 0;
  len = 0;
  /** NET_RX_CONN, NET_RX_LEN: what the last NET_RECV took. */
  rxConn = 0;
  rxLen = 0;
  readonly states = new Uint8Array(NET_CONNS_MAX);
  readonly generations = new Array<number>(NET_CONNS_MAX).fill(0);
  readonly sentBytes = new Array<number>(NET_CONNS_MAX).fill(0);
  /**
   * Bytes received on each connection since it opened (those dropped after the guest's
   * close included): a new FT primary tells the virtual switch from these how far each
   * connection's input got, so the switch re-delivers exactly the rest.
   */
  readonly receivedBytes = new Array<number>(NET_CONNS_MAX).fill(0);
  private rx: RxRecord[] = [];
  private rxBytes = 0;
  private tx: NetChunk[] = [];
  private txBytes = 0;
  /** Bytes that arrived for connections the guest had already closed (dropped). */
  droppedBytes = 0;

  constructor(private readonly machine: Machine) {}

  // ---- the live side asks how much fits before it delivers ----

  rxRecordsFree(): number {
    return NET_RX_RECORDS_MAX - this.rx.length;
  }

  rxBytesFree(): number {
    return NET_RX_BYTES_MAX - this.rxBytes;
  }

  recordsWaiting(): number {
    return this.rx.length;
  }

  // ---- asynchronous events ----

  raisesInterrupt(): boolean {
    return (this.ctrl & 1) !== 0;
  }

  apply(kind: number, data: unknown): number {
    const d = data as { conn?: unknown; bytes?: unknown } | null;
    const conn = d?.conn;
    if (typeof conn !== "number" || !Number.isInteger(conn) || conn < 0 || conn >= NET_CONNS_MAX)
      throw new Error(`nic: ${kind} event needs a connection id 0..${NET_CONNS_MAX - 1}, got ${String(conn)}`);
    if (this.rx.length >= NET_RX_RECORDS_MAX) throw new Error(`nic: a record does not fit (${NET_RX_RECORDS_MAX} waiting)`);
    const state = this.states[conn];
    switch (kind) {
      case EV.NET_OPEN:
        if (state !== CONN.FREE) throw new Error(`nic: connection ${conn} opened while in use (state ${state})`);
        this.states[conn] = CONN.OPEN;
        this.generations[conn]++;
        this.sentBytes[conn] = 0;
        this.receivedBytes[conn] = 0;
        this.rx.push({ type: NET_REC.OPEN, conn, bytes: EMPTY });
        break;
      case EV.NET_RX: {
        const bytes = d!.bytes;
        if (!(bytes instanceof Uint8Array)) throw new Error("nic: NET_RX data needs bytes");
        if (bytes.length > this.rxBytesFree()) throw new Error(`nic: ${bytes.length} received bytes do not fit (${this.rxBytesFree()} free)`);
        if (state === CONN.GUEST_CLOSED || state === CONN.OPEN) this.receivedBytes[conn] += bytes.length;
        if (state === CONN.GUEST_CLOSED) {
          // The peer sent while the guest was closing: nobody will read it.
          this.droppedBytes += bytes.length;
          break;
        }
        if (state !== CONN.OPEN) throw new Error(`nic: data for connection ${conn}, which is not open (state ${state})`);
        if (bytes.length === 0) break;
        // The event's own bytes, not a copy: event data is never written to once made (the
        // log, the switch and the replay side only read it), and NET_RECV copies into guest
        // memory anyway. A copy here was a pass over every received byte on both hosts.
        this.rx.push({ type: NET_REC.DATA, conn, bytes });
        this.rxBytes += bytes.length;
        break;
      }
      case EV.NET_CLOSE:
        if (state === CONN.OPEN) {
          this.states[conn] = CONN.PEER_CLOSED;
          this.rx.push({ type: NET_REC.CLOSE, conn, bytes: EMPTY });
        } else if (state === CONN.GUEST_CLOSED) {
          // The host confirms the guest's close: the id is free again; the guest needs no record.
          this.states[conn] = CONN.FREE;
        } else throw new Error(`nic: close of connection ${conn}, which is not open (state ${state})`);
        break;
      default:
        throw new Error(`nic: cannot apply event kind ${kind}`);
    }
    return this.ctrl & 1 ? VEC_NET : -1;
  }

  // ---- guest operations (IN from a port) ----

  /** NET_RECV: takes (part of) the next record; returns its NET_REC type. */
  recv(): number {
    const r = this.rx[0];
    if (!r) {
      this.rxConn = 0;
      this.rxLen = 0;
      return NET_REC.NONE;
    }
    let n = 0;
    if (r.type === NET_REC.DATA) {
      n = Math.min(r.bytes.length, this.len >>> 0);
      if (!this.inMemory("NET_RECV", n)) return 0;
      const m = this.machine;
      const addr = this.addr >>> 0;
      m.storeBytes(addr, r.bytes.subarray(0, n));
      this.rxBytes -= n;
      r.bytes = r.bytes.subarray(n);
      if (r.bytes.length === 0) this.rx.shift();
    } else this.rx.shift();
    this.rxConn = r.conn;
    this.rxLen = n;
    return r.type;
  }

  /** NET_SEND: transmits NET_LEN bytes at NET_ADDR on NET_CONN; returns the count or a status. */
  send(): number {
    const conn = this.conn;
    if (!this.sendable(conn)) return NET_E.BADCONN;
    const n = this.len >>> 0;
    if (n > NET_SEND_BYTES_MAX) return NET_E.TOOBIG;
    if (!this.inMemory("NET_SEND", n)) return 0;
    if (n === 0) return 0;
    if (this.tx.length >= NET_TX_CHUNKS_MAX || this.txBytes + n > NET_TX_BYTES_MAX) return NET_E.FULL;
    const addr = this.addr >>> 0;
    this.tx.push({ conn, generation: this.generations[conn], offset: this.sentBytes[conn], bytes: this.machine.mem.slice(addr, addr + n), close: false });
    this.txBytes += n;
    this.sentBytes[conn] += n;
    this.stopIfNearlyFull();
    return n;
  }

  /** NET_CLOSE: the guest is done with NET_CONN; returns 0 or a status. */
  close(): number {
    const conn = this.conn;
    if (!this.sendable(conn)) return NET_E.BADCONN;
    if (this.tx.length >= NET_TX_CHUNKS_MAX) return NET_E.FULL;
    this.tx.push({ conn, generation: this.generations[conn], offset: this.sentBytes[conn], bytes: EMPTY, close: true });
    this.states[conn] = this.states[conn] === CONN.PEER_CLOSED ? CONN.FREE : CONN.GUEST_CLOSED;
    // Records of this connection still waiting are dropped: once the id is free, a new
    // connection may take it, and a stale close record must not be mistaken for the new one's.
    if (this.rx.some((r) => r.conn === conn)) {
      const kept: RxRecord[] = [];
      for (const r of this.rx) {
        if (r.conn !== conn) kept.push(r);
        else {
          this.droppedBytes += r.bytes.length;
          this.rxBytes -= r.bytes.length;
        }
      }
      this.rx = kept;
    }
    this.stopIfNearlyFull();
    return 0;
  }

  /** NET_SENT: bytes transmitted on NET_CONN so far (0 for an id out of range). */
  sent(): number {
    const conn = this.conn;
    return conn >= 0 && conn < NET_CONNS_MAX ? this.sentBytes[conn] | 0 : 0;
  }

  /** Takes the output transmitted since the last drain (empty when none). */
  drainOutput(): readonly NetChunk[] {
    if (this.tx.length === 0) return NO_CHUNKS;
    const out = this.tx;
    this.tx = [];
    this.txBytes = 0;
    return out;
  }

  private sendable(conn: number): boolean {
    if (conn < 0 || conn >= NET_CONNS_MAX) return false;
    const s = this.states[conn];
    return s === CONN.OPEN || s === CONN.PEER_CLOSED;
  }

  /**
   * Asks the machine to stop when the next send or close might not fit, so the host drains
   * the buffer first. Every host drains after every run() return, so a guest never meets
   * NET_E.FULL and what it sees does not depend on when a host happened to drain.
   */
  private stopIfNearlyFull(): void {
    if (this.tx.length >= NET_TX_CHUNKS_MAX || NET_TX_BYTES_MAX - this.txBytes < NET_SEND_BYTES_MAX) this.machine.stopRequested = true;
  }

  /** Checks that [NET_ADDR, NET_ADDR + n) lies in data memory; raises the trap when not. */
  private inMemory(op: string, n: number): boolean {
    const addr = this.addr >>> 0;
    if (addr + n <= this.machine.memBytes) return true;
    this.machine.raiseTrap("memory-out-of-bounds", `${op}: buffer [${addr}, ${addr + n}) is outside data memory (${this.machine.memBytes} bytes)`);
    return false;
  }

  getState(): DeviceState {
    return {
      version: STATE_VERSION,
      ctrl: this.ctrl,
      regs: [this.conn, this.addr, this.len, this.rxConn, this.rxLen],
      states: Array.from(this.states),
      generations: [...this.generations],
      sentBytes: [...this.sentBytes],
      receivedBytes: [...this.receivedBytes],
      rx: this.rx.map((r) => [r.type, r.conn, r.bytes.slice()]),
      tx: this.tx.map((c) => [c.conn, c.generation, c.offset, c.bytes.slice(), c.close]),
      droppedBytes: this.droppedBytes,
    };
  }

  setState(s: DeviceState): void {
    checkVersion(this.name, s, STATE_VERSION);
    this.ctrl = s.ctrl as number;
    [this.conn, this.addr, this.len, this.rxConn, this.rxLen] = s.regs as number[];
    this.states.set(s.states as number[]);
    (s.generations as number[]).forEach((g, i) => (this.generations[i] = g));
    (s.sentBytes as number[]).forEach((b, i) => (this.sentBytes[i] = b));
    (s.receivedBytes as number[]).forEach((b, i) => (this.receivedBytes[i] = b));
    this.rx = (s.rx as [number, number, Uint8Array][]).map(([type, conn, bytes]) => ({ type, conn, bytes: new Uint8Array(bytes) }));
    this.rxBytes = this.rx.reduce((n, r) => n + r.bytes.length, 0);
    this.tx = (s.tx as [number, number, number, Uint8Array, boolean][]).map(([conn, generation, offset, bytes, close]) => ({ conn, generation, offset, bytes: new Uint8Array(bytes), close }));
    this.txBytes = this.tx.reduce((n, c) => n + c.bytes.length, 0);
    this.droppedBytes = s.droppedBytes as number;
  }
}
