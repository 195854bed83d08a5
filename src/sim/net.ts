// The simulated network: one-way links between the hosts (P, B, and backups respawned
// later: C, D, ...), the arbiter (A) and the console sink (S), each with its own delay distribution, loss, duplication,
// reordering and partition windows. A link only computes *when* (and whether) a message
// sent now arrives; the simulator schedules the delivery. In disk runs the shared disk
// server is DS. Messages are encoded with
// msgpackr exactly as the real channel does (src/transport/channel.ts), so the receiver
// gets a copy in wire form, never the sender's objects.
import { Packr } from "msgpackr";
import type { Prng } from "./prng.js";

/** A host id (P, B, C, ...), the arbiter A, the sink S or the disk server DS. */
export type Endpoint = string;

export interface Window {
  from: number;
  to: number;
}

export interface LinkModel {
  /** "P>B" and so on: from > to. */
  name: string;
  /** Ordered like TCP: a message never overtakes an earlier one on this link. */
  fifo: boolean;
  /** Base one-way delay (ms) and extra delay, uniform in [0, jitterMs). */
  delayMs: number;
  jitterMs: number;
  /** Probability that a message is lost (never arrives). */
  loss: number;
  /** Probability that a message arrives twice. */
  dup: number;
  /** Probability that a message is held back by an extra delay of up to reorderMs (overtaken by later ones unless fifo). */
  reorder: number;
  reorderMs: number;
  /** When the link is cut. Ends are finite: every partition heals. */
  partitions: Window[];
  /** drop: what is sent (or would arrive) during a partition is lost, and nobody sees a close; hold: it arrives after the partition heals (TCP retransmission). */
  partitionMode: "drop" | "hold";
}

export function calmLink(name: string, delayMs = 0.2, jitterMs = 0.2): LinkModel {
  return { name, fifo: true, delayMs, jitterMs, loss: 0, dup: 0, reorder: 0, reorderMs: 0, partitions: [], partitionMode: "hold" };
}

export class Link {
  private lastArrival = 0;
  sent = 0;
  lost = 0;
  duplicated = 0;

  constructor(
    readonly model: LinkModel,
    private readonly rng: Prng,
  ) {}

  /** The partition window covering time t, if any. */
  cutAt(t: number): Window | undefined {
    for (const w of this.model.partitions) if (t >= w.from && t < w.to) return w;
    return undefined;
  }

  /** Where the link stays cut from t on, the time it heals (t itself when it is up). */
  healsAt(t: number): number {
    for (let w = this.cutAt(t); w; w = this.cutAt(t)) t = w.to;
    return t;
  }

  /**
   * Arrival times of a message sent at `now`: none when it is lost, two when duplicated.
   * `reliable` messages (a connection's close) are never lost or duplicated at random,
   * only by partitions.
   */
  arrivals(now: number, reliable = false): number[] {
    const m = this.model;
    this.sent++;
    let t = now + m.delayMs + this.rng.float() * m.jitterMs;
    if (!reliable && m.reorder > 0 && this.rng.chance(m.reorder)) t += this.rng.float() * m.reorderMs;
    if (this.cutAt(now) || this.cutAt(t)) {
      if (m.partitionMode === "drop") {
        this.lost++;
        return [];
      }
      t = this.healsAt(Math.max(now, t)) + m.delayMs + this.rng.float() * m.jitterMs;
    }
    if (!reliable && m.loss > 0 && this.rng.chance(m.loss)) {
      this.lost++;
      return [];
    }
    if (m.fifo) {
      t = Math.max(t, this.lastArrival + 0.001);
      this.lastArrival = t;
    }
    const out = [t];
    if (!reliable && m.dup > 0 && this.rng.chance(m.dup)) {
      this.duplicated++;
      out.push(m.fifo ? t + 0.001 : t + this.rng.float() * (m.jitterMs + m.reorderMs + 1));
      if (m.fifo) this.lastArrival = out[1];
    }
    return out;
  }
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export class Net {
  readonly links = new Map<string, Link>();

  constructor(
    models: LinkModel[],
    private readonly rng: Prng,
  ) {
    for (const m of models) this.add(m);
  }

  /** Adds a link (a respawned host's, when it starts); its randomness is its own stream, named after it. */
  add(m: LinkModel): Link {
    if (this.links.has(m.name)) throw new Error(`sim: link ${m.name} exists`);
    const l = new Link(m, this.rng.fork(m.name));
    this.links.set(m.name, l);
    return l;
  }

  link(from: Endpoint, to: Endpoint): Link {
    const l = this.links.get(`${from}>${to}`);
    if (!l) throw new Error(`sim: no link ${from}>${to}`);
    return l;
  }

  /** The wire form of a message (what the real channel sends). */
  encode(m: unknown): Uint8Array {
    return packr.pack(m);
  }

  decode<T>(b: Uint8Array): T {
    return packr.unpack(b) as T;
  }
}
