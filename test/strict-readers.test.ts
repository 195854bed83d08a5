// Strict readers (issue 18, point 5): files with valid checksums but the wrong shapes,
// and files with something after their end, are refused with exit 2, the byte offset and
// what was expected — never a stack trace, never "matched" or "identical". Each case the
// issue names is here: a log with bytes (or its last frame again) after END; hand-made
// logs with memBytes 0, console input as a number, a disk completion on a diskless
// guest, bad connection ids, END with null data; a trace whose registers are garbage; an
// image whose debug symbols hold null; arbiter state of the wrong shape; a typo'd key in
// --config.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { ArbiterStateError, arbiterStateProblem, parseArbiterState } from "../src/arbiter/state-shape.js";
import { UsageError } from "../src/cli/args.js";
import { parseConfig } from "../src/cli/config.js";
import type { Event } from "../src/devices/events.js";
import { EV } from "../src/devices/events.js";
import { runLive } from "../src/host/live.js";
import { runReplay } from "../src/host/replay.js";
import { openTrace } from "../src/host/files.js";
import { encodeLogFrame, encodeLogHeader, type LogHeader } from "../src/replay/logformat.js";
import { encodeTraceFrame, encodeTraceHeader, type TraceRecord } from "../src/trace/format.js";
import { FormatError } from "../src/trace/framing.js";
import { ImageError, decodeImage, encodeImage, type ImageSymbol } from "../src/vm/image.js";
import { asm } from "./helpers.js";
import { ftvmArgs } from "./support/ftvm-args.js";

const ROOT = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "ftvm-strict-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs ftvm asynchronously (the CLI cases run side by side). */
function ftvm(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [...ftvmArgs(), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (err += d));
    c.on("close", (code) => resolve({ code, out, err }));
  });
}

/** Exit 2, the message, and no stack trace. */
function refused(r: { code: number | null; err: string }, message: RegExp): void {
  expect(r.err).toMatch(message);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.code).toBe(2);
}

const image = asm(`
main:
    TIME r1
    RAND r2
    HALT
`);
const header: LogHeader = { image: encodeImage(image), memBytes: 65536, stackBytes: 4096, unloggedRand: false, program: "hand.s" };

function logFile(name: string, h: unknown, frames: unknown[][][]): string {
  const parts = [encodeLogHeader(h as LogHeader), ...frames.map((f) => encodeLogFrame(f.map(([lsn, icount, kind, data]) => ({ lsn, icount, kind, data }) as Event)))];
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

const end = (lsn: number, icount: number, data: unknown = { reason: "halted", regs: "0000000000000000", mem: "0000000000000000" }) => [lsn, icount, EV.END, data];

describe("log reader", () => {
  it("bytes after the END mark, or the last frame again, are refused with the offset (not replayed as matched)", async () => {
    const path = join(dir, "rec.ftlog");
    await runLive({ program: "t.s", image, logPath: path, output: () => undefined });
    const bytes = readFileSync(path);
    expect(runReplay({ logPath: path, output: () => undefined }).outcome).toBe("end");

    const trailing = join(dir, "trailing.ftlog");
    writeFileSync(trailing, Buffer.concat([bytes, Buffer.from("junk")]));
    expect(() => runReplay({ logPath: trailing, output: () => undefined })).toThrow(new RegExp(`4 bytes at offset ${bytes.length} follow the END mark`));

    // The last frame (it holds END) once more: its checksum is valid, its place is not.
    const lastFrame = (() => {
      for (let at = bytes.length - 8; at > 0; at--) {
        const len = bytes.readUInt32LE(at);
        if (at + 8 + len === bytes.length) return bytes.subarray(at);
      }
      throw new Error("no last frame");
    })();
    const dup = join(dir, "dup.ftlog");
    writeFileSync(dup, Buffer.concat([bytes, lastFrame]));
    expect(() => runReplay({ logPath: dup, output: () => undefined })).toThrow(new RegExp(`a frame at offset ${bytes.length} follows the END mark`));

    const [a, b] = await Promise.all([ftvm(["replay", trailing]), ftvm(["replay", dup])]);
    refused(a, /follow the END mark; nothing may come after it/);
    refused(b, /follows the END mark/);
  });

  it("hand-made logs with valid checksums and wrong shapes: exit 2 with the offset and what was expected", async () => {
    const cases: [string, string, RegExp][] = [
      ["mem0.ftlog", logFile("mem0.ftlog", { ...header, memBytes: 0 }, [[end(1, 3)]]), /header at offset 20 has memBytes the number 0, expected a multiple of 4096/],
      ["console.ftlog", logFile("console.ftlog", header, [[[1, 0, EV.CONSOLE_INPUT, 65], end(2, 3)]]), /event 0 \(lsn 1\) of the batch at offset \d+: CONSOLE_INPUT data should be bytes \(at most 4096\), got the number 65/],
      ["disk.ftlog", logFile("disk.ftlog", header, [[[1, 0, EV.DISK_DONE, { slot: 0, seq: 1, status: 0 }], end(2, 3)]]), /DISK_DONE in the log of a guest without a disk/],
      ["conn.ftlog", logFile("conn.ftlog", header, [[[1, 0, EV.NET_OPEN, { conn: 4000 }], end(2, 3)]]), /NET_OPEN data should be \{conn\} with a connection id from 0 to 127, got a map with keys conn/],
      ["connx.ftlog", logFile("connx.ftlog", header, [[[1, 0, EV.NET_RX, { conn: "x", bytes: new Uint8Array(1) }], end(2, 3)]]), /NET_RX data should be \{conn, bytes\}/],
      ["endnull.ftlog", logFile("endnull.ftlog", header, [[[1, 0, EV.TIME, 5], [2, 1, EV.RAND, 7], end(3, 3, null)]]), /END data should be \{reason, regs, mem\}, got null/],
      ["lsn.ftlog", logFile("lsn.ftlog", header, [[[1, 0, EV.TIME, 5]], [[1, 0, EV.TIME, 5]]]), /has lsn 1, expected 2/],
      ["back.ftlog", logFile("back.ftlog", header, [[[1, 2, EV.PROGRESS, null], [2, 1, EV.TIME, 5]]]), /goes back to icount 1 from 2/],
      ["kind.ftlog", logFile("kind.ftlog", header, [[[1, 0, 99, null]]]), /unknown event kind 99/],
    ];
    for (const [name, path, message] of cases) {
      let err: unknown;
      try {
        runReplay({ logPath: path, output: () => undefined });
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(FormatError);
      expect((err as Error).message, name).toMatch(message);
    }
    const results = await Promise.all(cases.map(([, path]) => ftvm(["replay", path])));
    results.forEach((r, i) => refused(r, cases[i][2]));
  });

  it("a well-formed event the guest's devices cannot take is a divergence (exit 1), not a crash", async () => {
    // NET_RX for a connection that was never opened: the shape is right, the moment is not.
    const path = logFile("notopen.ftlog", header, [[[1, 0, EV.NET_RX, { conn: 3, bytes: new Uint8Array(2) }], end(2, 3)]]);
    const r = await ftvm(["replay", path]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/replay diverged: NET_RX \(lsn 1\) cannot be delivered at icount 0: nic: data for connection 3, which is not open/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe("trace reader", () => {
  it("a trace whose registers field is garbage is refused (exit 2), not diffed as identical", async () => {
    const rec: TraceRecord = { icount: 10, pc: 1, cause: 0, atPc: -1, regs: new Array(16).fill(0), regsDigest: "0123456789abcdef", memDigest: "0123456789abcdef" };
    const h = { image: encodeImage(image), intervalIcount: 10, program: "t.s", role: "run" };
    const good = join(dir, "good.trace");
    const bad = join(dir, "bad.trace");
    writeFileSync(good, Buffer.concat([encodeTraceHeader(h), encodeTraceFrame([rec])]));
    writeFileSync(bad, Buffer.concat([encodeTraceHeader(h), encodeTraceFrame([{ ...rec, regs: ["garbage", null] as unknown as number[] }])]));
    expect(() => [...(openTrace(bad).records as unknown as Iterable<TraceRecord>)]).toThrow(/record 0 of the frame at offset \d+ has registers \(a list of 2\), expected 16 32-bit integers/);
    const [same, garbage] = await Promise.all([ftvm(["trace", "diff", good, good]), ftvm(["trace", "diff", good, bad])]);
    expect(same.out).toMatch(/identical \(1 records\)/);
    refused(garbage, /corrupted trace: record 0 of the frame at offset \d+ has registers/);
  });
});

describe("image reader", () => {
  it("debug symbols holding null are refused at read (disasm exits 2, no stack trace); bytes after the image too", async () => {
    const bytes = encodeImage({ ...image, symbols: [null as unknown as ImageSymbol] });
    const path = join(dir, "nullsym.ftb");
    writeFileSync(path, bytes);
    expect(() => decodeImage(bytes, "x")).toThrow(ImageError);
    expect(() => decodeImage(bytes, "x")).toThrow(/corrupt debug section at offset \d+: expected symbol 0 to be \{name, value/);
    const good = encodeImage(image);
    expect(() => decodeImage(new Uint8Array([...good, 0]), "x")).toThrow(new RegExp(`1 bytes at offset ${good.length} after the image's end`));
    refused(await ftvm(["disasm", path]), /corrupt debug section at offset \d+: expected symbol 0/);
  });
});

describe("arbiter state", () => {
  it("refuses the shapes the issue names, with what was expected; accepts what the arbiter writes", () => {
    expect(arbiterStateProblem({ epoch: 5, members: 7 })).toMatch(/expected members to be a list/);
    expect(arbiterStateProblem(null)).toMatch(/expected a map \{epoch, members, holder\}, got null/);
    expect(arbiterStateProblem({ epoch: 1, members: ["a"], holder: "b" })).toMatch(/holder to be one of the members/);
    expect(arbiterStateProblem({ epoch: -1, members: [], holder: "" })).toMatch(/non-negative integer/);
    expect(arbiterStateProblem({ epoch: 0, members: [], holder: "", extra: 1 })).toMatch(/unexpected key "extra"/);
    expect(arbiterStateProblem({ epoch: 0, members: [], holder: "", version: 1 }, ["version"])).toBeUndefined();
    expect(arbiterStateProblem({ epoch: 0, members: [], holder: "" })).toBeUndefined();
    expect(arbiterStateProblem({ epoch: 3, members: ["p", "b"], holder: "p" })).toBeUndefined();
    expect(() => parseArbiterState('{"epoch": 1,, }', "s.json")).toThrow(/invalid JSON at byte offset 12/);
    expect(() => parseArbiterState("null", "s.json")).toThrow(ArbiterStateError);
    expect(parseArbiterState('{"epoch":2,"members":["x"],"holder":"x"}', "s.json")).toEqual({ epoch: 2, members: ["x"], holder: "x" });
  });
});

describe("--config", () => {
  const spec = { settable: ["arbiter", "timeout-ms"], switches: ["interpret"] };

  it("a typo'd key is refused with a did-you-mean and its byte offset; camelCase and numbers are accepted", () => {
    expect(() => parseConfig('{"arbitr": "ws://x"}', "c.json", spec)).toThrow(/unknown option "arbitr" at byte offset 1; did you mean "arbiter"\?/);
    expect(() => parseConfig('{"timeoutMs": true}', "c.json", spec)).toThrow(/should be a string or a number, got boolean/);
    expect(() => parseConfig('{"interpret": "yes"}', "c.json", spec)).toThrow(/is a switch; give it on the command line as --interpret/);
    expect(() => parseConfig("[1]", "c.json", spec)).toThrow(/expected a JSON map/);
    expect(() => parseConfig('{"arbiter": "a"', "c.json", spec)).toThrow(/invalid JSON at byte offset 15/);
    expect(() => parseConfig('{"zzzzzzzz": 1}', "c.json", spec)).toThrow(UsageError);
    expect(parseConfig('{"arbiter": "ws://a", "timeoutMs": 2000}', "c.json", spec)).toEqual(
      new Map([
        ["arbiter", "ws://a"],
        ["timeout-ms", "2000"],
      ]),
    );
  });

  it("ftvm primary --config with a typo exits 2 naming the option it meant", async () => {
    const cfg = join(dir, "typo.json");
    writeFileSync(cfg, JSON.stringify({ arbitr: "ws://127.0.0.1:1", secret: "s" }));
    refused(await ftvm(["primary", "programs/hello.s", "--config", cfg]), /--config .*typo\.json: unknown option "arbitr" at byte offset 1; did you mean "arbiter"\?/);
  });
});
