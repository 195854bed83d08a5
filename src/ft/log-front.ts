// The backup's log front: the part of the backup's protocol that acknowledges the
// primary's log as it arrives, without waiting for the guest. A host runs it on its I/O
// thread (src/host/io-worker.ts), where the log channel's socket lives, so an
// acknowledgement leaves within a thread wake-up of the batch's arrival even while the
// node's thread replays a guest slice or waits behind other processes for a CPU (issue 11,
// point 1: on a busy pair that wait was most of the output rule's latency). The simulator
// runs the same code between its network and the node (src/sim/host-shell.ts).
//
// What makes an early acknowledgement safe: the node accepts a log message by one rule
// (node-replay.ts onLog: the events past what it has received must start right after it),
// and it sees the messages in the order the front saw them. So the front can compute the
// node's `received` after every message it has passed on, given one point where it knew
// it: the node's own messages that carry its received lsn (ack, hb, restored) say "I had
// received through X", and the messages passed on after X are the ones the node has not
// applied yet. The front acknowledges only what the node is certain to accept; each
// message it acknowledged carries the front's lsn, and the node checks that its own
// received equals it (an InvariantError otherwise). A node that did not take in what was
// acknowledged (a channel cut first) may not take over (see FtNode.frontAckedLsn).
//
// Pure: no clocks, no sockets. Bounded: PENDING_MAX messages passed on and not yet known
// applied are remembered; past that the front stops acknowledging until the node catches up.
import { toEvents } from "../replay/logformat.js";
import { parsePeerMsg } from "./protocol.js";

/**
 * Log messages passed on to the node and not yet known applied, remembered to re-derive
 * the node's received lsn at the next arming point. The node applies them within a slice
 * or two (a few ms); a node that falls this far behind is acknowledged by itself.
 */
export const PENDING_MAX = 4096;

/** What the front did with one message from the primary. */
export interface FrontVerdict {
  /** The acknowledgement to send now (the front's own), if any. */
  ack?: { t: "ack"; lsn: number; icount: number };
  /**
   * For a log message while armed: the node's received lsn once it has applied this
   * message, and whether the front acknowledged it (then the node does not).
   */
  front?: { lsn: number; acked: boolean };
}

/** How the host tells the front where the node stands (read at each message; may be stale). */
export interface FrontView {
  /** The backup's replay icount (the acknowledgement carries it, for the primary's lag). */
  icount: number;
  /** Events in the node's replay queue (the front acknowledges only while there is room). */
  queuedEvents: number;
  /** The node's replay queue bound (QueueSource.capacityEvents). */
  queueEventsMax: number;
  /** False while the host holds the front back (see src/host/io-thread.ts): nothing is acknowledged early then. */
  ackAllowed: boolean;
}

export class LogFront {
  /** The node's received lsn once it has applied everything passed on (valid while armed). */
  lsn = 0;
  /** True once a message of the node's said where it stands and everything since was contiguous. */
  armed = false;
  /** The largest lsn this front acknowledged. */
  ackedMax = 0;
  /**
   * Set when a message went to the node unrecorded (pending full, or one the front could
   * not judge): the highest lsn among them. The front is disarmed until the node says it
   * has received at least this far.
   */
  private blindLast?: number;
  /** Log messages passed on and not yet known applied: [first event's lsn, last event's lsn, fresh events]. */
  private readonly pending: { first: number; last: number; fresh: number }[] = [];
  /** The fresh events of `pending`, summed. */
  private pendingFresh = 0;

  /** A message the node sends to the primary; one that carries its received lsn arms the front. */
  onOutgoing(m: { t: string; lsn?: unknown }): void {
    if ((m.t === "ack" || m.t === "hb" || m.t === "restored") && typeof m.lsn === "number") this.arm(m.lsn);
  }

  /** A message from the primary, before the node sees it. Never throws: what the front cannot judge goes to the node unacknowledged. */
  onIncoming(raw: { t: string; [k: string]: unknown }, view: FrontView): FrontVerdict {
    if (raw.t !== "log") return {};
    let events: { lsn: number }[];
    let ackLazy = false;
    try {
      const m = parsePeerMsg(raw);
      if (m.t !== "log") return {};
      events = toEvents(m.events, 0);
      ackLazy = m.ackLazy === true;
    } catch {
      // The node refuses it with the reason (and the channel); nothing is acknowledged early after it.
      this.lose(Number.MAX_SAFE_INTEGER);
      return {};
    }
    // A batch from a correct primary is consecutive; anything else the front leaves to the node.
    for (let i = 1; i < events.length; i++)
      if (events[i].lsn !== events[i - 1].lsn + 1) {
        this.lose(events[events.length - 1].lsn);
        return {};
      }
    const base = this.armed ? this.lsn : 0;
    const fresh = events.filter((e) => e.lsn > base);
    const first = fresh.length ? fresh[0].lsn : base + 1;
    const last = fresh.length ? fresh[fresh.length - 1].lsn : base;
    const batchLast = events.length ? events[events.length - 1].lsn : 0;
    if (this.blindLast !== undefined || this.pending.length >= PENDING_MAX) {
      this.lose(batchLast);
      return {};
    }
    const queued = view.queuedEvents + this.pendingFresh;
    this.pendingFresh += fresh.length;
    this.pending.push({ first: events.length ? events[0].lsn : 0, last: batchLast, fresh: fresh.length });
    if (!this.armed) return {};
    if (fresh.length && first !== this.lsn + 1) {
      // The node refuses a gap: stop until it says where it stands again.
      this.armed = false;
      return {};
    }
    this.lsn = last;
    // Room in the node's queue, counted generously (events passed on may be counted twice):
    // a front that declines leaves the acknowledgement to the node, which checks exactly.
    const room = queued + fresh.length <= view.queueEventsMax / 2;
    const acked = !ackLazy && view.ackAllowed && room;
    if (!acked) return { front: { lsn: this.lsn, acked: false } };
    this.ackedMax = Math.max(this.ackedMax, this.lsn);
    return { ack: { t: "ack", lsn: this.lsn, icount: view.icount }, front: { lsn: this.lsn, acked: true } };
  }

  /** Stops acknowledging until the node has passed `last` (see blindLast). */
  private lose(last: number): void {
    this.armed = false;
    this.blindLast = Math.max(this.blindLast ?? 0, last);
    this.pending.length = 0;
    this.pendingFresh = 0;
  }

  /**
   * The node had received through `x` when it sent a message: the log messages passed on
   * whose events all lie at or below x are applied (or were no-ops); replaying the rest
   * by the node's rule from x gives where the node will stand.
   */
  private arm(x: number): void {
    if (this.blindLast !== undefined) {
      // Messages went by unrecorded: only once the node has passed all of them is x a base.
      if (x < this.blindLast) return;
      this.blindLast = undefined;
      this.pending.length = 0;
      this.pendingFresh = 0;
    }
    let i = 0;
    while (i < this.pending.length && this.pending[i].last <= x) this.pendingFresh -= this.pending[i++].fresh;
    this.pending.splice(0, i);
    let lsn = x;
    for (const p of this.pending) {
      // The node's rule, on a message's fresh events past lsn: they must start at lsn + 1.
      if (p.last <= lsn) continue;
      const firstFresh = p.first > lsn ? p.first : lsn + 1;
      if (firstFresh !== lsn + 1) {
        this.armed = false;
        return;
      }
      lsn = p.last;
    }
    this.lsn = lsn;
    this.armed = true;
  }
}
