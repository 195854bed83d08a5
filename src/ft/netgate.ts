// The network card under FT, on the node's side: the output rule for what the guest
// transmits, the backup's copy of it for re-sending after a failover, and which input is
// durable (so the virtual switch may forget it).
//
// Output: NIC chunks produced at icount N are held until the backup acknowledged the log
// through N (released at once when alone), exactly like console output. A backup keeps
// the chunks its replay produces until the switch reports them written (WrittenMark), so
// that, going live, it re-sends whatever its predecessor may not have released; the
// switch drops the duplicates by (connection, generation, offset).
//
// Input: every NET_* event the live side logs is noted with its lsn; once the log through
// that lsn is acknowledged (or at once when alone) the connection's input up to there is
// durable, and the shell tells the switch (InputMark).
import type { Event } from "../devices/events.js";
import { EV } from "../devices/events.js";
import { CONN } from "../devices/nic.js";
import type { NetChunk, Nic } from "../devices/nic.js";
import type { InputMark, NicReport, OutChunk, WrittenMark } from "../net/switch.js";

/** Transmitted bytes held until the backup acknowledges; past it the primary pauses execution (never drops). */
export const NET_HELD_BYTES_MAX = 8 * 1024 * 1024;
/** Transmitted bytes a backup keeps until the switch has them; past it the backup pauses replay. */
export const NET_BACKUP_KEPT_BYTES_MAX = 16 * 1024 * 1024;

interface Held {
  icount: number;
  chunk: NetChunk;
}

interface InputRecord {
  lsn: number;
  conn: number;
  gen: number;
  kind: number;
  bytes: number;
}

export class NetGate {
  private held: Held[] = [];
  heldBytes = 0;
  /** Backup: chunks produced by replay that the switch may not have. */
  private kept: NetChunk[] = [];
  keptBytes = 0;
  /** Logged input not yet durable, in lsn order. */
  private logged: InputRecord[] = [];
  /** Durable input per connection id. */
  private readonly durable = new Map<number, { gen: number; opened: boolean; received: number; closed: boolean }>();
  private changed = new Set<number>();
  releasedBytes = 0;

  get heldCount(): number {
    return this.held.length;
  }

  full(): boolean {
    return this.heldBytes >= NET_HELD_BYTES_MAX;
  }

  // ---- output (primary) ----

  hold(chunks: readonly NetChunk[], icount: number): void {
    for (const chunk of chunks) {
      this.held.push({ icount, chunk });
      this.heldBytes += chunk.bytes.length;
    }
  }

  /** Releases the chunks produced at or before `icount`, in order. */
  release(icount: number): NetChunk[] {
    let n = 0;
    while (n < this.held.length && this.held[n].icount <= icount) n++;
    if (n === 0) return [];
    const out = this.held.slice(0, n).map((h) => h.chunk);
    this.held = this.held.slice(n);
    for (const c of out) {
      this.heldBytes -= c.bytes.length;
      this.releasedBytes += c.bytes.length;
    }
    return out;
  }

  // ---- output (backup) ----

  keep(chunks: readonly NetChunk[]): void {
    for (const c of chunks) {
      this.kept.push(c);
      this.keptBytes += c.bytes.length;
    }
  }

  keptFull(): boolean {
    return this.keptBytes > NET_BACKUP_KEPT_BYTES_MAX;
  }

  /** The switch wrote these: forget what they cover. */
  trim(marks: readonly WrittenMark[]): void {
    if (this.kept.length === 0) return;
    const by = new Map<number, WrittenMark>();
    for (const m of marks) if (Array.isArray(m)) by.set(m[0], m);
    const covered = (c: NetChunk) => {
      const m = by.get(c.conn);
      if (!m) return false;
      const [, gen, written, closed] = m;
      if (gen > c.generation) return true;
      return gen === c.generation && c.offset + c.bytes.length <= written && (!c.close || closed === 1);
    };
    const before = this.kept.length;
    this.kept = this.kept.filter((c) => !covered(c));
    if (this.kept.length !== before) this.keptBytes = this.kept.reduce((n, c) => n + c.bytes.length, 0);
  }

  /** What is kept (a primary running alone hands it to a clone: output it released that the switch may not have). */
  keptChunks(): readonly NetChunk[] {
    return this.kept;
  }

  /** Going live: everything kept goes out again (the switch drops what it has). */
  takeKept(): NetChunk[] {
    const out = this.kept;
    this.kept = [];
    this.keptBytes = 0;
    return out;
  }

  // ---- input durability (primary) ----

  /** The live side logged `e` (before the NIC applied it). */
  noteLogged(e: Event, nic: Nic): void {
    if (e.kind !== EV.NET_OPEN && e.kind !== EV.NET_RX && e.kind !== EV.NET_CLOSE) return;
    const d = e.data as { conn: number; bytes?: Uint8Array };
    const gen = nic.generations[d.conn] + (e.kind === EV.NET_OPEN ? 1 : 0);
    this.logged.push({ lsn: e.lsn, conn: d.conn, gen, kind: e.kind, bytes: d.bytes?.length ?? 0 });
  }

  /** Input logged through `lsn` is durable; returns the connections whose durable input moved. */
  durableThrough(lsn: number): InputMark[] {
    let n = 0;
    for (; n < this.logged.length && this.logged[n].lsn <= lsn; n++) {
      const r = this.logged[n];
      let d = this.durable.get(r.conn);
      if (!d || d.gen !== r.gen) this.durable.set(r.conn, (d = { gen: r.gen, opened: false, received: 0, closed: false }));
      if (r.kind === EV.NET_OPEN) d.opened = true;
      else if (r.kind === EV.NET_RX) d.received += r.bytes;
      else d.closed = true;
      this.changed.add(r.conn);
    }
    if (n > 0) this.logged = this.logged.slice(n);
    if (this.changed.size === 0) return [];
    const marks: InputMark[] = [];
    for (const id of this.changed) {
      const d = this.durable.get(id)!;
      marks.push([id, d.gen, d.opened ? 1 : 0, d.received, d.closed ? 1 : 0]);
    }
    this.changed.clear();
    return marks;
  }

  /**
   * Everything known durable, for an announcement to the switch: a switch that takes this
   * host as a new primary keeps each connection's input above these marks (never above
   * what the NIC received). A paired primary announcing itself again on a new channel must
   * not claim more: its backup may not have the rest, and if the backup wins the next
   * epoch the switch has to give it that input again (ftvm sim --net --seed 2462). Input
   * that became durable since the last durableThrough() follows in the next marks.
   */
  announceMarks(): InputMark[] {
    const marks: InputMark[] = [];
    for (const [id, d] of this.durable) marks.push([id, d.gen, d.opened ? 1 : 0, d.received, d.closed ? 1 : 0]);
    return marks;
  }

  /**
   * The node went live (and only then: a new switch channel changes nothing here): what
   * its guest's NIC holds is durable, since it serves alone, and input tracking starts there.
   */
  startFrom(nic: Nic): void {
    this.logged = [];
    this.durable.clear();
    this.changed.clear();
    for (let id = 0; id < nic.generations.length; id++) {
      const state = nic.states[id];
      if (nic.generations[id] > 0) this.durable.set(id, { gen: nic.generations[id], opened: true, received: nic.receivedBytes[id], closed: state === CONN.PEER_CLOSED || state === CONN.FREE });
    }
  }
}

/** The log position through which a live node's input is durable: what its backup acknowledged, or all of it when alone. */
export function durableLsn(role: string, ackedLsn: number | undefined): number {
  return role === "alone" || ackedLsn === undefined ? Number.MAX_SAFE_INTEGER : ackedLsn;
}

/** A NIC's connections as a new primary reports them to the switch. */
export function nicReport(nic: Nic): NicReport[] {
  const out: NicReport[] = [];
  for (let id = 0; id < nic.generations.length; id++) if (nic.generations[id] > 0) out.push([id, nic.generations[id], nic.states[id], nic.receivedBytes[id]]);
  return out;
}

/** NIC chunks as they travel to the switch. */
export function toOutChunks(chunks: readonly NetChunk[]): OutChunk[] {
  return chunks.map((c) => [c.conn, c.generation, c.offset, c.bytes, c.close ? 1 : 0]);
}
