import { describe, expect, it } from "vitest";
import { SLICE_ICOUNT_MAX, SLICE_ICOUNT_MIN, SLICE_TARGET_MS, SlicePacer } from "../src/host/slice-pacer.js";

describe("SlicePacer", () => {
  it("sizes slices to the target time for a slow guest at once", () => {
    const p = new SlicePacer();
    // 20,000 instructions in 10 ms: 2 MIPS, so a 0.5 ms slice is 1,000 instructions, held at the minimum.
    p.observe(20_000, 10);
    expect(p.sliceIcount).toBe(SLICE_ICOUNT_MIN);
    // 10 MIPS: 5,000 instructions per 0.5 ms.
    const q = new SlicePacer();
    q.observe(20_000, 2);
    expect(q.sliceIcount).toBe(Math.round(10_000 * SLICE_TARGET_MS));
  });

  it("grows at most twofold per slice and never past the maximum", () => {
    const p = new SlicePacer();
    p.observe(20_000, 10);
    const sizes: number[] = [];
    for (let i = 0; i < 20; i++) {
      // A fast guest: 400 MIPS.
      p.observe(p.sliceIcount, p.sliceIcount / 400_000);
      sizes.push(p.sliceIcount);
    }
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]).toBeLessThanOrEqual(sizes[i - 1] * 2);
    expect(sizes.at(-1)).toBe(SLICE_ICOUNT_MAX);
  });

  it("ignores slices too short to say how fast the guest runs", () => {
    const p = new SlicePacer();
    const before = p.sliceIcount;
    p.observe(10, 5);
    expect(p.sliceIcount).toBe(before);
  });
});
