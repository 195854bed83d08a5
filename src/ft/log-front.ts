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
import { checkedLsns } from "../replay/logformat.js";
import { parsePeerMsg } from "./protocol.js";

/**
 * Log messages passed on to the node and not yet known applied, remembered to re-derive
 * the node's received lsn at the next arming point. The node applies them within a slice
 * or two (a few ms); a node that falls this far behind is acknowledged by itself.
 */
export const PENDING_MAX = 4096;

/** What the front did with one message from the primary. */
export interface FrontVerdict {
  /** The message's number on this channel (from 1): the host reports it back once the node has taken the message (see onOutgoing). */
  seq: number;
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

/**
 * A message passed on to the node and not yet known taken: a log batch (its events'
 * first and last lsn, and how many were fresh), a primary's heartbeat (the node refuses
 * the channel when it says more was sent than arrived), or any other message, which the
 * front does not judge (a barrier: nothing is acknowledged early until the node is past it).
 */
type Pending = { seq: number; kind: "log"; first: number; last: number; fresh: number } | { seq: number; kind: "hb"; sentLsn: number } | { seq: number; kind: "barrier" };

export class LogFront {
  /** The node's received lsn once it has applied everything passed on (valid while armed). */
  lsn = 0;
  /** True once the node said where it stands and everything passed on since can be judged. */
  armed = false;
  /** Messages seen on this channel. */
  private seq = 0;
  /** Messages passed on and not yet known taken by the node, in order. */
  private readonly pending: Pending[] = [];
  /** The fresh events of the log batches in `pending`, summed. */
  private pendingFresh = 0;
  /**
   * Set when the front lost track (pending full), and moved on with every message passed
   * on unrecorded: it arms again once the node has taken message `blindSeq`.
   */
  private blindSeq = 0;

  /**
   * A message the node sends to the primary, sent after the node had taken the channel's
   * messages through number `takenSeq` (FrontVerdict.seq; 0 for none). One that carries
   * its received lsn arms the front: the node stood there after exactly those messages.
   */
  onOutgoing(m: { t: string; lsn?: unknown }, takenSeq: number): void {
    if ((m.t === "ack" || m.t === "hb" || m.t === "restored") && typeof m.lsn === "number") this.arm(m.lsn, takenSeq);
  }

  /** A message from the primary, before the node sees it. Never throws: what the front cannot judge goes to the node unacknowledged. */
  onIncoming(raw: { t: string; [k: string]: unknown }, view: FrontView): FrontVerdict {
    const seq = ++this.seq;
    if (this.pending.length >= PENDING_MAX) {
      // Too far ahead of the node: stop until it has taken everything up to here.
      this.armed = false;
      this.pending.length = 0;
      this.pendingFresh = 0;
      this.blindSeq = seq;
      return { seq };
    }
    if (this.blindSeq > 0) {
      // Still blind: everything passed on unrecorded must be taken before the front arms again.
      this.blindSeq = seq;
      return { seq };
    }
    if (raw.t === "hb") {
      const sent = typeof raw.sentLsn === "number" ? raw.sentLsn : 0;
      this.pending.push({ seq, kind: "hb", sentLsn: sent });
      if (this.armed && sent > this.lsn) this.armed = false;
      return { seq };
    }
    const events = raw.t === "log" ? logEvents(raw) : undefined;
    if (!events) {
      // Anything else (or a log batch the node will refuse): the node's verdict is its own.
      this.pending.push({ seq, kind: "barrier" });
      this.armed = false;
      return { seq };
    }
    const base = this.armed ? this.lsn : 0;
    // The batch's lsns are consecutive (logEvents): those past `base` are its last `fresh`.
    const { first, last } = events;
    const fresh = events.count === 0 || last <= base ? 0 : last - Math.max(first, base + 1) + 1;
    const queued = view.queuedEvents + this.pendingFresh;
    this.pendingFresh += fresh;
    this.pending.push({ seq, kind: "log", first, last, fresh });
    if (!this.armed) return { seq };
    if (fresh > 0 && last - fresh + 1 !== this.lsn + 1) {
      // The node refuses a gap: stop until it says where it stands again.
      this.armed = false;
      return { seq };
    }
    if (fresh > 0) this.lsn = last;
    // Room in the node's queue, counted generously (events passed on may be counted twice):
    // a front that declines leaves the acknowledgement to the node, which checks exactly.
    const room = queued + fresh <= view.queueEventsMax / 2;
    const acked = !events.ackLazy && view.ackAllowed && room;
    if (!acked) return { seq, front: { lsn: this.lsn, acked: false } };
    return { seq, ack: { t: "ack", lsn: this.lsn, icount: view.icount }, front: { lsn: this.lsn, acked: true } };
  }

  /**
   * The node had received through `x` after taking the messages through `takenSeq`:
   * replaying the node's rules over the messages after those gives where it will stand.
   */
  private arm(x: number, takenSeq: number): void {
    if (this.blindSeq > 0) {
      if (takenSeq < this.blindSeq) return;
      this.blindSeq = 0;
    }
    let i = 0;
    while (i < this.pending.length && this.pending[i].seq <= takenSeq) {
      const p = this.pending[i++];
      if (p.kind === "log") this.pendingFresh -= p.fresh;
    }
    this.pending.splice(0, i);
    let lsn = x;
    this.armed = false;
    for (const p of this.pending) {
      if (p.kind === "barrier") return;
      if (p.kind === "hb") {
        if (p.sentLsn > lsn) return;
        continue;
      }
      // The node's rule, on a batch's events past lsn: they must start at lsn + 1.
      if (p.last <= lsn) continue;
      const firstFresh = p.first > lsn ? p.first : lsn + 1;
      if (firstFresh !== lsn + 1) return;
      lsn = p.last;
    }
    this.lsn = lsn;
    this.armed = true;
  }
}

/**
 * A log batch's lsns (first to last, `count` of them; 0 and 0 when it has none), if the
 * node will take it: well-formed (the same checks the node makes: parsePeerMsg, and
 * checkedLsns, which checks what toEvents checks) and consecutive, as a correct primary
 * sends them. Undefined otherwise.
 */
function logEvents(raw: { t: string; [k: string]: unknown }): { first: number; last: number; count: number; ackLazy: boolean } | undefined {
  try {
    const m = parsePeerMsg(raw);
    if (m.t !== "log") return undefined;
    const l = checkedLsns(m.events, 0);
    if (!l) return undefined;
    return { first: l.first, last: l.count ? l.first + l.count - 1 : 0, count: l.count, ackLazy: m.ackLazy === true };
  } catch {
    return undefined;
  }
}
