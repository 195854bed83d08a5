// The input a live FT primary has received from the virtual switch and not yet given to
// its guest: per connection in arrival order, taken in fair turns between connections by
// the live environment (this is the primary's NetSource). The switch decides ids and
// generations and bounds what it forwards (SWITCH_INFLIGHT_BYTES_MAX per connection), so
// this queue only keeps order; its own bound catches a misbehaving switch.
import { EV } from "../devices/events.js";
import { readyInTurn, takeInTurn } from "./inbox.js";
import type { NetInput, NetSource } from "../replay/world.js";

/** Bytes waiting here; a switch that forwards more is refused (see push). */
export const NET_QUEUE_BYTES_MAX = 64 * 1024 * 1024;

export class NetQueue implements NetSource {
  private readonly items = new Map<number, NetInput[]>();
  /** Connections with items, in turn order. */
  private turn: number[] = [];
  queuedBytes = 0;
  /** Called when input arrived (the shell wakes its run loop). */
  onInput: () => void = () => undefined;

  /** Queues one event; false (nothing queued) when it does not fit. */
  push(kind: number, conn: number, bytes?: Uint8Array): boolean {
    if (kind !== EV.NET_OPEN && kind !== EV.NET_RX && kind !== EV.NET_CLOSE) return false;
    if (!Number.isInteger(conn) || conn < 0) return false;
    const n = kind === EV.NET_RX ? (bytes?.length ?? 0) : 0;
    if (kind === EV.NET_RX && !(bytes instanceof Uint8Array)) return false;
    if (this.queuedBytes + n > NET_QUEUE_BYTES_MAX) return false;
    if (kind === EV.NET_RX && n === 0) return true;
    let q = this.items.get(conn);
    if (!q) this.items.set(conn, (q = []));
    if (q.length === 0) this.turn.push(conn);
    q.push(kind === EV.NET_RX ? { kind, data: { conn, bytes: bytes! } } : { kind, data: { conn } });
    this.queuedBytes += n;
    return true;
  }

  /** Forgets everything (a host that is not, or no longer, the switch's primary). */
  reset(): void {
    this.items.clear();
    this.turn = [];
    this.queuedBytes = 0;
  }

  ready(maxBytes: number): boolean {
    return readyInTurn(this.turn, (id) => this.items.get(id)!, maxBytes);
  }

  take(maxBytes: number): NetInput | undefined {
    const e = takeInTurn(this.turn, (id) => this.items.get(id)!, maxBytes);
    if (e?.kind === EV.NET_RX) this.queuedBytes -= e.data.bytes!.length;
    return e;
  }
}
