import { describe, expect, it } from "vitest";
import { SLICE_ICOUNT_MAX, SLICE_ICOUNT_MIN, SLICE_ICOUNT_QUIET_MAX, SLICE_TARGET_MS, SLICE_TARGET_QUIET_MS, SlicePacer } from "../src/host/slice-pacer.js";

describe("SlicePacer", () => {
  it("sizes slices to the target time from the speed the last slice ran at", () => {
    const p = new SlicePacer();
    // 40 MIPS (40,000 instructions per ms) after a start at a higher guess: the estimate
    // decays towards it, slice by slice, and settles at 0.5 ms worth.
    for (let i = 0; i < 40; i++) p.observe(p.sliceIcount(), p.sliceIcount() / 40_000);
    expect(p.sliceIcount()).toBe(Math.round(40_000 * SLICE_TARGET_MS));
  });

  it("keeps the minimum for a very slow guest and the maximum for a fast one", () => {
    const slow = new SlicePacer();
    for (let i = 0; i < 40; i++) slow.observe(slow.sliceIcount(), slow.sliceIcount() / 1_000);
    expect(slow.sliceIcount()).toBe(SLICE_ICOUNT_MIN);
    // A slice timed at almost nothing (100 G instructions per second) does not make the
    // next one unbounded: the speed estimate is capped, and so is the slice.
    const fast = new SlicePacer();
    for (let i = 0; i < 40; i++) fast.observe(fast.sliceIcount(true), fast.sliceIcount(true) / 100_000_000);
    expect(fast.sliceIcount(true)).toBe(SLICE_ICOUNT_QUIET_MAX);
    expect(fast.sliceIcount()).toBe(SLICE_ICOUNT_MAX);
  });

  it("runs longer slices when nothing waits (quiet), the same speed estimate either way", () => {
    // 1 G instructions per second, fib on the compiled engine here.
    const p = new SlicePacer();
    for (let i = 0; i < 40; i++) p.observe(p.sliceIcount(true), p.sliceIcount(true) / 1_000_000);
    expect(p.sliceIcount()).toBe(Math.min(SLICE_ICOUNT_MAX, Math.round(1_000_000 * SLICE_TARGET_MS)));
    expect(p.sliceIcount(true)).toBe(Math.round(1_000_000 * SLICE_TARGET_QUIET_MS));
    expect(SLICE_TARGET_QUIET_MS).toBeGreaterThan(SLICE_TARGET_MS);
  });

  it("is not shrunk by a slice the OS preempted, but follows a guest that slows down", () => {
    const p = new SlicePacer();
    for (let i = 0; i < 40; i++) p.observe(p.sliceIcount(), p.sliceIcount() / 40_000);
    const settled = p.sliceIcount();
    // One slice took 20 ms of wall time (descheduled): the next slice keeps most of its size.
    p.observe(settled, 20);
    expect(p.sliceIcount()).toBeGreaterThanOrEqual(Math.round(settled * 0.8) - 1);
    // The guest now really runs at 10 MIPS: within a few slices the slice fits 0.5 ms again.
    for (let i = 0; i < 12; i++) p.observe(p.sliceIcount(), p.sliceIcount() / 10_000);
    expect(p.sliceIcount()).toBe(SLICE_ICOUNT_MIN);
  });

  it("ignores slices too short to say how fast the guest runs", () => {
    const p = new SlicePacer();
    const before = p.sliceIcount();
    p.observe(10, 5);
    expect(p.sliceIcount()).toBe(before);
  });
});
