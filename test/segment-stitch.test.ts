// Stitching hosts' log segments into the run's log (src/replay/segment.ts): the event of
// the highest epoch wins an lsn, a dead primary's unlogged tail never follows history.
import { describe, expect, it } from "vitest";
import type { Event } from "../src/devices/events.js";
import { EV } from "../src/devices/events.js";
import type { EpochBoundary } from "../src/replay/segment.js";
import { SegmentDecoder, encodeSegmentFrame, encodeSegmentHeader, stitchSegments } from "../src/replay/segment.js";

const ev = (lsn: number, icount: number, kind: number = EV.TIME, data: unknown = lsn): Event => ({ lsn, icount, kind, data });
const seg = (epoch: number, events: Event[]) => events.map((event) => ({ epoch, event }))[Symbol.iterator]();

function stitch(segments: ReturnType<typeof seg>[]) {
  const boundaries: EpochBoundary[] = [];
  const it = stitchSegments(segments, segments.map((_, i) => `h${i + 1}`), boundaries);
  const out: Event[] = [];
  let r = it.next();
  for (; !r.done; r = it.next()) out.push(r.value);
  return { out, end: r.value, boundaries };
}

describe("stitching log segments", () => {
  it("takes the successor's events after the go-live, and drops the dead primary's longer tail", () => {
    // h1 (epoch 1) logged 1..8 and died; h2 had received 1..5, went live in epoch 2 and logged 6..7 and END.
    const h1 = seg(1, [1, 2, 3, 4, 5, 6, 7, 8].map((l) => ev(l, l * 10, EV.TIME, 100 + l)));
    const h2 = seg(2, [ev(6, 55), ev(7, 70), ev(8, 80, EV.END, { reason: "halted", regs: "0".repeat(16), mem: "0".repeat(16) })]);
    const { out, end, boundaries } = stitch([h1, h2]);
    expect(out.map((e) => e.lsn)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(out.slice(0, 5).every((e) => e.data === 100 + e.lsn)).toBe(true);
    expect(out[5]).toMatchObject({ icount: 55, data: 6 });
    expect(end).toEqual({ lastLsn: 8, ended: true });
    expect(boundaries).toEqual([
      { epoch: 1, fromLsn: 1, icount: 10, host: "h1", liveIcount: 0 },
      { epoch: 2, fromLsn: 6, icount: 55, host: "h2", liveIcount: 50 },
    ]);
  });

  it("does not append an older epoch's events after history moved on, and names a gap", () => {
    const h1 = seg(1, [ev(1, 1), ev(2, 2), ev(3, 3), ev(4, 4), ev(5, 5)]);
    const h2 = seg(2, [ev(3, 3), ev(4, 4)]); // went live after lsn 2; the run was cut off at 4
    expect(stitch([h1, h2]).out.map((e) => e.lsn)).toEqual([1, 2, 3, 4]);
    const gap = stitch([seg(1, [ev(1, 1), ev(2, 2)]), seg(2, [ev(4, 4)])]);
    expect(gap.end).toMatchObject({ lastLsn: 2, ended: false, gap: "no segment holds lsn 3 (the next one held is 4)" });
  });

  it("a segment file keeps each batch's epoch", () => {
    const d = new SegmentDecoder();
    d.push(encodeSegmentHeader({ image: new Uint8Array([1]), memBytes: 65536, stackBytes: 4096, unloggedRand: false, program: "p.s", host: "h1" }));
    d.push(encodeSegmentFrame(3, [ev(1, 0), ev(2, 5)]));
    expect(d.readHeader()).toMatchObject({ host: "h1", program: "p.s" });
    expect(d.nextBatch()).toEqual({ epoch: 3, events: [ev(1, 0), ev(2, 5)] });
  });
});
