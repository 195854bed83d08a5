// The input side of a network back-end, without any sockets: connection ids, what each
// connection has sent that the guest has not been given yet, and fair turns between
// connections. A TCP server (src/host/netserver.ts) feeds it from real sockets, tests feed
// it directly; the live environment takes events from it (it is a NetSource).
//
// Connection ids follow the NIC's rule (src/devices/nic.ts): an id is reused only after
// the guest has been given NET_CLOSE for it *and* the guest closed it (its close was
// drained from the NIC), so a new connection can never receive what was meant for an
// old one with the same id.
//
// A connection may be held (its client does not read its replies, see
// src/host/reply-backlog.ts): it keeps its place in no turn, so the guest gets nothing
// more from it, and every other connection goes on.
import { EV } from "../devices/events.js";
import { NET_CONNS_MAX } from "../devices/nic.js";
import type { NetInput, NetSource } from "../replay/world.js";

/** Input one connection may have waiting for the guest; beyond it the connection is refused more (see data()). */
export const NET_INBOX_CONN_BYTES_MAX = 1024 * 1024;

interface Conn {
  /** Events not yet taken: open, data and close in arrival order. */
  items: NetInput[];
  queuedBytes: number;
  /** NET_CLOSE is queued or was taken. */
  closeQueued: boolean;
  closeTaken: boolean;
  guestClosed: boolean;
  /** Held back from the guest until hold(conn, false). */
  held: boolean;
}

export class NetInbox implements NetSource {
  private readonly conns: (Conn | undefined)[];
  /** Connections with items, in turn order (round-robin). */
  private turn: number[] = [];

  constructor(
    readonly connsMax = NET_CONNS_MAX,
    readonly connBytesMax = NET_INBOX_CONN_BYTES_MAX,
  ) {
    this.conns = new Array<Conn | undefined>(connsMax);
  }

  /** Opens a connection: returns its id, or undefined when every id is in use. */
  open(): number | undefined {
    for (let id = 0; id < this.connsMax; id++) {
      if (this.conns[id]) continue;
      this.conns[id] = { items: [], queuedBytes: 0, closeQueued: false, closeTaken: false, guestClosed: false, held: false };
      this.push(id, { kind: EV.NET_OPEN, data: { conn: id } });
      return id;
    }
    return undefined;
  }

  /**
   * Bytes from the peer. False (nothing queued) when the connection already has
   * connBytesMax waiting: the caller should disconnect it (then call abort()).
   * Bytes after the peer finished or the guest closed are ignored.
   */
  data(conn: number, bytes: Uint8Array): boolean {
    const c = this.live(conn);
    if (c.closeQueued || c.guestClosed || bytes.length === 0) return true;
    if (c.queuedBytes + bytes.length > this.connBytesMax) return false;
    c.queuedBytes += bytes.length;
    this.push(conn, { kind: EV.NET_RX, data: { conn, bytes } });
    return true;
  }

  /** The peer finished sending: the guest gets NET_CLOSE after the data before it. */
  end(conn: number): void {
    const c = this.live(conn);
    if (c.closeQueued) return;
    c.closeQueued = true;
    this.push(conn, { kind: EV.NET_CLOSE, data: { conn } });
  }

  /** The connection broke or was refused: drop what the guest was not given yet, then end it. */
  abort(conn: number): void {
    this.hold(conn, false);
    this.dropData(conn);
    this.end(conn);
  }

  /** Holds a connection's input back from the guest (true) or lets it flow again (false). */
  hold(conn: number, held: boolean): void {
    const c = this.live(conn);
    if (c.held === held) return;
    c.held = held;
    if (held) this.turn = this.turn.filter((id) => id !== conn);
    else if (c.items.length > 0) this.turn.push(conn);
  }

  /** The guest's close for `conn` was drained: the connection is over on both sides. */
  guestClosed(conn: number): void {
    const c = this.live(conn);
    c.guestClosed = true;
    // Nothing more goes to the guest but the close that frees the id: it must not wait.
    this.hold(conn, false);
    this.dropData(conn);
    this.end(conn);
    this.freeIfDone(conn);
  }

  /** Bytes waiting for the guest on `conn`. */
  queuedBytes(conn: number): number {
    return this.conns[conn]?.queuedBytes ?? 0;
  }

  /** Ids in use (opened and not yet free again). */
  get connsInUse(): number {
    return this.conns.filter((c) => c).length;
  }

  ready(maxBytes: number): boolean {
    return readyInTurn(this.turn, (id) => this.conns[id]!.items, maxBytes);
  }

  take(maxBytes: number): NetInput | undefined {
    const e = takeInTurn(this.turn, (id) => this.conns[id]!.items, maxBytes);
    if (!e) return undefined;
    const c = this.conns[e.data.conn]!;
    if (e.kind === EV.NET_RX) c.queuedBytes -= e.data.bytes!.length;
    if (e.kind === EV.NET_CLOSE) {
      c.closeTaken = true;
      this.freeIfDone(e.data.conn);
    }
    return e;
  }

  private push(conn: number, e: NetInput): void {
    const c = this.conns[conn]!;
    if (c.items.length === 0 && !c.held) this.turn.push(conn);
    c.items.push(e);
  }

  private dropData(conn: number): void {
    const c = this.live(conn);
    c.items = c.items.filter((e) => e.kind !== EV.NET_RX);
    c.queuedBytes = 0;
    if (c.items.length === 0 || c.held) this.turn = this.turn.filter((id) => id !== conn);
  }

  private freeIfDone(conn: number): void {
    const c = this.conns[conn]!;
    if (c.closeTaken && c.guestClosed) this.conns[conn] = undefined;
  }

  private live(conn: number): Conn {
    const c = Number.isInteger(conn) ? this.conns[conn] : undefined;
    if (!c) throw new Error(`netinbox: connection ${conn} is not open`);
    return c;
  }
}

/** True when takeInTurn(maxBytes) would return an event. */
export function readyInTurn(turn: readonly number[], itemsOf: (conn: number) => NetInput[], maxBytes: number): boolean {
  for (const id of turn) if (maxBytes > 0 || itemsOf(id)[0].kind !== EV.NET_RX) return true;
  return false;
}

/**
 * Fair turns between connections (shared by the plain-run inbox and the FT primary's
 * queue): the first connection in `turn` whose head fits gives it (data longer than
 * maxBytes is split, the rest stays first in its line) and goes to the back of the line,
 * or leaves it when it has nothing more. Data never fits when maxBytes is 0.
 */
export function takeInTurn(turn: number[], itemsOf: (conn: number) => NetInput[], maxBytes: number): NetInput | undefined {
  for (let i = 0; i < turn.length; i++) {
    const id = turn[i];
    const q = itemsOf(id);
    const head = q[0];
    if (head.kind === EV.NET_RX && maxBytes <= 0) continue;
    let e = head;
    if (head.kind === EV.NET_RX && head.data.bytes!.length > maxBytes) {
      const bytes = head.data.bytes!;
      e = { kind: EV.NET_RX, data: { conn: id, bytes: bytes.slice(0, maxBytes) } };
      head.data = { conn: id, bytes: bytes.subarray(maxBytes) };
    } else q.shift();
    turn.splice(i, 1);
    if (q.length > 0) turn.push(id);
    return e;
  }
  return undefined;
}
