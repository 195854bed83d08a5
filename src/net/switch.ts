// The virtual switch as a pure state machine: it plays the physical network between TCP
// clients and whichever FT host is the live primary, so a failover is invisible to them.
// Its server shell (src/host/switch-server.ts) owns the sockets and the host channels and
// feeds this class what happened; the effects on client sockets go out through `io`.
//
// Input. Each client connection gets an id and a generation the guest's NIC accepts (ids
// 0..NET_CONNS_MAX-1; generation = how many times the id was opened, as the NIC counts).
// Every byte a client sends has a stream offset; the switch keeps bytes until the live
// primary reports them durable (logged and acknowledged by its backup, or logged when
// alone), forwards them only to the live primary of the current epoch, and after a
// failover re-delivers, per connection, whatever the new primary's guest had not received
// (the new primary reports it from its NIC state: generation and received bytes).
//
// Output. Hosts send chunks {epoch, conn, generation, offset, bytes, close}; the switch
// writes each byte once (a new primary re-sends what its predecessor may have released:
// bytes below the connection's written offset are duplicates), and refuses chunks from an
// epoch older than the newest it has seen (fencing: a deposed primary cannot write).
// Re-sent bytes are compared with what was written, over the last
// SWITCH_COMPARE_WINDOW_BYTES_PER_CONN of each connection's output: bytes that differ are a
// divergence (two executions answering one client); the chunk is refused and counted.
//
// An id is reused only when the guest has freed it: the guest closed it (its close chunk
// was written here) and the NIC was given NET_CLOSE durably. Until then the id belongs to
// the old connection, even when its client is long gone.
//
// A client that does not read its replies is the shell's to judge (src/host/reply-backlog.ts):
// while it is slowed (hold) its input is not forwarded, so the guest stops producing more
// replies for it and only it waits; when it is cut off (disconnect) its unforwarded input
// is dropped and the guest's later output for it is discarded here, but still counted as
// written. Every host must keep hearing how far output was written (writtenChanged), or
// backups keep the discarded output for re-sending until their bound stops them, the
// primary's held output then fills, and the whole service stalls.
import { EV } from "../devices/events.js";
import { CONN, NET_CONNS_MAX } from "../devices/nic.js";
import { WrittenWindow, showByte } from "./window.js";

/** Input a client may have sent that is not yet durable at the primary; past it the client is disconnected. */
export const SWITCH_CONN_INPUT_BYTES_MAX = 4 * 1024 * 1024;
/** The server stops reading a client's socket while this much of its input is retained (TCP flow control). */
export const SWITCH_PAUSE_BYTES = 1024 * 1024;
/**
 * Input forwarded to the primary beyond what it reported durable, per connection (the
 * primary's queue stays bounded: NET_CONNS_MAX of these fill its NET_QUEUE_BYTES_MAX
 * exactly). It is the window of one stream: a connection's input moves at most this much
 * per round trip from here through the primary's log to its backup's acknowledgement and
 * back; at 256 KiB a bulk transfer into the guest waited for that round trip, not for CPU.
 */
export const SWITCH_INFLIGHT_BYTES_MAX = 512 * 1024;
/** The largest data event forwarded (the live environment splits further to what the NIC can take). */
export const SWITCH_FORWARD_CHUNK_BYTES_MAX = 64 * 1024;
/** Events in one forward() batch. */
export const SWITCH_FORWARD_EVENTS_MAX = 1024;
/** Data bytes in one forward() batch (one channel message; well under its MESSAGE_BYTES_MAX). */
export const SWITCH_FORWARD_BATCH_BYTES_MAX = 1024 * 1024;
/** Each open connection's output tail kept to compare re-sent output with (at most NET_CONNS_MAX of them). */
export const SWITCH_COMPARE_WINDOW_BYTES_PER_CONN = 64 * 1024;

/** An input event for the primary's NIC: [EV.NET_OPEN | EV.NET_RX | EV.NET_CLOSE, conn, bytes]. */
export type InputEvent = [kind: number, conn: number, bytes?: Uint8Array];
/** One connection as a new primary's NIC has it: [conn, generation, state (CONN.*), received bytes]. */
export type NicReport = [conn: number, generation: number, state: number, receivedBytes: number];
/** Input the primary holds durably: [conn, generation, opened 0|1, received bytes, closed 0|1]. */
export type InputMark = [conn: number, generation: number, opened: number, receivedBytes: number, closed: number];
/** Output from a host: [conn, generation, offset, bytes, close 0|1]. */
export type OutChunk = [conn: number, generation: number, offset: number, bytes: Uint8Array, close: number];
/** How far a connection's output was written: [conn, generation, written bytes, guest closed 0|1]. */
export type WrittenMark = [conn: number, generation: number, written: number, closed: number];

/** What the switch does to client sockets (the server shell carries it out). */
export interface SwitchIo {
  write(conn: number, bytes: Uint8Array): void;
  /** Finish the socket after what was written (the guest closed). */
  end(conn: number): void;
  /** Drop the socket at once (overflow, service lost). */
  destroy(conn: number): void;
  log(line: string): void;
}

export interface SwitchStats {
  clients: number;
  refusedClients: number;
  bytesIn: number;
  bytesOut: number;
  duplicateChunks: number;
  duplicateBytes: number;
  staleRefused: number;
  /** Input bytes forwarded again to a new primary after a failover. */
  redeliveredBytes: number;
  overflowDisconnects: number;
  /** Output for clients that were disconnected (counted as written, never sent). */
  discardedBytes: number;
  primaries: number;
  /** Re-sent output chunks whose bytes differed from what was written (refused). */
  diverged: number;
  /** Re-sent bytes too old for the comparison window (dropped unchecked). */
  uncheckedBytes: number;
}

interface Conn {
  id: number;
  gen: number;
  /** Input retained from `base` (the durable offset) to `end` (what the client sent). */
  chunks: { off: number; bytes: Uint8Array }[];
  base: number;
  end: number;
  /** Forwarded to the current primary up to here. */
  fwd: number;
  openFwd: boolean;
  openDurable: boolean;
  /** The client finished sending (or was cut off): NET_CLOSE follows the data. */
  peerEnded: boolean;
  closeFwd: boolean;
  closeDurable: boolean;
  /** Output written to the client up to here. */
  written: number;
  /** The guest's close chunk arrived: the socket was ended. */
  guestClosed: boolean;
  /** The client is slowed (it does not read its replies): its input is not forwarded. */
  held: boolean;
  /** The client was disconnected: the guest's output for it is discarded. */
  gone: boolean;
  /** The tail of what was written, to compare re-sent output with. */
  window: WrittenWindow;
}

export class Switch {
  epoch = 0;
  /** The live primary's host id, once announced (and checked by the shell). */
  primary?: string;
  /** Set when nobody can serve any more: clients are refused. */
  refusing?: string;
  readonly stats: SwitchStats = { clients: 0, refusedClients: 0, bytesIn: 0, bytesOut: 0, duplicateChunks: 0, duplicateBytes: 0, staleRefused: 0, redeliveredBytes: 0, overflowDisconnects: 0, discardedBytes: 0, primaries: 0, diverged: 0, uncheckedBytes: 0 };
  /** The last divergence refused (for the shell to tell the host). */
  lastDivergence?: string;
  private readonly conns: (Conn | undefined)[];
  private readonly gens: number[];
  /** The last finished connection of each free id: late output for it is a duplicate. */
  private readonly done: ({ gen: number; written: number } | undefined)[];
  /** Round-robin start for forward(). */
  private next = 0;
  /** Output was written (or a connection closed or freed) since takeWrittenChanged(). */
  private writtenDirty = false;

  constructor(
    private readonly io: SwitchIo,
    readonly connsMax = NET_CONNS_MAX,
    readonly connInputBytesMax = SWITCH_CONN_INPUT_BYTES_MAX,
    readonly inflightBytesMax = SWITCH_INFLIGHT_BYTES_MAX,
  ) {
    this.conns = new Array<Conn | undefined>(connsMax);
    this.gens = new Array<number>(connsMax).fill(0);
    this.done = new Array<{ gen: number; written: number } | undefined>(connsMax);
  }

  /** Client connections open now (stats.clients counts every one ever accepted). */
  openClients(): number {
    let n = 0;
    for (const c of this.conns) if (c) n++;
    return n;
  }

  // ---- clients ---------------------------------------------------------------------

  /** A client connected: its id and generation, or the reason it is refused. */
  open(): { conn: number; gen: number } | { refused: string } {
    if (this.refusing) return this.refuse(this.refusing);
    for (let id = 0; id < this.connsMax; id++) {
      if (this.conns[id]) continue;
      const gen = ++this.gens[id];
      this.conns[id] = { id, gen, chunks: [], base: 0, end: 0, fwd: 0, openFwd: false, openDurable: false, peerEnded: false, closeFwd: false, closeDurable: false, written: 0, guestClosed: false, held: false, gone: false, window: new WrittenWindow(SWITCH_COMPARE_WINDOW_BYTES_PER_CONN) };
      this.stats.clients++;
      return { conn: id, gen };
    }
    return this.refuse(`all ${this.connsMax} connection ids are in use`);
  }

  private refuse(reason: string): { refused: string } {
    this.stats.refusedClients++;
    return { refused: reason };
  }

  /**
   * Bytes from a client. "pause": stop reading its socket until resumable(); "overflow":
   * it sent more than connInputBytesMax the primary has not made durable, so it was
   * disconnected (io.destroy, with a log line); its earlier input is still delivered.
   */
  data(conn: number, bytes: Uint8Array, peer = `connection ${conn}`): "ok" | "pause" | "overflow" {
    const c = this.conns[conn];
    if (!c || c.peerEnded || bytes.length === 0) return "ok";
    if (c.end - c.base + bytes.length > this.connInputBytesMax) {
      this.io.log(`switch: ${peer} (connection ${conn}) sent more than ${this.connInputBytesMax} bytes the primary has not made durable; disconnected`);
      this.stats.overflowDisconnects++;
      c.gone = true;
      c.held = false;
      this.io.destroy(conn);
      c.peerEnded = true;
      return "overflow";
    }
    c.chunks.push({ off: c.end, bytes });
    c.end += bytes.length;
    this.stats.bytesIn += bytes.length;
    return c.end - c.base >= SWITCH_PAUSE_BYTES ? "pause" : "ok";
  }

  /** A paused client may be read again (the primary made its input durable). */
  resumable(conn: number): boolean {
    const c = this.conns[conn];
    return !!c && c.end - c.base < SWITCH_PAUSE_BYTES / 2;
  }

  /** The client finished sending, or its socket broke: the guest gets NET_CLOSE after the data. */
  end(conn: number): void {
    const c = this.conns[conn];
    if (c) c.peerEnded = true;
  }

  /**
   * Slows a client that does not read its replies (held) or lets it go on: while held,
   * none of its input is forwarded, so the guest gets no new requests from it.
   */
  hold(conn: number, held: boolean): void {
    const c = this.conns[conn];
    if (c && !c.gone) c.held = held;
  }

  /** True while `conn` is held. */
  isHeld(conn: number): boolean {
    return !!this.conns[conn]?.held;
  }

  /**
   * Cuts a client off (it left too many replies unread, or read none for too long): the
   * socket is dropped at once, its input not yet forwarded is dropped, and the guest gets
   * NET_CLOSE after what it was given; its later output is discarded.
   */
  disconnect(conn: number, why: string, peer = `connection ${conn}`): boolean {
    const c = this.conns[conn];
    if (!c || c.gone) return false;
    this.io.log(`switch: ${peer} (connection ${conn}) ${why}; disconnected`);
    this.stats.overflowDisconnects++;
    c.gone = true;
    c.held = false;
    this.io.destroy(conn);
    if (!c.peerEnded) {
      c.peerEnded = true;
      if (c.end > c.fwd) this.trimEnd(c, c.fwd);
    }
    return true;
  }

  /** Nobody can serve any more (every host is gone): drop every client and refuse new ones. */
  serviceLost(reason: string): void {
    if (this.refusing) return;
    this.refusing = reason;
    this.primary = undefined;
    this.io.log(`switch: refusing clients: ${reason}`);
    for (const c of this.conns) if (c && !c.guestClosed) this.io.destroy(c.id);
  }

  // ---- hosts -----------------------------------------------------------------------

  /**
   * A host announces that it is the live primary of `epoch` (the shell checked that with
   * the arbiter). A new primary reports its NIC: connections it has not seen open are
   * opened again, and each connection's input is forwarded again from what its guest got.
   * It also reports which input it holds durably (`durable`): only that is forgotten here.
   * The NIC alone is not enough: a paired primary whose channel reset announces itself
   * again, and its backup may not have all its guest received (ftvm sim --net --seed 2462).
   */
  live(host: string, epoch: number, nic: readonly NicReport[], durable: readonly InputMark[]): { ok: true; redelivered: number } | { ok: false; reason: string } {
    if (epoch < this.epoch) {
      this.stats.staleRefused++;
      return { ok: false, reason: `epoch ${epoch} is older than the switch's epoch ${this.epoch}` };
    }
    if (this.refusing) return { ok: false, reason: this.refusing };
    this.epoch = epoch;
    if (host === this.primary) {
      this.ack(host, durable);
      return { ok: true, redelivered: 0 };
    }
    this.primary = host;
    this.stats.primaries++;
    const byId = new Map<number, NicReport>();
    for (const r of nic) if (Array.isArray(r) && Number.isInteger(r[0]) && r[0] >= 0 && r[0] < this.connsMax) byId.set(r[0], r);
    const durableById = new Map<number, InputMark>();
    for (const m of durable) if (Array.isArray(m) && Number.isInteger(m[0])) durableById.set(m[0], m);
    let redelivered = 0;
    for (let id = 0; id < this.connsMax; id++) {
      const [, gen = 0, state = CONN.FREE, received = 0] = byId.get(id) ?? [];
      const c = this.conns[id];
      if (!c) {
        // Connections the switch does not know (a switch newer than the guest) keep their numbering.
        if (gen > this.gens[id]) this.gens[id] = gen;
        continue;
      }
      const before = c.fwd;
      if (gen < c.gen) {
        // The guest never saw this connection open: everything goes again, from the open.
        if (c.base > 0) this.io.log(`switch: connection ${id} lost input: the new primary never opened it, but ${c.base} bytes were reported durable`);
        c.openFwd = c.openDurable = c.closeFwd = c.closeDurable = false;
        c.fwd = c.base;
      } else if (gen === c.gen) {
        const d = durableById.get(id);
        const held = d !== undefined && d[1] === c.gen ? d : undefined;
        c.openFwd = true;
        if (held?.[2]) c.openDurable = true;
        let rx = received;
        if (rx < c.base || rx > c.end) {
          this.io.log(`switch: connection ${id}: the new primary received ${rx} bytes, the switch holds ${c.base}..${c.end}; resuming from the nearest`);
          rx = Math.min(Math.max(rx, c.base), c.end);
        }
        c.fwd = rx;
        // Forget only what the new primary holds durably: a host that went live serves
        // alone (all its guest has), a paired one only what its backup acknowledged.
        if (held && typeof held[3] === "number") this.trim(c, Math.min(held[3], rx));
        c.closeFwd = state === CONN.PEER_CLOSED || state === CONN.FREE;
        if (held?.[4]) c.closeDurable = true;
      } else this.io.log(`switch: connection ${id}: the new primary has generation ${gen}, the switch ${c.gen}`);
      redelivered += Math.max(0, before - c.fwd);
      this.maybeFree(c);
    }
    this.stats.redeliveredBytes += redelivered;
    return { ok: true, redelivered };
  }

  /** A host's channel closed: if it was the primary, input waits for the next one. */
  hostGone(host: string): void {
    if (host === this.primary) this.primary = undefined;
  }

  /** The primary reports input durable. Marks from any other host are ignored. */
  ack(host: string, marks: readonly InputMark[]): void {
    if (host !== this.primary) return;
    for (const m of marks) {
      if (!Array.isArray(m)) continue;
      const [id, gen, opened, received, closed] = m;
      const c = Number.isInteger(id) ? this.conns[id] : undefined;
      if (!c || c.gen !== gen) continue;
      if (opened) c.openDurable = true;
      if (typeof received === "number" && received > c.base) this.trim(c, Math.min(received, c.fwd));
      if (closed) c.closeDurable = true;
      this.maybeFree(c);
    }
  }

  /** Output from a host: each byte is written once; an older epoch is refused. Returns false when refused as stale. */
  output(epoch: number, chunks: readonly OutChunk[]): boolean {
    if (epoch < this.epoch) {
      this.stats.staleRefused++;
      this.io.log(`switch: refused output from epoch ${epoch} (the switch is at epoch ${this.epoch})`);
      return false;
    }
    this.epoch = epoch;
    for (const ch of chunks) {
      if (!Array.isArray(ch) || !Number.isSafeInteger(ch[2]) || ch[2] < 0 || !(ch[3] instanceof Uint8Array)) {
        this.io.log(`switch: malformed output chunk from a host; dropped`);
        continue;
      }
      const [id, gen, offset, bytes, close] = ch;
      const len = bytes.length;
      const c = Number.isInteger(id) ? this.conns[id] : undefined;
      if (!c || c.gen !== gen) {
        const d = Number.isInteger(id) ? this.done[id] : undefined;
        if ((c && gen < c.gen) || (d && gen <= d.gen)) {
          // A finished connection's output, re-sent by a new primary: already written.
          this.stats.duplicateChunks++;
          this.stats.duplicateBytes += len;
        } else this.io.log(`switch: output for connection ${String(id)} generation ${String(gen)}, which the switch does not know; dropped`);
        continue;
      }
      if (offset > c.written) {
        this.io.log(`switch: output for connection ${id} at offset ${offset}, but only ${c.written} bytes were written; dropped`);
        continue;
      }
      const cmp = c.window.compare(offset, bytes);
      if (cmp.mismatchAt !== undefined) {
        this.stats.diverged++;
        this.lastDivergence = `output of epoch ${epoch} for connection ${id} at offset ${cmp.mismatchAt} differs from what the switch wrote there (wrote ${showByte(cmp.wrote)}, got ${showByte(cmp.got)}): a divergence`;
        this.io.log(`switch: refused ${this.lastDivergence}`);
        continue;
      }
      this.stats.uncheckedBytes += cmp.unchecked;
      const end = offset + len;
      if (end <= c.written) {
        if (len > 0 || (close && c.guestClosed)) {
          this.stats.duplicateChunks++;
          this.stats.duplicateBytes += len;
        }
      } else {
        const skip = c.written - offset;
        if (skip > 0) {
          this.stats.duplicateChunks++;
          this.stats.duplicateBytes += skip;
        }
        c.window.append(bytes.subarray(skip));
        if (c.gone) this.stats.discardedBytes += end - c.written;
        else {
          this.io.write(id, bytes.subarray(skip));
          this.stats.bytesOut += end - c.written;
        }
        c.written = end;
        this.writtenDirty = true;
      }
      if (close && !c.guestClosed) this.guestClose(c);
    }
    return true;
  }

  /** The guest closed the connection: finish the socket; the NIC still gets NET_CLOSE, which frees the id. */
  private guestClose(c: Conn): void {
    c.guestClosed = true;
    this.writtenDirty = true;
    // Only the close that frees the id is left to forward: it must not wait for the client.
    c.held = false;
    if (!c.gone) this.io.end(c.id);
    if (!c.peerEnded) {
      // Input the guest has not been given is for a connection it closed: nobody reads it.
      c.peerEnded = true;
      if (c.end > c.fwd) {
        this.trimEnd(c, c.fwd);
      }
    }
    this.maybeFree(c);
  }

  /** Input events for the live primary now (none without one). */
  forward(): InputEvent[] {
    const out: InputEvent[] = [];
    if (!this.primary || this.refusing) return out;
    let bytes = 0;
    const room = () => out.length < SWITCH_FORWARD_EVENTS_MAX && bytes < SWITCH_FORWARD_BATCH_BYTES_MAX;
    for (let k = 0; k < this.connsMax && room(); k++) {
      const id = (this.next + k) % this.connsMax;
      const c = this.conns[id];
      if (!c) continue;
      if (!c.openFwd) {
        out.push([EV.NET_OPEN, id]);
        c.openFwd = true;
      }
      if (c.held) continue;
      while (c.fwd < c.end && c.fwd - c.base < this.inflightBytesMax && room()) {
        const n = Math.min(c.end - c.fwd, this.inflightBytesMax - (c.fwd - c.base), SWITCH_FORWARD_CHUNK_BYTES_MAX);
        out.push([EV.NET_RX, id, this.slice(c, c.fwd, n)]);
        c.fwd += n;
        bytes += n;
      }
      if (c.peerEnded && c.fwd === c.end && !c.closeFwd && room()) {
        out.push([EV.NET_CLOSE, id]);
        c.closeFwd = true;
      }
    }
    this.next = (this.next + 1) % this.connsMax;
    return out;
  }

  /**
   * True once after output was written, a connection closed or was freed: the shell then
   * sends writtenMarks() to every host. Discarded output counts as written, so a client
   * that was cut off never stops the marks (and the backups' bounded copies) moving.
   */
  takeWrittenChanged(): boolean {
    const d = this.writtenDirty;
    this.writtenDirty = false;
    return d;
  }

  /** How far each connection's output was written (backups drop what they kept for re-sending). */
  writtenMarks(): WrittenMark[] {
    const marks: WrittenMark[] = [];
    for (let id = 0; id < this.connsMax; id++) {
      const c = this.conns[id];
      if (c) marks.push([id, c.gen, c.written, c.guestClosed ? 1 : 0]);
      else if (this.done[id]) marks.push([id, this.done[id]!.gen, this.done[id]!.written, 1]);
    }
    return marks;
  }

  /** Connections open (ids not yet free). */
  get connsInUse(): number {
    return this.conns.filter((c) => c).length;
  }

  /** Input retained for a connection (for tests and the status line). */
  retainedBytes(conn: number): number {
    const c = this.conns[conn];
    return c ? c.end - c.base : 0;
  }

  // ---- internals -------------------------------------------------------------------

  private maybeFree(c: Conn): void {
    if (!(c.guestClosed && c.closeDurable)) return;
    this.done[c.id] = { gen: c.gen, written: c.written };
    this.conns[c.id] = undefined;
    this.writtenDirty = true;
  }

  /** Drops retained input below `off` (it is durable at the primary). */
  private trim(c: Conn, off: number): void {
    while (c.chunks.length > 0) {
      const h = c.chunks[0];
      const hEnd = h.off + h.bytes.length;
      if (hEnd <= off) c.chunks.shift();
      else {
        if (h.off < off) c.chunks[0] = { off, bytes: h.bytes.subarray(off - h.off) };
        break;
      }
    }
    if (off > c.base) c.base = off;
  }

  /** Drops retained input from `off` on (nobody will read it). */
  private trimEnd(c: Conn, off: number): void {
    while (c.chunks.length > 0) {
      const t = c.chunks[c.chunks.length - 1];
      if (t.off >= off) c.chunks.pop();
      else {
        if (t.off + t.bytes.length > off) c.chunks[c.chunks.length - 1] = { off: t.off, bytes: t.bytes.subarray(0, off - t.off) };
        break;
      }
    }
    c.end = off;
  }

  /**
   * [from, from + n) of a connection's retained input: a view when one retained chunk holds
   * it all (the common case: forwarded pieces follow the client's reads), else a copy.
   * Retained chunks are never written to, so a view stays what was received.
   */
  private slice(c: Conn, from: number, n: number): Uint8Array {
    for (const ch of c.chunks) {
      const chEnd = ch.off + ch.bytes.length;
      if (chEnd <= from) continue;
      if (ch.off <= from && from + n <= chEnd) return ch.bytes.subarray(from - ch.off, from - ch.off + n);
      break;
    }
    const out = new Uint8Array(n);
    let at = 0;
    for (const ch of c.chunks) {
      const chEnd = ch.off + ch.bytes.length;
      if (chEnd <= from) continue;
      const s = Math.max(from, ch.off) - ch.off;
      const take = Math.min(ch.bytes.length - s, n - at);
      out.set(ch.bytes.subarray(s, s + take), at);
      at += take;
      if (at >= n) break;
    }
    return out;
  }
}
