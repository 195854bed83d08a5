// Log files: round trip, streaming in arbitrary chunks, and clear errors (naming the
// offset) for truncated and corrupted logs — never a crash or a silent wrong replay.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Event } from "../src/devices/events.js";
import { LogFileSource } from "../src/host/files.js";
import { runReplay } from "../src/host/replay.js";
import { LogDecoder, encodeLogFrame, encodeLogHeader } from "../src/replay/logformat.js";
import { FormatError } from "../src/trace/framing.js";
import { runLive } from "../src/host/live.js";
import { asm } from "./helpers.js";

const header = { image: new Uint8Array([1, 2, 3]), memBytes: 65536, stackBytes: 4096, unloggedRand: false, program: "x.s" };
const events: Event[] = [
  { lsn: 1, icount: 5, kind: 1, data: 123456789012 },
  { lsn: 2, icount: 9, kind: 17, data: new Uint8Array([104, 105]) },
  { lsn: 3, icount: 9, kind: 33, data: { reason: "halted", regs: "ab", mem: "cd" } },
];

function logBytes(): Uint8Array {
  const parts = [encodeLogHeader(header), encodeLogFrame(events.slice(0, 2)), encodeLogFrame(events.slice(2))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function decodeAll(bytes: Uint8Array, chunk: number): Event[] {
  const d = new LogDecoder();
  const out: Event[] = [];
  for (let i = 0; i < bytes.length; i += chunk) {
    d.push(bytes.slice(i, i + chunk));
    for (let b; (b = d.nextBatch()); ) out.push(...b);
  }
  d.finish();
  return out;
}

describe("log format", () => {
  it("round-trips events fed in chunks of any size", () => {
    const bytes = logBytes();
    for (const chunk of [1, 2, 7, 64, bytes.length]) {
      const got = decodeAll(bytes, chunk);
      expect(got.map((e) => ({ ...e, data: e.data instanceof Uint8Array ? Array.from(e.data) : e.data }))).toEqual(
        events.map((e) => ({ ...e, data: e.data instanceof Uint8Array ? Array.from(e.data) : e.data })),
      );
    }
  });

  it("every truncation is reported with the offset of the incomplete part", () => {
    const bytes = logBytes();
    for (let cut = 0; cut < bytes.length; cut++) {
      let err: unknown;
      try {
        decodeAll(bytes.subarray(0, cut), 5);
      } catch (e) {
        err = e;
      }
      // Cuts exactly between frames are complete logs of fewer frames (replay then
      // reports the missing END mark); every other cut must be an error.
      if (err === undefined) continue;
      expect(err).toBeInstanceOf(FormatError);
      expect((err as Error).message).toMatch(/truncated log|offset \d+/);
      expect((err as FormatError).offset).toBeLessThanOrEqual(cut);
    }
  });

  it("every single-byte corruption is detected (checksums), with an offset", () => {
    const bytes = logBytes();
    for (let at = 0; at < bytes.length; at++) {
      const bad = bytes.slice();
      bad[at] ^= 0x5a;
      let err: unknown;
      try {
        decodeAll(bad, 1000);
      } catch (e) {
        err = e;
      }
      expect(err, `corruption at byte ${at} went unnoticed`).toBeInstanceOf(FormatError);
      expect((err as Error).message).toMatch(/offset \d+/);
    }
  });

  it("refuses a file that is not a log, and a newer version", () => {
    const d = new LogDecoder();
    d.push(new TextEncoder().encode("hello, this is not a log at all"));
    expect(() => d.readHeader()).toThrow(/not an ftvm log: magic "hello, t" at offset 0/);
    const v = logBytes();
    v[8] = 9;
    const d2 = new LogDecoder();
    d2.push(v);
    expect(() => d2.readHeader()).toThrow(/log version 9 at offset 8, this ftvm reads version 2/);
  });
});

describe("log files", () => {
  const dir = mkdtempSync(join(tmpdir(), "ftvm-log-"));
  const program = asm(`
main:
    LI r5, 2000
loop:
    TIME r1
    RAND r2
    ADDI r5, r5, -1
    BNEZ r5, loop
    HALT
`);

  it("a recorded log replays to the END mark; a cut-off log is reported, not replayed past its end", async () => {
    const path = join(dir, "a.ftlog");
    const rec = await runLive({ program: "t.s", image: program, logPath: path, output: () => undefined });
    expect(rec.reason).toBe("halted");
    expect(rec.events).toBe(4001);
    const ok = runReplay({ logPath: path, output: () => undefined });
    expect(ok).toMatchObject({ outcome: "end", reason: "halted", icount: rec.icount, events: 4001 });

    // Cut the file at a frame boundary: the decoder sees a valid prefix without END.
    const bytes = readFileSync(path);
    const src = new LogFileSource(path);
    const cutPath = join(dir, "cut.ftlog");
    const headerEnd = src.fileOffset;
    writeFileSync(cutPath, bytes.subarray(0, headerEnd));
    const cut = runReplay({ logPath: cutPath, output: () => undefined });
    expect(cut.outcome).toBe("cut-off");
    expect(cut.icount).toBe(0);

    // Cut in the middle of a frame: a clear error naming the offset.
    const midPath = join(dir, "mid.ftlog");
    writeFileSync(midPath, bytes.subarray(0, bytes.length - 10));
    expect(() => runReplay({ logPath: midPath, output: () => undefined })).toThrow(/truncated log: \d+ bytes of an incomplete frame at offset \d+/);

    // Flip a byte inside the events: the checksum catches it before any wrong replay.
    const badPath = join(dir, "bad.ftlog");
    const bad = Buffer.from(bytes);
    bad[headerEnd + 40] ^= 1;
    writeFileSync(badPath, bad);
    expect(() => runReplay({ logPath: badPath, output: () => undefined })).toThrow(/corrupted log: checksum mismatch in the frame at offset \d+/);
  });
});
