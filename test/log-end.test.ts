// Where a log ends (src/host/log-end.ts), read before `ftvm replay` so its progress line
// counts instructions: the last event's icount, found by walking the frames' prefixes;
// undefined (the replay then shows bytes) for a log with no complete frame or a bad header.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Event } from "../src/devices/events.js";
import { EV } from "../src/devices/events.js";
import { logEndIcount } from "../src/host/log-end.js";
import { encodeLogFrame, encodeLogHeader, type LogHeader } from "../src/replay/logformat.js";
import { encodeImage } from "../src/vm/image.js";
import { asm } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "ftvm-log-end-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const header: LogHeader = { image: encodeImage(asm("main:\n    HALT\n")), memBytes: 65536, stackBytes: 4096, unloggedRand: false, program: "t.s" };
const ev = (lsn: number, icount: number, kind: number, data: unknown) => ({ lsn, icount, kind, data }) as Event;

function write(name: string, parts: Uint8Array[]): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

describe("logEndIcount", () => {
  const frames = [encodeLogFrame([ev(1, 10, EV.TIME, 5), ev(2, 2_000, EV.TIME, 6)]), encodeLogFrame([ev(3, 7_000_000, EV.TIME, 7)])];
  const endFrame = encodeLogFrame([ev(4, 123_456_789, EV.END, { reason: "halted", regs: "0", mem: "0" })]);

  it("the END mark's icount, past every frame before it", () => {
    expect(logEndIcount(write("full.ftlog", [encodeLogHeader(header), ...frames, endFrame]))).toBe(123_456_789);
  });

  it("a cut-off log: the last complete frame's last icount", () => {
    expect(logEndIcount(write("cut.ftlog", [encodeLogHeader(header), ...frames, endFrame.subarray(0, endFrame.length - 3)]))).toBe(7_000_000);
  });

  it("nothing to tell: no frame, a short file, a missing file", () => {
    expect(logEndIcount(write("empty.ftlog", [encodeLogHeader(header)]))).toBeUndefined();
    expect(logEndIcount(write("short.ftlog", [new Uint8Array(5)]))).toBeUndefined();
    expect(logEndIcount(join(dir, "missing.ftlog"))).toBeUndefined();
  });
});
