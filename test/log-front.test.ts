// The backup's log front (src/ft/log-front.ts) acknowledges log on the I/O thread before
// the node has applied it. Safe only if every acknowledgement names an lsn the node will
// hold once it has applied the messages passed on: checked here against the node's own
// rule (node-replay.ts onLog) over random streams, orders and arming points.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LogFront, type FrontView } from "../src/ft/log-front.js";
import type { FtNode } from "../src/ft/node.js";
import { guestImage } from "../src/sim/guest.js";
import { TestCluster } from "./support/cluster.js";

const view = (o: Partial<FrontView> = {}): FrontView => ({ icount: 7, queuedEvents: 0, queueEventsMax: 1 << 20, ackAllowed: true, ...o });
/** A log message with events first..last (data: a TIME event's microseconds). */
const batch = (first: number, last: number, extra: Record<string, unknown> = {}) => ({
  t: "log",
  events: Array.from({ length: last - first + 1 }, (_, i) => [first + i, (first + i) * 10, 2, 1]),
  ...extra,
});

/** The node's rule for one log message (node-replay.ts onLog): its received after it, or "refused". */
function nodeApplies(received: number, m: { events: unknown[][] }): number | "refused" {
  const fresh = m.events.filter((e) => (e[0] as number) > received);
  if (fresh.length && fresh[0][0] !== received + 1) return "refused";
  return fresh.length ? (fresh[fresh.length - 1][0] as number) : received;
}

describe("log front", () => {
  it("acknowledges nothing until the node has said where it stands", () => {
    const f = new LogFront();
    expect(f.onIncoming(batch(1, 3), view())).toEqual({ seq: 1 });
    f.onOutgoing({ t: "hb", lsn: 0 }, 0);
    // Armed at 0 with batch 1..3 passed on and not taken: the next batch continues at 4.
    const v = f.onIncoming(batch(4, 5), view());
    expect(v).toEqual({ seq: 2, ack: { t: "ack", lsn: 5, icount: 7 }, front: { lsn: 5, acked: true } });
  });

  it("leaves a lazy batch, a held channel and a full queue to the node, but keeps counting", () => {
    const f = new LogFront();
    f.onOutgoing({ t: "ack", lsn: 0 }, 0);
    expect(f.onIncoming(batch(1, 2, { ackLazy: true }), view())).toEqual({ seq: 1, front: { lsn: 2, acked: false } });
    expect(f.onIncoming(batch(3, 3), view({ ackAllowed: false }))).toEqual({ seq: 2, front: { lsn: 3, acked: false } });
    expect(f.onIncoming(batch(4, 9), view({ queuedEvents: 10, queueEventsMax: 20 }))).toEqual({ seq: 3, front: { lsn: 9, acked: false } });
    expect(f.onIncoming(batch(10, 10), view())).toEqual({ seq: 4, ack: { t: "ack", lsn: 10, icount: 7 }, front: { lsn: 10, acked: true } });
  });

  it("stops at a gap, at a heartbeat the node refuses, and at a message it cannot judge until the node has taken it", () => {
    const f = new LogFront();
    f.onOutgoing({ t: "restored", lsn: 4 }, 0);
    expect(f.onIncoming(batch(6, 7), view())).toEqual({ seq: 1 });
    expect(f.onIncoming(batch(8, 8), view())).toEqual({ seq: 2 });
    const g = new LogFront();
    g.onOutgoing({ t: "ack", lsn: 0 }, 0);
    expect(g.onIncoming({ t: "hb", icount: 1, sentLsn: 3 }, view())).toEqual({ seq: 1 });
    expect(g.onIncoming(batch(1, 3), view())).toEqual({ seq: 2 });
    const h = new LogFront();
    h.onOutgoing({ t: "ack", lsn: 0 }, 0);
    expect(h.onIncoming({ t: "paired", epoch: 2 }, view())).toEqual({ seq: 1 });
    expect(h.onIncoming(batch(1, 1), view())).toEqual({ seq: 2 });
    // The node took the "paired" and said where it stands: acknowledging again.
    h.onOutgoing({ t: "hb", lsn: 0 }, 1);
    expect(h.onIncoming(batch(2, 2), view()).ack?.lsn).toBe(2);
    const k = new LogFront();
    k.onOutgoing({ t: "ack", lsn: 0 }, 0);
    expect(k.onIncoming({ t: "log", events: [[1, 0, 2]] }, view())).toEqual({ seq: 1 });
    expect(k.onIncoming(batch(1, 1), view())).toEqual({ seq: 2 });
  });

  it("on random streams, orders and arming points, acknowledges only what the node will hold, and is not idle", () => {
    // A primary's stream: consecutive batches, some re-sent (a resume re-sends from the
    // backup's lsn), some lazy, heartbeats saying how far it has sent (honest or not), and
    // other messages the node may refuse; the node takes the messages in order, at random
    // moments, and now and then tells the front where it stands (its heartbeats and acks).
    const arb = fc.record({
      kinds: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 80 }),
      sizes: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 80, maxLength: 80 }),
      resend: fc.array(fc.boolean(), { minLength: 80, maxLength: 80 }),
      lazy: fc.array(fc.boolean(), { minLength: 80, maxLength: 80 }),
      steps: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 300, maxLength: 300 }),
      gapAt: fc.option(fc.integer({ min: 0, max: 79 }), { nil: undefined }),
      lieAt: fc.option(fc.integer({ min: 0, max: 79 }), { nil: undefined }),
      refuseBarriers: fc.boolean(),
    });
    let acked = 0;
    fc.assert(
      fc.property(arb, (p) => {
        type M = { t: string; events?: unknown[][]; ackLazy?: boolean; sentLsn?: number };
        const msgs: M[] = [];
        let next = 1;
        p.kinds.forEach((k, i) => {
          if (k === 0) msgs.push({ t: "hb", icount: 0, sentLsn: next - 1 + (p.lieAt === i ? 1 : 0) } as M);
          else if (k === 1) msgs.push({ t: "paired", epoch: 2 } as M);
          else {
            const n = p.sizes[i];
            const from = p.resend[i] && next > 2 ? next - 2 : next;
            const skip = p.gapAt === i ? 1 : 0;
            msgs.push(batch(from + skip, next + skip + n - 1, p.lazy[i] ? { ackLazy: true } : {}) as M);
            next = Math.max(next, next + skip + n);
          }
        });
        const f = new LogFront();
        let received = 0;
        let refused = false;
        let arrived = 0;
        let taken = 0;
        const queue: { m: M; v: ReturnType<LogFront["onIncoming"]> }[] = [];
        const ackedLsns: number[] = [];
        const take = () => {
          const q = queue.shift()!;
          taken = q.v.seq;
          if (refused) return;
          if (q.m.t === "hb") {
            if ((q.m.sentLsn ?? 0) > received) refused = true;
            return;
          }
          if (q.m.t === "paired") {
            if (p.refuseBarriers) refused = true;
            return;
          }
          const r = nodeApplies(received, q.m as { events: unknown[][] });
          if (r === "refused") {
            refused = true;
            return;
          }
          received = r;
          if (q.v.front) expect(q.v.front.lsn).toBe(received);
        };
        for (const s of p.steps) {
          if (s <= 1 && arrived < msgs.length) {
            const m = msgs[arrived++];
            const v = f.onIncoming(m, view());
            if (v.ack) ackedLsns.push(v.ack.lsn);
            queue.push({ m, v });
          } else if (s === 2 && queue.length) take();
          else if (!refused) f.onOutgoing({ t: "hb", lsn: received }, taken);
        }
        while (queue.length) take();
        acked += ackedLsns.length;
        // Every acknowledgement is covered by what the node holds once it has taken all it
        // was given, even when it refused the channel on the way (the front stops at
        // anything the node may refuse, and is armed again only by the node).
        for (const lsn of ackedLsns) expect(lsn).toBeLessThanOrEqual(received);
      }),
      { numRuns: 2000 },
    );
    // Not a front that never acknowledges (which would pass the above trivially).
    expect(acked).toBeGreaterThan(1000);
  });
});

describe("a backup whose front acknowledged more than it took in", () => {
  // The take-over rule (node-failover.ts runDraining): the old primary may have released
  // output on the front's acknowledgement, so a backup that lacks that log must not go live.
  const GUEST = { lines: 5000, periodUs: 300, waitEvery: 8 };
  function pair(c: TestCluster): FtNode {
    c.add("P", 11);
    const b = c.add("B", 12);
    c.startPrimary("P", { program: "sim-guest", image: guestImage(GUEST), memBytes: 1024 * 1024 }, "B");
    for (let i = 0; i < 40; i++) c.round();
    expect(b.role).toBe("backup");
    expect(c.nodes.get("P")!.role).toBe("primary");
    expect(b.received).toBeGreaterThan(0);
    return b;
  }

  it("halts instead of claiming the next epoch; the same backup without the gap takes over", () => {
    const c = new TestCluster();
    const b = pair(c);
    b.noteFrontAcked(b.received + 5);
    c.crash("P");
    for (let i = 0; i < 2000 && b.role !== "halted" && b.role !== "finished"; i++) c.round();
    expect(b.role).toBe("halted");
    expect(c.halts.find((h) => h.host === "B")?.reason).toMatch(/acknowledged the log through lsn \d+ but holds it only through \d+: it cannot take over/);
    expect(c.arbiter.epoch).toBe(1);

    const d = new TestCluster();
    const b2 = pair(d);
    b2.noteFrontAcked(b2.received);
    d.crash("P");
    for (let i = 0; i < 500 && b2.epoch < 2 && b2.role !== "halted"; i++) d.round();
    expect(b2.role).toBe("alone");
    expect(d.arbiter.epoch).toBe(2);
  });
});
