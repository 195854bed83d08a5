// Progress lines (src/host/progress.ts): on a terminal only, throttled, with amount done,
// rate and time left, erased at the end; nothing at all into a pipe or a dumb terminal.
import { afterEach, describe, expect, it } from "vitest";
import { PROGRESS_REDRAW_MS, formatBytes, formatDuration, formatIcount, progress, progressText } from "../src/host/progress.js";

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 200, write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WriteStream };
}

describe("progress", () => {
  const term = process.env.TERM;
  afterEach(() => {
    if (term === undefined) delete process.env.TERM;
    else process.env.TERM = term;
  });

  it("on a terminal: count, percentage, rate and time left, redrawn in place and erased", () => {
    const { writes, stream } = fakeStream(true);
    let t = 1000;
    const p = progress("sim", 1000, "seeds", { stream, now: () => t });
    t += 10_000;
    p.update(100); // 100 seeds in 10 s: 10/s, 900 left: 90 s
    expect(writes.at(-1)).toBe("\r\x1b[Ksim: 100 of 1,000 seeds (10%), 10 seeds/s, about 1 min 30 s left");
    t += PROGRESS_REDRAW_MS / 2;
    p.update(101);
    expect(writes).toHaveLength(1); // throttled
    t += PROGRESS_REDRAW_MS;
    p.update(102);
    expect(writes).toHaveLength(2);
    p.clear();
    expect(writes.at(-1)).toBe("\r\x1b[K");
    p.clear();
    expect(writes).toHaveLength(3); // nothing left to erase
  });

  it("the first update draws at once, without a rate before anything is done", () => {
    const { writes, stream } = fakeStream(true);
    const p = progress("bench", 5, "rounds", { stream, now: () => 0 });
    p.update(0);
    expect(writes).toEqual(["\r\x1b[Kbench: 0 of 5 rounds (0%)"]);
  });

  it("bytes in binary units, with a note", () => {
    const { writes, stream } = fakeStream(true);
    let t = 0;
    const p = progress("replay", 100 * 2 ** 20, "", { stream, now: () => t, amounts: "bytes" });
    t = 2000;
    p.update(25 * 2 ** 20, "icount 1,000");
    expect(writes.at(-1)).toBe("\r\x1b[Kreplay: 25.0 MiB of 100.0 MiB (25%), 12.5 MiB/s, about 6 s left; icount 1,000");
  });

  it("into a pipe, or on a terminal that cannot redraw (TERM=dumb): nothing", () => {
    const pipe = fakeStream(false);
    const p = progress("sim", 10, "seeds", { stream: pipe.stream, now: () => 0 });
    p.update(5);
    p.clear();
    expect(pipe.writes).toEqual([]);
    process.env.TERM = "dumb";
    const dumb = fakeStream(true);
    const q = progress("sim", 10, "seeds", { stream: dumb.stream, now: () => 0 });
    q.update(5);
    q.clear();
    expect(dumb.writes).toEqual([]);
  });

  it("a job first seen part-way: the rate counts only what was done while watched; slow jobs show the time per unit", () => {
    expect(progressText({ label: "clone", done: 96 * 2 ** 20, total: 128 * 2 ** 20, unit: "", amounts: "bytes", doneAtStart: 32 * 2 ** 20, elapsedMs: 4000 })).toBe(
      "clone: 96.0 MiB of 128.0 MiB (75%), 16.0 MiB/s, about 2 s left",
    );
    expect(progressText({ label: "bench", done: 2, total: 5, unit: "rounds", elapsedMs: 60_000 })).toBe("bench: 2 of 5 rounds (40%), 30 s each, about 1 min 30 s left");
    expect(progressText({ label: "x", done: 5, total: 5, unit: "rounds", elapsedMs: 1000 })).toBe("x: 5 of 5 rounds (100%), 5.0 rounds/s, done");
    expect(progressText({ label: "x", done: 99, total: 100, unit: "seeds", elapsedMs: 1000 })).toBe("x: 99 of 100 seeds (99%), 99 seeds/s, under 1 s left");
  });

  it("instructions: icount in k/M/G, the rate in MIPS", () => {
    expect(progressText({ label: "replay", done: 45_600_000, total: 1_500_000_000, unit: "instructions", amounts: "icount", elapsedMs: 300 })).toBe(
      "replay: icount 45.6M of 1.50G (3%), 152 MIPS, about 10 s left",
    );
    expect(formatIcount(950)).toBe("950");
    expect(formatIcount(12_345)).toBe("12.3k");
  });

  it("durations and sizes read in units", () => {
    expect(formatDuration(4_400)).toBe("4 s");
    expect(formatDuration(125_000)).toBe("2 min 5 s");
    expect(formatDuration(7_260_000)).toBe("2 h 1 min");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(128 * 2 ** 20)).toBe("128.0 MiB");
    expect(formatBytes(3 * 2 ** 30)).toBe("3.0 GiB");
  });
});
