// Progress lines (src/cli/progress.ts): on a terminal only, throttled, with count, rate
// and time left, erased at the end; nothing at all into a pipe.
import { describe, expect, it } from "vitest";
import { PROGRESS_REDRAW_MS, formatDuration, progress } from "../src/cli/progress.js";

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 200, write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WriteStream };
}

describe("progress", () => {
  it("on a terminal: count, percentage, rate and time left, redrawn in place and erased", () => {
    const { writes, stream } = fakeStream(true);
    let t = 1000;
    const p = progress("sim", 1000, "seeds", stream, () => t);
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

  it("into a pipe: nothing", () => {
    const { writes, stream } = fakeStream(false);
    const p = progress("sim", 10, "seeds", stream, () => 0);
    p.update(5);
    p.clear();
    expect(writes).toEqual([]);
  });

  it("durations read in units", () => {
    expect(formatDuration(4_400)).toBe("4 s");
    expect(formatDuration(125_000)).toBe("2 min 5 s");
    expect(formatDuration(7_260_000)).toBe("2 h 1 min");
  });
});
