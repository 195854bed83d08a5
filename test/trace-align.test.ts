// Aligning FT hosts' traces (src/trace/align.ts): what is compared, and that a difference
// inside the shared history is reported while one after a go-live is not.
import { describe, expect, it } from "vitest";
import { comparisonWindow, diffAligned, traceExtent } from "../src/trace/align.js";
import type { TraceHeader, TraceRecord } from "../src/trace/format.js";
import { CAUSE_LIVE, CAUSE_PERIODIC, TraceDecoder, encodeTraceFrame, encodeTraceHeader } from "../src/trace/format.js";

const image = new Uint8Array([1, 2, 3]);
const header = (role: string, host: string, startIcount = 0, epoch = 1): TraceHeader => ({ image, intervalIcount: 100, program: "p.s", role, host, epoch, startIcount });

function rec(icount: number, r0 = icount, cause = CAUSE_PERIODIC, epoch?: number): TraceRecord {
  const regs = Array.from({ length: 16 }, (_, i) => (i === 0 ? r0 : i));
  return { icount, pc: icount % 7, cause, atPc: -1, regs, regsDigest: (r0 >>> 0).toString(16).padStart(16, "0"), memDigest: "0".repeat(16), ...(epoch !== undefined ? { epoch } : {}) };
}
const periodic = (from: number, to: number) => Array.from({ length: (to - from) / 100 + 1 }, (_, i) => rec(from + i * 100));
const iter = (rs: TraceRecord[]) => () => rs[Symbol.iterator]();

describe("aligning host traces", () => {
  it("compares a primary and its backup through the go-live, not after it", () => {
    const primary = periodic(100, 1500); // killed at 1500; its records past 1000 never reached the backup
    const backup = [...periodic(100, 1000), rec(1000, 1000, CAUSE_LIVE, 2), ...periodic(1100, 2000).map((r) => rec(r.icount, r.icount + 5))];
    const d = diffAligned(header("primary", "h1"), header("backup", "h2"), iter(primary), iter(backup), { nameA: "P", nameB: "B" });
    expect(d.identical).toBe(true);
    expect(d.report[0]).toMatch(/^identical through icount 1000, where B went live \(epoch 2\): 9 records compared/);
  });

  it("reports a difference before the go-live with the registers expected and got", () => {
    const primary = periodic(100, 1500);
    const backup = [...periodic(100, 1000).map((r) => (r.icount === 700 ? rec(700, 99) : r)), rec(1000, 1000, CAUSE_LIVE, 2)];
    const d = diffAligned(header("primary", "h1"), header("backup", "h2"), iter(primary), iter(backup));
    expect(d.identical).toBe(false);
    expect(d.report.join("\n")).toMatch(/first divergence at record 7, icount 700[\s\S]*r0: expected 0x000002bc \(700\), got 0x00000063 \(99\)/);
  });

  it("starts a cloned backup's comparison after its start and ends it at its own go-live", () => {
    // host2 went live at 1000; host3 was cloned from it at 1200 and went live at 1800.
    const h2 = [...periodic(100, 1000), rec(1000, 1000, CAUSE_LIVE, 2), ...periodic(1100, 2500)];
    const h3 = [...periodic(1300, 1800), rec(1800, 1800, CAUSE_LIVE, 4), ...periodic(1900, 2200).map((r) => rec(r.icount, 1))];
    const w = comparisonWindow(traceExtent(header("backup", "h2"), h2[Symbol.iterator]()), traceExtent(header("backup", "h3", 1200, 3), h3[Symbol.iterator]()));
    expect(w).toMatchObject({ afterIcount: 1200, beforeIcount: 1800, end: { kind: "live", which: "b", epoch: 4 } });
    const d = diffAligned(header("backup", "h2"), header("backup", "h3", 1200, 3), iter(h2), iter(h3));
    expect(d.identical).toBe(true);
    expect(d.records).toBe(5);
  });

  it("compares up to the earlier end when neither went live, and says when two traces share nothing", () => {
    const d = diffAligned(header("primary", "h1"), header("backup", "h2"), iter(periodic(100, 2000)), iter(periodic(100, 800)), { nameB: "B" });
    expect(d.report[0]).toMatch(/^identical up to icount 800, where B ends: 7 records compared/);
    const none = diffAligned(header("primary", "h1"), header("backup", "h3", 5000), iter(periodic(100, 2000)), iter(periodic(5100, 6000)));
    expect(none.records).toBe(0);
    expect(none.report[0]).toMatch(/no instructions in common/);
  });

  it("traces of record and replay are compared whole, as before (a trace that stops early is a divergence)", () => {
    const h: TraceHeader = { image, intervalIcount: 100, program: "p.s", role: "record" };
    const d = diffAligned(h, { ...h, role: "replay" }, iter(periodic(100, 1000)), iter(periodic(100, 500)));
    expect(d.identical).toBe(false);
    expect(d.report[0]).toMatch(/ends after 5 records/);
  });

  it("a live mark and the header's host fields survive encoding (format 2)", () => {
    const dec = new TraceDecoder();
    dec.push(encodeTraceHeader(header("backup", "h2", 1200, 3)));
    dec.push(encodeTraceFrame([rec(1300), rec(1800, 1800, CAUSE_LIVE, 4)]));
    expect(dec.readHeader()).toMatchObject({ host: "h2", startIcount: 1200, epoch: 3 });
    const rs = dec.nextRecords()!;
    expect(rs[1]).toMatchObject({ icount: 1800, cause: CAUSE_LIVE, epoch: 4 });
    expect(rs[0].epoch).toBeUndefined();
  });
});
