// Fuzzing the file readers as a habit (issue 18, point 6): random bytes, byte mutations of
// valid files, and structure-aware mutations (valid checksums, wrong contents) must end
// in the reader's own error type — FormatError for logs and traces, ImageError for
// images, ArbiterStateError for arbiter state, UsageError for --config — or in a clean
// result, never in another exception. A mutated log that still reads must replay to a
// result, a FormatError or a DivergenceError. Fixed seeds; a failure prints its seed and
// counterexample and repeats. (The channel's message parser has its property in
// channel-limits.test.ts.)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { afterAll, describe, expect, it } from "vitest";
import { fuzzParams } from "./fuzz-params.js";
import { ArbiterStateError, arbiterStateProblem, parseArbiterState } from "../src/arbiter/state-shape.js";
import { disassemble } from "../src/asm/disasm.js";
import { UsageError } from "../src/cli/args.js";
import { parseConfig } from "../src/cli/config.js";
import type { Event } from "../src/devices/events.js";
import { EV } from "../src/devices/events.js";
import { runLive } from "../src/host/live.js";
import { runReplay } from "../src/host/replay.js";
import { LogDecoder, encodeLogFrame, encodeLogHeader, type LogHeader } from "../src/replay/logformat.js";
import { DivergenceError } from "../src/replay/replay.js";
import { diffTraces } from "../src/trace/diff.js";
import { TraceDecoder, encodeTraceFrame, encodeTraceHeader, type TraceHeader, type TraceRecord } from "../src/trace/format.js";
import { crc32 } from "../src/trace/crc32.js";
import { FormatError } from "../src/trace/framing.js";
import { ImageError, decodeImage, encodeImage, type ImageSymbol } from "../src/vm/image.js";
import { asm } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "ftvm-fuzz-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Runs `f`; an exception must be one of `allowed` (anything else fails the property with its message). */
function onlyThrows(f: () => void, ...allowed: (new (...a: never[]) => Error)[]): void {
  try {
    f();
  } catch (e) {
    if (!allowed.some((c) => e instanceof c)) throw new Error(`unexpected ${(e as Error)?.constructor?.name}: ${(e as Error)?.stack ?? String(e)}`);
  }
}

/** Byte-level mutations: flips, cuts, insertions, appended bytes. */
function mutated(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
      fc.option(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })), { nil: undefined }),
      fc.uint8Array({ maxLength: 8 }),
    )
    .map(([flips, cut, insert, tail]) => {
      let b = Buffer.from(base);
      for (const [i, x] of flips) b[i % b.length] = x;
      if (insert) b = Buffer.concat([b.subarray(0, insert[0] % b.length), insert[1], b.subarray(insert[0] % b.length)]);
      if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
      return new Uint8Array(Buffer.concat([b, tail]));
    });
}

/** Values a broken or hostile writer might put in any field. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.integer({ min: -5, max: 300 }),
  fc.constantFrom(-1, 0, 1, 127, 128, 4095, 4096, 65536, 2 ** 32, 2 ** 53, Number.NaN, 1.5),
  fc.string({ maxLength: 8 }),
  fc.uint8Array({ maxLength: 64 }),
  fc.record({ conn: fc.integer({ min: -2, max: 130 }), bytes: fc.uint8Array({ maxLength: 32 }) }),
  fc.record({ slot: fc.integer({ min: -1, max: 20 }), seq: fc.integer({ min: 0, max: 5 }), status: fc.integer({ min: -2, max: 2 }), data: fc.option(fc.uint8Array({ maxLength: 32 }), { nil: undefined }) }),
  fc.record({ reason: fc.string({ maxLength: 6 }), regs: fc.string({ maxLength: 16 }), mem: fc.string({ maxLength: 16 }) }),
  fc.array(fc.integer(), { maxLength: 4 }),
);

const KINDS = [...Object.values(EV), 0, 99];

/** An event of a random kind whose data has the right shape (mostly): these get past the reader and into replay. */
const plausibleEvent: fc.Arbitrary<[number, unknown]> = fc.constantFrom(...KINDS).chain((kind) => {
  const hex = fc.stringMatching(/^[0-9a-f]{16}$/);
  const shaped: fc.Arbitrary<unknown> =
    kind === EV.NET_OPEN || kind === EV.NET_CLOSE
      ? fc.record({ conn: fc.integer({ min: 0, max: 3 }) })
      : kind === EV.NET_RX
        ? fc.record({ conn: fc.integer({ min: 0, max: 3 }), bytes: fc.uint8Array({ maxLength: 70_000 }) })
        : kind === EV.CONSOLE_INPUT
          ? fc.uint8Array({ maxLength: 5000 })
          : kind === EV.DISK_DONE
            ? fc.record({ slot: fc.integer({ min: 0, max: 3 }), seq: fc.integer({ min: 0, max: 3 }), status: fc.integer({ min: -1, max: 1 }), data: fc.option(fc.uint8Array({ maxLength: 1024 }), { nil: undefined }) })
            : kind === EV.END || kind === EV.CHECK
              ? fc.record({ reason: fc.constant("halted"), regs: hex, mem: hex, trap: fc.option(fc.record({ kind: fc.string({ maxLength: 5 }), pc: fc.nat(10) }), { nil: undefined }) })
              : kind === EV.PROGRESS
                ? fc.constant(null)
                : fc.nat();
  return fc.tuple(fc.constant(kind), fc.oneof({ weight: 4, arbitrary: shaped }, { weight: 1, arbitrary: anyValue }));
});

describe("log reader and replay", async () => {
  const image = asm(`
.data
buf: .zero 64
.code
main:
    LI r5, 30
loop:
    TIME r1
    RAND r2
    HOSTID r3
    ADDI r5, r5, -1
    BNEZ r5, loop
    HALT
`);
  const recorded = join(dir, "base.ftlog");
  await runLive({ program: "base.s", image, logPath: recorded, output: () => undefined });
  const base = new Uint8Array(readFileSync(recorded));
  const baseEvents: Event[] = [];
  const dec = new LogDecoder();
  dec.push(base);
  const baseHeader = dec.readHeader()!;
  for (let b; (b = dec.nextBatch()); ) baseEvents.push(...b);

  function decodeAll(bytes: Uint8Array, chunk: number): void {
    const d = new LogDecoder();
    for (let i = 0; i < bytes.length; i += chunk) {
      d.push(bytes.subarray(i, i + chunk));
      d.readHeader();
      while (d.nextBatch());
    }
    d.finish();
  }

  it("random bytes and byte mutations of a recorded log: only FormatError", () => {
    const magic = new TextEncoder().encode("FTVMLOG\0");
    const arb = fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.uint8Array({ maxLength: 512 }).map((u) => new Uint8Array([...magic, 1, 0, 0, 0, ...u])), mutated(base));
    fc.assert(
      fc.property(arb, fc.integer({ min: 1, max: 4096 }), (bytes, chunk) => onlyThrows(() => decodeAll(bytes, chunk), FormatError)),
      fuzzParams(1801, 600),
    );
  });

  it("well-framed logs with any value in any field (header or event): FormatError, DivergenceError or a replay result", () => {
    const edit = fc.oneof(
      fc.record({ at: fc.nat(), field: fc.constantFrom("lsn", "icount", "kind", "data"), value: anyValue, kind: fc.constantFrom(...KINDS) }),
      fc.record({ at: fc.nat(), insert: plausibleEvent }),
      fc.record({ at: fc.nat(), drop: fc.constant(true) }),
    );
    const headerEdit = fc.option(
      fc.record({ field: fc.constantFrom("memBytes", "stackBytes", "unloggedRand", "program", "disk", "image"), value: fc.oneof(anyValue, fc.constant({ blocks: 8, blockBytes: 512 })) }),
      { nil: undefined },
    );
    let n = 0;
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), headerEdit, fc.integer({ min: 1, max: 40 }), (edits, he, perFrame) => {
        const events = baseEvents.map((e) => ({ ...e }));
        // Renumbered after inserts and drops (unless an lsn is the edit), so the edits reach replay.
        const keepLsns = edits.some((ed) => "field" in ed && ed.field === "lsn");
        for (const ed of edits) {
          const i = ed.at % events.length;
          if ("drop" in ed) events.splice(i, 1);
          else if ("insert" in ed) events.splice(i, 0, { lsn: events[i].lsn, icount: events[i].icount, kind: ed.insert[0], data: ed.insert[1] });
          else if (ed.field === "kind") events[i].kind = ed.kind;
          else (events[i] as unknown as Record<string, unknown>)[ed.field] = ed.value;
        }
        if (!keepLsns) events.forEach((e, i) => (e.lsn = i + 1));
        const header = { ...baseHeader } as unknown as Record<string, unknown>;
        if (he) header[he.field] = he.value;
        const parts: Uint8Array[] = [encodeLogHeader(header as unknown as LogHeader)];
        for (let i = 0; i < events.length; i += perFrame) parts.push(encodeLogFrame(events.slice(i, i + perFrame)));
        const path = join(dir, `m${n++ % 4}.ftlog`);
        writeFileSync(path, Buffer.concat(parts));
        let outcome = "replayed";
        onlyThrows(() => {
          try {
            runReplay({ logPath: path, output: () => undefined });
          } catch (e) {
            outcome = (e as Error).constructor.name;
            throw e;
          }
        }, FormatError, DivergenceError, ImageError);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }),
      fuzzParams(1802, 400),
    );
    // The mutations reach every stage: the reader, replay's checks, and whole replays.
    for (const o of ["FormatError", "DivergenceError", "replayed"]) expect(outcomes.get(o), `${o} in ${JSON.stringify([...outcomes])}`).toBeGreaterThan(0);
  });
});

describe("trace reader and diff", () => {
  const img = encodeImage(asm("main:\n    HALT\n"));
  const h: TraceHeader = { image: img, intervalIcount: 10, program: "t.s", role: "run" };
  const recs: TraceRecord[] = Array.from({ length: 5 }, (_, i) => ({ icount: i * 10, pc: i, cause: i % 2 ? EV.TIMER : 0, atPc: -1, regs: new Array(16).fill(i), regsDigest: "0123456789abcdef", memDigest: "fedcba9876543210" }));
  const valid = new Uint8Array(Buffer.concat([encodeTraceHeader(h), encodeTraceFrame(recs)]));

  function readAll(bytes: Uint8Array): { header: TraceHeader; records: TraceRecord[] } {
    const d = new TraceDecoder();
    d.push(bytes);
    const header = d.readHeader();
    const records: TraceRecord[] = [];
    for (let b; (b = d.nextRecords()); ) records.push(...b);
    d.finish();
    if (!header) throw new Error("unreachable: finish() throws without a header");
    return { header, records };
  }

  it("random bytes, byte mutations and garbage fields: only FormatError, and what reads diffs without an exception", () => {
    const fieldEdit = fc.record({ at: fc.nat(), field: fc.nat({ max: 6 }), value: anyValue }).map(({ at, field, value }) => {
      const tuples: unknown[][] = recs.map((r) => [r.icount, r.pc, r.cause, r.atPc, r.regs, r.regsDigest, r.memDigest]);
      tuples[at % tuples.length][field] = value;
      const body = packr.pack(tuples);
      const frame = Buffer.alloc(8);
      frame.writeUInt32LE(body.length, 0);
      frame.writeUInt32LE(crc32(body), 4);
      return new Uint8Array(Buffer.concat([encodeTraceHeader(h), frame, body]));
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), mutated(valid), fieldEdit), (bytes) =>
        onlyThrows(() => {
          const t = readAll(bytes);
          const ok = readAll(valid);
          diffTraces(ok.header, t.header, ok.records[Symbol.iterator](), t.records[Symbol.iterator]());
        }, FormatError),
      ),
      fuzzParams(1803, 800),
    );
  });
});

describe("image reader and disasm", () => {
  const img = asm(".data\nmsg: .asciz \"hi\"\n.code\nmain:\n    LI r1, msg\n    HALT\n");
  const valid = encodeImage(img);

  it("random bytes, byte mutations and any debug section: only ImageError, and what decodes disassembles", () => {
    const debugEdit = fc.record({ symbols: fc.oneof(anyValue, fc.array(anyValue, { maxLength: 3 })), lines: fc.oneof(anyValue, fc.array(anyValue, { maxLength: 3 })) }).map((dbg) => {
      const e = encodeImage({ ...img, symbols: [{ name: "x", value: 0, section: "code" }], lines: [] });
      const body = packr.pack(dbg);
      const out = Buffer.concat([e.subarray(0, e.length - new DataView(e.buffer).getUint32(20, true)), body]);
      out.writeUInt32LE(body.length, 20);
      return new Uint8Array(out);
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated(valid), debugEdit), (bytes) =>
        onlyThrows(() => {
          const d = decodeImage(bytes, "fuzz.ftb");
          disassemble(d);
        }, ImageError),
      ),
      fuzzParams(1804, 1000),
    );
    expect(() => decodeImage(encodeImage({ ...img, symbols: [{ name: 5, value: 0, section: "code" } as unknown as ImageSymbol] }), "x")).toThrow(ImageError);
  });
});

describe("arbiter state and --config", () => {
  it("any JSON value or text: a problem or a state (arbiter), a UsageError or options (--config), never another exception", () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.record({ epoch: anyValue, members: fc.oneof(anyValue, fc.array(anyValue, { maxLength: 3 })), holder: anyValue })), (v) => {
        const p = arbiterStateProblem(v);
        expect(p === undefined || typeof p === "string").toBe(true);
      }),
      fuzzParams(1805, 1000),
    );
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.json()), (text) => onlyThrows(() => parseArbiterState(text, "s.json"), ArbiterStateError)),
      fuzzParams(1806, 1000),
    );
    const spec = { settable: ["arbiter", "secret", "timeout-ms"], switches: ["interpret"] };
    const keys = fc.constantFrom("arbiter", "arbitr", "secret", "timeoutMs", "timeout-ms", "interpret", "config", "help", "", "__proto__", "constructor", "zz");
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.json(), fc.dictionary(keys, anyValue).map((o) => JSON.stringify(o))), (text) =>
        onlyThrows(() => parseConfig(text, "c.json", spec), UsageError),
      ),
      fuzzParams(1807, 1000),
    );
  });
});
