// The launcher's status block, one line per host (src/host/launcher.ts statusLine): the
// host's current role, numbers rounded and with units, and a joining backup's clone as
// a progress line (bytes of all, rate and time left, measured between status messages).
import { describe, expect, it } from "vitest";
import { statusLine } from "../src/host/launcher.js";

const MiB = 2 ** 20;

describe("status lines", () => {
  it("a primary: role, icount with separators, lag rounded to 0.1 ms, log rate in units", () => {
    const line = statusLine({ host: "h1", role: "primary", pid: 4242, epoch: 3, icount: 1234567, lagIcount: 8901, lagMs: 170.78041999999914, throttle: 0.256, logBytesPerSec: 12345, heldOutputs: 2 });
    expect(line).toBe("primary  pid 4242   epoch 3  icount 1,234,567  backup lag 8,901 instr / 170.8 ms  throttled 26%  log 12.3 kB/s  held 2");
  });

  it("a joining backup: its clone's progress, the rate over the time between its first and last status", () => {
    const s = { host: "h2", role: "joining" as const, pid: 77, epoch: 2, icount: 0, clone: { bytes: 96 * MiB, totalBytes: 128 * MiB } };
    expect(statusLine(s)).toBe("joining  pid 77     epoch 2  icount 0  clone: 96.0 MiB of 128.0 MiB (75%)");
    expect(statusLine(s, { at: 10_000, bytes: 32 * MiB, lastAt: 14_000 })).toBe(
      "joining  pid 77     epoch 2  icount 0  clone: 96.0 MiB of 128.0 MiB (75%), 16.0 MiB/s, about 2 s left",
    );
  });
});
