// ftvm debug: the replay debugger. Its answers are checked against an independent oracle:
// the project's own replay code (ReplayRunner) stepping one instruction at a time and
// recording the state at every position of the history (test/debug-record.ts).
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OP, OPS, SP } from "../isa/table.js";
import { assemble } from "../src/asm/assembler.js";
import { Bus } from "../src/devices/bus.js";
import { EV } from "../src/devices/events.js";
import { decodeDebugLog, type DebugLog } from "../src/debug/log.js";
import { Session } from "../src/debug/session.js";
import { memoryWriters, registerWriters, decodeAt } from "../src/debug/effects.js";
import { ExprError, evalExpr, parseExpr, exprDeps } from "../src/debug/expr.js";
import { splitArgs, splitScript } from "../src/debug/commands.js";
import { OutputLog } from "../src/debug/outputlog.js";
import { diffTraces } from "../src/trace/diff.js";
import { regsDigest } from "../src/vm/digest.js";
import { Machine } from "../src/vm/machine.js";
import type { NetInput } from "../src/replay/world.js";
import { freshReplay, recordBytes, recordProgram, stateOf, valuesByPosition } from "./debug-record.js";
import { FUZZ_DISK, programArb, renderProgram } from "../tools/fuzz/engine-programs.js";

const te = new TextEncoder();
const NET_SCRIPT: NetInput[] = [
  { kind: EV.NET_OPEN, data: { conn: 0 } },
  { kind: EV.NET_RX, data: { conn: 0, bytes: te.encode("hello") } },
  { kind: EV.NET_OPEN, data: { conn: 1 } },
  { kind: EV.NET_RX, data: { conn: 1, bytes: te.encode("second connection") } },
  { kind: EV.NET_RX, data: { conn: 0, bytes: te.encode("world!") } },
  { kind: EV.NET_CLOSE, data: { conn: 0 } },
  { kind: EV.NET_CLOSE, data: { conn: 1 } },
];

/**
 * A guest that writes a buffer on other pages all the time and, rarely, a counter and a
 * flag that goes 0 → 7 → 0 within a few instructions (a change a comparison of values
 * at two points in time would miss) on page 0: memory searches must find every change
 * while skipping the spans that do not write page 0.
 */
const RARE_WRITES = `
.data
counter: .word 0
flag:    .word 0
.code
main:
    LI r1, 0                ; iteration
    LI r6, 7
loop:
    ANDI r2, r1, 1023
    SHLI r2, r2, 2
    STW r1, [r2 + 0x4000]   ; the busy buffer, pages 4..7
    ANDI r3, r1, 4095
    BNEZ r3, skip
    LDW r4, [counter]
    ADDI r4, r4, 1
    STW r4, [counter]
    STW r6, [flag]
    STW r0, [flag]
skip:
    ADDI r1, r1, 1
    SLTI r5, r1, 12000
    BNEZ r5, loop
    HALT
`;

/**
 * A page written constantly: neighbours of `hot` change every iteration, `hot` itself is
 * stored every iteration with the value it already holds, and, rarely, it changes
 * (0 → 7, a byte of it, and back to 0 within three instructions); `same` is stored
 * every iteration and never changes. Searches must see every real change of `hot` and
 * none of `same`, however often their page (and their words) are written.
 */
const HOT_PAGE = `
.data
hot:  .word 0
same: .word 9
busy: .zero 64
.code
main:
    LI r1, 0
    LI r6, 7
    LI r9, 9
loop:
    ANDI r2, r1, 15
    SHLI r2, r2, 2
    STW r1, [r2 + busy]     ; neighbours on the page change every iteration
    STW r0, [hot]           ; the value hot holds, stored again
    STW r9, [same]
    ANDI r3, r1, 4095
    BNEZ r3, skip
    STW r6, [hot]           ; 0 -> 7
    STB r6, [hot + 2]       ; a byte of it
    STW r0, [hot]           ; and back to 0
skip:
    ADDI r1, r1, 1
    SLTI r5, r1, 24000
    BNEZ r5, loop
    HALT
`;

const cache = new Map<string, DebugLog>();
/** Logs of the repository's guests: no events, timer + WFI, TIME + RAND, disk, network, console. */
function log(name: "count" | "pulse" | "timeread" | "diskmix" | "netecho" | "echo" | "clock" | "rare" | "hot" | "fib"): DebugLog {
  let l = cache.get(name);
  if (l) return l;
  if (name === "rare" || name === "hot") {
    l = decodeDebugLog(recordBytes(assemble(name === "rare" ? RARE_WRITES : HOT_PAGE, `${name}.s`), { maxIcount: 1_000_000 }), name);
    cache.set(name, l);
    return l;
  }
  const opts = {
    count: { maxIcount: 120_000 },
    pulse: { maxIcount: 60_000, sliceIcount: 777 },
    timeread: { maxIcount: 250_000 },
    diskmix: { maxIcount: 80_000, disk: { blocks: 64, blockBytes: 512 }, sliceIcount: 1234 },
    netecho: { maxIcount: 50_000, net: NET_SCRIPT, sliceIcount: 50 },
    echo: { maxIcount: 50_000, consoleInput: "abc\ndef\nghi\n" },
    clock: { maxIcount: 50_000 },
    fib: { maxIcount: 40_000 },
  }[name];
  l = decodeDebugLog(recordProgram(`programs/${name}.s`, opts), name);
  cache.set(name, l);
  return l;
}

function session(l: DebugLog, interval = 5_000, extra: { snapshotBytesMax?: number; interpret?: boolean } = {}): Session {
  return new Session(l, { snapshotIntervalIcount: interval, ...extra });
}

/** The debugger's machine state in the oracle's format. */
function here(s: Session): string {
  const m = s.tl.machine;
  return `${m.icount}/${m.pc}/${regsDigest(m)}/${s.tl.memDigest()}`;
}

async function run(s: Session, line: string): Promise<Record<string, unknown>> {
  const a = await s.execute(line);
  if (!a.ok) throw new Error(`${line}: ${a.text.join(" ")}`);
  return a.data;
}

/** Changes in an oracle sequence (see valuesByPosition): each as the transition from → from + 1. */
function changes<T>(seq: T[], same: (a: T, b: T) => boolean = (a, b) => a === b): { from: number; k: number }[] {
  const out: { from: number; k: number }[] = [];
  for (let k = 1; k < seq.length; k++) if (!same(seq[k], seq[k - 1])) out.push({ from: Math.ceil(k / 2) - 1, k });
  return out;
}

describe("ftvm debug: moving through time", () => {
  it("goto, forward or backward, equals a fresh replay to that icount (registers and memory digest)", async () => {
    for (const name of ["count", "pulse", "timeread", "diskmix", "netecho", "echo", "clock"] as const) {
      const l = log(name);
      const s = session(l, 3_001);
      const si = session(l, 20_000, { interpret: true });
      await fc.assert(
        fc.asyncProperty(fc.array(fc.integer({ min: 0, max: l.endIcount }), { minLength: 1, maxLength: 5 }), async (targets) => {
          for (const t of targets) {
            await s.tl.goto(t);
            await si.tl.goto(t);
            const want = stateOf(freshReplay(l, t));
            expect(here(s), `${name} goto ${t}`).toBe(want);
            expect(here(si), `${name} goto ${t} (interpreter)`).toBe(want);
          }
        }),
        { numRuns: 8, seed: 14 },
      );
    }
  });

  it("reverse-step after step returns exactly the previous state (machine, devices, log position)", async () => {
    for (const name of ["pulse", "diskmix", "netecho", "timeread"] as const) {
      const l = log(name);
      const s = session(l, 2_500);
      const full = () => JSON.stringify({ m: here(s), dev: s.tl.bus.getState(), cursor: s.tl.cursor, lsn: s.tl.env.lastLsn }, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v));
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: l.endIcount - 1 }), fc.integer({ min: 1, max: 9000 }), async (at, k) => {
          await run(s, `goto ${at}`);
          const before = full();
          const n = Math.min(k, l.endIcount - at);
          const fwd = await run(s, `step ${n}`);
          expect(fwd.steps).toBe(n);
          await run(s, `reverse-step ${n}`);
          expect(full(), `${name}: step ${n} at ${at}, then back`).toBe(before);
          await run(s, "step");
          await run(s, "reverse-step");
          expect(full()).toBe(before);
        }),
        { numRuns: 10, seed: 3 },
      );
    }
  });

  it("stepping off either end of the history is refused with a clear message", async () => {
    const s = session(log("echo"));
    const back = await s.execute("reverse-step");
    expect(back.ok).toBe(false);
    expect(back.text[0]).toMatch(/start of the history/);
    await run(s, "goto end");
    const fwd = await s.execute("step");
    expect(fwd.ok).toBe(false);
    expect(fwd.text[0]).toMatch(/end of the history/);
    const past = await s.execute(`goto ${s.tl.endIcount + 1}`);
    expect(past.text[0]).toMatch(/past the end of the history/);
    const clamp = await run(s, "reverse-step 100000000");
    expect(clamp.stop).toBe("start");
    expect(s.tl.icount).toBe(0);
  });
});

describe("ftvm debug: watchpoints, last-change, history", () => {
  // pulse: registers (r7 counts lines, sp moves in calls and interrupts) and memory
  // written by instructions (ticks) and by interrupt entry (the stack); diskmix: memory a
  // disk completion writes (a DMA into the buffer).
  const cases = [
    { name: "pulse" as const, targets: ["r7", "sp", "ticks", "0xffff0 16", "r1"], interval: 1_777 },
    { name: "diskmix" as const, targets: ["io_done", "r3", "buf 64"], interval: 1_777 },
    { name: "netecho" as const, targets: ["buf 8", "r1"], interval: 1_777 },
    // A long snapshot interval, so memory searches find the spans that wrote within intervals.
    { name: "rare" as const, targets: ["counter", "flag", "flag 1", "0x4010"], interval: 100_000 },
    // A page written constantly, a word stored constantly that changes rarely and changes
    // back; a budget so small that most checkpoints are thinned (their summaries merged).
    { name: "hot" as const, targets: ["hot", "hot 1", "hot+2 1", "busy+4"], interval: 8_000, budget: 24 * 1024 },
  ];

  for (const c of cases) {
    it(`${c.name}: watch stops where a brute-force scan sees each change, forward and backward; last-change and history agree`, async () => {
      const l = log(c.name);
      const end = Math.min(l.endIcount, c.name === "rare" || c.name === "hot" ? l.endIcount : 40_000);
      const s = session(l, c.interval, { snapshotBytesMax: "budget" in c ? c.budget : undefined });
      const targets = c.targets.map((t) => s.target(t.split(" "), ""));
      const all = valuesByPosition(l, end, (m) => targets.map((t) => (t.kind === "reg" ? String(m.regs[t.reg]) : Array.from(m.mem.subarray(t.addr, t.addr + t.len)).join(","))));
      const seqs = targets.map((_t, i) => all.map((v) => v[i]));
      for (let ti = 0; ti < targets.length; ti++) {
        const seq = seqs[ti];
        const ch = changes(seq);
        expect(ch.length, `${c.targets[ti]} changes at all`).toBeGreaterThan(0);
        await run(s, "delete");
        await run(s, `watch ${c.targets[ti]}`);
        const starts = [0, 1, Math.floor(end / 3), Math.floor(end / 2), end - 1, ...ch.slice(0, 3).map((x) => x.from), ...ch.slice(-2).map((x) => x.from + 1)];
        for (const p of starts.filter((x) => x >= 0 && x <= end)) {
          // forward: the first change whose transition starts at or after p
          const f = ch.find((x) => x.from >= p);
          await run(s, `goto ${p}`);
          const fa = await run(s, "continue");
          if (f && f.from + 1 <= l.endIcount) {
            expect([fa.stop, s.tl.icount], `${c.targets[ti]}: continue from ${p}`).toEqual(["watchpoint", f.from + 1]);
          }
          // backward: the last change whose transition starts before p
          const b = [...ch].reverse().find((x) => x.from < p);
          await run(s, `goto ${p}`);
          if (p > 0) {
            const ba = await run(s, "reverse-continue");
            expect([ba.stop, s.tl.icount], `${c.targets[ti]}: reverse-continue from ${p}`).toEqual(b ? ["watchpoint", b.from] : ["start", 0]);
          }
          // last-change: the same change, with the value before it and after it
          await run(s, `goto ${p}`);
          const lc = await run(s, `last-change ${c.targets[ti]}`);
          expect(s.tl.icount).toBe(p);
          if (!b) expect(lc.changed).toBe(false);
          else {
            const lastK = [...ch].reverse().find((x) => x.k <= 2 * p)!;
            const chg = lc.change as { from: number; old: unknown; value: unknown };
            expect(chg.from, `${c.targets[ti]}: last-change at ${p}`).toBe(lastK.from);
            expect(String(jsonBytes(chg.value, targets[ti]))).toBe(seq[lastK.k]);
            expect(String(jsonBytes(chg.old, targets[ti]))).toBe(seq[lastK.k - 1]);
          }
        }
        // history over a range lists exactly the changes in it
        const lo = Math.floor(end / 4);
        const hi = Math.min(end, lo + 4000);
        const h = await run(s, `history ${c.targets[ti]} from ${lo} to ${hi}`);
        const want = ch.filter((x) => x.from >= lo && x.from < hi).map((x) => x.from);
        expect((h.changes as { from: number }[]).map((x) => x.from), `history ${c.targets[ti]}`).toEqual(want.slice(0, 1000));
      }
      if ("budget" in c) expect(s.tl.store.removed, "checkpoints thinned").toBeGreaterThan(0);
    });
  }

  it("last-change on memory finds rare changes across many checkpoint intervals, and says when there were none", async () => {
    const l = log("count");
    // number+0, the leading digit, changes only when the count gains a digit.
    const s = session(l, 997);
    await run(s, "goto end");
    const lc = await run(s, "last-change number 1");
    const seq = valuesByPosition(l, l.endIcount, (m) => String(m.mem[0]));
    const last = [...changes(seq)].pop()!;
    expect((lc.change as { from: number }).from).toBe(last.from);
    const untouched = await run(s, "last-change 0x8000 4");
    expect(untouched.changed).toBe(false);
  });

  it("last-change skips a word that is stored constantly but never changes, and finds the last change-and-change-back of its neighbour", async () => {
    const l = log("hot");
    const s = session(l, 8_000);
    await run(s, "goto end");
    const same = await run(s, "last-change same");
    expect(same.changed).toBe(false);
    // No instruction writes r4: answered without re-executing anything, and rightly.
    expect(valuesByPosition(l, l.endIcount, (m) => m.regs[4]).every((v) => v === 0)).toBe(true);
    expect((await run(s, "last-change r4")).changed).toBe(false);
    const seq = valuesByPosition(l, l.endIcount, (m) => String(m.mem32[0]));
    const ch = changes(seq);
    // The last change is the return to 0 of the last rare episode (0 -> 7 -> 0x70007 -> 0).
    expect(ch.length).toBeGreaterThan(6);
    const lc = await run(s, "last-change hot");
    const c = lc.change as { from: number; old: number; value: number };
    expect([c.from, c.old, c.value]).toEqual([ch[ch.length - 1].from, 0x70007, 0]);
    expect(s.tl.icount).toBe(l.endIcount);
  });

  it("last-change stays exact when thinning has merged the change summaries of many intervals", async () => {
    const l = log("hot");
    // Room for about a dozen of the ~35 checkpoints: most intervals are merged ones.
    const s = session(l, 8_000, { snapshotBytesMax: 80 * 1024 });
    await run(s, "goto end");
    expect(s.tl.store.removed).toBeGreaterThan(10);
    expect(s.tl.store.checkpoints.length).toBeGreaterThan(5);
    const seq = valuesByPosition(l, l.endIcount, (m) => String(m.mem32[0]));
    const ch = changes(seq);
    const cps = s.tl.store.checkpoints.map((x) => x.icount);
    // Just after each change, well after it, and at every checkpoint: the answer is the last change before.
    const points = [...ch.flatMap((x) => [x.from + 1, x.from + 3 + 20_000]), ...cps].filter((p) => p > 0 && p <= l.endIcount);
    for (const p of points) {
      await run(s, `goto ${p}`);
      const lc = await run(s, "last-change hot");
      const want = [...ch].reverse().find((x) => x.k <= 2 * p);
      if (!want) expect(lc.changed, `at ${p}`).toBe(false);
      else expect((lc.change as { from: number }).from, `last-change hot at ${p}`).toBe(want.from);
    }
  });
});

function jsonBytes(v: unknown, t: { kind: string; len?: number }): string {
  if (t.kind === "reg") return String(v);
  if (typeof v === "number") {
    const b = [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255];
    return b.slice(0, t.len).join(",");
  }
  return (String(v).match(/../g) ?? []).map((x) => parseInt(x, 16)).join(",");
}

describe("ftvm debug: random programs", () => {
  it("goto equals a fresh replay, and last-change of memory words agrees with a brute-force scan (timer, disk, network, console events)", async () => {
    let changing = 0;
    await fc.assert(
      fc.asyncProperty(programArb, fc.integer({ min: 20, max: 900 }), fc.integer({ min: 37, max: 700 }), fc.array(fc.nat(), { minLength: 4, maxLength: 4 }), async (spec, slice, interval, picks) => {
        const image = assemble(renderProgram(spec), "random.s");
        const l = decodeDebugLog(recordBytes(image, { maxIcount: 1_500, sliceIcount: slice, disk: FUZZ_DISK, net: NET_SCRIPT, consoleInput: "xyz" }), "random");
        const end = l.endIcount;
        // The data the generated programs address, and the top of the stack (calls, pushes, interrupts).
        const top = (l.header.memBytes >>> 2) - 32;
        const words = [...Array.from({ length: 1120 }, (_v, i) => i), ...Array.from({ length: 32 }, (_v, i) => top + i)];
        const seq = valuesByPosition(l, end, (m) => {
          const v = new Int32Array(words.length);
          v.set(m.mem32.subarray(0, 1120));
          v.set(m.mem32.subarray(top, top + 32), 1120);
          return v;
        });
        const moving = words.map((_w, i) => changes(seq.map((v) => v[i]))).map((ch, i) => ({ w: words[i], ch })).filter((x) => x.ch.length > 0);
        const still = words.find((_w, i) => seq.every((v) => v[i] === seq[0][i]))!;
        const chosen = [...picks.slice(0, 3).flatMap((k) => (moving.length ? [moving[k % moving.length]] : [])), { w: still, ch: [] }];
        if (moving.length) changing++;
        const s = session(l, interval, { snapshotBytesMax: picks[3] % 2 ? 64 * 1024 : undefined });
        for (const p of [end, Math.floor(end / 2), (picks[3] % (end + 1)) | 0]) {
          await run(s, `goto ${p}`);
          expect(here(s), `goto ${p}`).toBe(stateOf(freshReplay(l, p)));
          for (const { w, ch } of chosen) {
            const lc = await run(s, `last-change ${w * 4}`);
            const want = [...ch].reverse().find((x) => x.k <= 2 * p);
            if (!want) expect(lc.changed, `word ${w * 4} at ${p}`).toBe(false);
            else expect((lc.change as { from: number }).from, `last-change ${w * 4} at ${p}`).toBe(want.from);
          }
          expect(s.tl.icount).toBe(p);
        }
      }),
      { numRuns: 20, seed: 1414 },
    );
    // Most generated programs write memory, so the comparisons above are not all "never changed".
    expect(changing).toBeGreaterThan(5);
  });
});

describe("ftvm debug: when", () => {
  it("finds the icount an expression becomes true, forward and backward, as brute force does", async () => {
    const l = log("pulse");
    const end = Math.min(l.endIcount, 30_000);
    const exprs = ["[ticks] == 3", "r7 > 100 && r7 < 105", "sp < 0x100000 - 8", "byte[0xffffff] == 0 && r1 == 10", "pc == on_tick", "icount % 1000 == 999 && r7 == 12"];
    const s = session(l, 2_222);
    for (const text of exprs) {
      const e = parseExpr(text, (n) => s.sym.lookup(n));
      const truth = valuesByPosition(l, end, (mm) => {
        try {
          return evalExpr(e, { reg: (r) => mm.regs[r], pc: () => mm.pc, icount: () => mm.icount, read: (a, size) => (a + size > mm.memBytes ? NaN : size === 1 ? mm.mem[a] : mm.mem32[a >>> 2]) }) !== 0;
        } catch {
          return false;
        }
      }).filter((_v, k) => k % 2 === 0);
      const rises = truth.map((v, i) => v && (i === 0 ? false : !truth[i - 1])).flatMap((v, i) => (v ? [i] : []));
      for (const p of [0, 17, Math.floor(end / 5), Math.floor(end / 2), end - 3, ...rises.slice(0, 2), ...rises.slice(-1)]) {
        await run(s, `goto ${p}`);
        const fw = await run(s, `when ${text}`);
        const next = rises.find((i) => i > p);
        if (next !== undefined) expect(fw.icount, `when ${text} from ${p}`).toBe(next);
        const bw = await run(s, `when -r ${text}`);
        const prev = [...rises].reverse().find((i) => i <= p) ?? (truth[0] ? 0 : null);
        expect(bw.icount, `when -r ${text} from ${p}`).toBe(prev);
        expect(s.tl.icount).toBe(p);
      }
    }
  });

  it("parses a safe expression language and explains what it cannot parse", () => {
    const names = (n: string) => ({ buf: 0x40, LIMIT: 7 })[n];
    const env = { reg: (r: number) => r * 10, pc: () => 5, icount: () => 1e10, read: (a: number, size: 1 | 4) => (size === 1 ? a & 255 : a * 2) };
    const ev = (t: string) => evalExpr(parseExpr(t, names), env);
    expect(ev("1 + 2 * 3")).toBe(7);
    expect(ev("(1 + 2) * 3")).toBe(9);
    expect(ev("r3 + sp")).toBe(180);
    expect(ev("[buf + 4]")).toBe(0x88);
    expect(ev("byte[0x1ff]")).toBe(255);
    expect(ev("icount > 4294967296")).toBe(1);
    expect(ev("-LIMIT < 0 && !0 || 0")).toBe(1);
    expect(ev("'a' + 1 == 98")).toBe(1);
    expect(ev("0x10 >> 2 | 1 << 4")).toBe(20);
    expect(ev("7 / 2")).toBe(3);
    expect(exprDeps(parseExpr("[buf] + r2", names))).toMatchObject({ regs: new Set([2]), mem: [{ from: 0x40, to: 0x44 }] });
    expect(exprDeps(parseExpr("[r1]", names)).mem).toBe("any");
    for (const [bad, msg] of [
      ["1 +", /expected a value/],
      ["nosuch == 1", /unknown name "nosuch"/],
      ["r16", /unknown register/],
      ["(1 + 2", /expected "\)"/],
      ["1 $ 2", /unexpected "\$"/],
      ["0x", /unexpected|bad number/],
      ["(".repeat(100) + "1" + ")".repeat(100), /nests deeper/],
      ["1".repeat(2000), /longer than/],
      ["eval('x')", /unknown name "eval"/],
    ] as const)
      expect(() => parseExpr(bad, names), bad).toThrow(msg);
    expect(() => ev("1 / 0")).toThrow(ExprError);
  });

  it("keeps the newest console output, each byte once, however replay passes over it", () => {
    const o = new OutputLog(10);
    const b = (t: string) => new TextEncoder().encode(t);
    const text = (from: number, to: number) => {
      const r = o.slice(from, to);
      return `${r.from}:${new TextDecoder().decode(r.bytes)}`;
    };
    o.add(0, b("abcd"));
    o.add(4, b("efgh"));
    o.add(2, b("cdef")); // re-produced after going back: nothing new
    expect(text(0, 8)).toBe("0:abcdefgh");
    o.add(6, b("ghijkl"));
    expect(text(0, 12)).toBe("2:cdefghijkl"); // the oldest two bytes went
    expect(text(5, 9)).toBe("5:fghi");
    expect(text(11, 40)).toBe("11:l");
  });

  it("splits scripts at ; and newlines, and arguments at spaces, but not inside brackets or character literals", () => {
    expect(splitScript("print ';' ; step 2\n# a comment, don't split\nbreak x if r1 == '\\'';goto 5\n\n")).toEqual(["print ';'", "step 2", "break x if r1 == '\\''", "goto 5"]);
    expect(splitArgs("x if r1 == ' ' [r1 + 4] (a b)")).toEqual(["x", "if", "r1", "==", "' '", "[r1 + 4]", "(a b)"]);
  });
});

describe("ftvm debug: breakpoints, next and finish", () => {
  it("breakpoints on a label, file:line, pc, icount and event kinds stop where a scan says, in both directions", async () => {
    const l = log("pulse");
    const end = Math.min(l.endIcount, 30_000);
    const pcs = valuesByPosition(l, end, (m) => m.pc).filter((_v, k) => k % 2 === 0);
    const s = session(l, 1_500);
    const onTick = s.sym.codeLabel("on_tick")!;
    const wait = s.sym.codeLabel("wait")!;
    const line = s.sym.lineOf(wait)!; // "programs/pulse.s:NN"
    const timers = l.events.filter((e) => e.kind === EV.TIMER && e.icount <= end).map((e) => e.icount);
    const specs: [string, (i: number) => boolean][] = [
      ["on_tick", (i) => pcs[i] === onTick],
      [line.replace(/^programs\//, ""), (i) => pcs[i] === wait],
      [`*${wait + 2}`, (i) => pcs[i] === wait + 2],
      ["@12345", (i) => i === 12345],
      ["event timer", (i) => timers.includes(i)],
    ];
    for (const [spec, hit] of specs) {
      await run(s, "delete");
      await run(s, `break ${spec}`);
      for (const p of [0, 999, Math.floor(end / 2), end - 10]) {
        await run(s, `goto ${p}`);
        const fa = await run(s, "continue");
        let want = -1;
        for (let i = p + 1; i <= end; i++) if (hit(i)) { want = i; break; }
        if (want >= 0) expect([fa.stop, s.tl.icount], `${spec}: continue from ${p}`).toEqual(["breakpoint", want]);
        await run(s, `goto ${p}`);
        if (p === 0) continue;
        const ba = await run(s, "reverse-continue");
        let bwant = -1;
        for (let i = p - 1; i >= 0; i--) if (hit(i)) { bwant = i; break; }
        expect([ba.stop, s.tl.icount], `${spec}: reverse-continue from ${p}`).toEqual(bwant >= 0 ? ["breakpoint", bwant] : ["start", 0]);
      }
    }
    // A condition is checked where the location is reached.
    await run(s, "delete");
    await run(s, "break line if r7 == 33");
    await run(s, "goto 0");
    const c = await run(s, "continue");
    expect(c.stop).toBe("breakpoint");
    expect(s.tl.machine.regs[7]).toBe(33);
    expect(s.tl.machine.pc).toBe(s.sym.codeLabel("line"));
    const bad = await s.execute("break nosuch");
    expect(bad.text[0]).toMatch(/no code label "nosuch"/);
    expect((await s.execute("break 12")).text[0]).toMatch(/ambiguous/);
    expect((await s.execute("break event sometimes")).text[0]).toMatch(/unknown event kind/);
    expect((await s.execute("break pulse.s:1")).text[0]).toMatch(/no code at pulse.s:1/);
  });

  it.each(["pulse", "fib"] as const)("%s: next, finish, reverse-next and reverse-finish follow calls and interrupts as a scan of the history does", async (name) => {
    const l = log(name);
    const end = Math.min(l.endIcount, 20_000);
    const seq = valuesByPosition(l, end, (m) => ({ pc: m.pc, sp: m.regs[SP], top: m.mem32[m.regs[SP] >>> 2] }));
    const at = (i: number) => seq[2 * i];
    const op = (i: number) => decodeAt(l.image, at(i).pc).op;
    const entered = (i: number) => i > 0 && at(i).sp === seq[2 * i - 1].sp - 4 && at(i).pc !== seq[2 * i - 1].pc;
    const s = session(l, name === "fib" ? 997 : 1_313);
    const calls = [...Array(end).keys()].filter((i) => op(i) === OP.CALL);
    expect(calls.length).toBeGreaterThan(3);
    for (const p of [calls[0], calls[1], calls[Math.floor(calls.length / 3)], calls[calls.length - 2], calls[calls.length - 1]]) {
      await run(s, `goto ${p}`);
      await run(s, "next");
      let want = -1;
      for (let i = p + 1; i <= end; i++) if (at(i).pc === at(p).pc + 1 && at(i).sp === at(p).sp) { want = i; break; }
      if (want < 0) continue; // the call does not return within the window
      expect(s.tl.icount, `next at ${p}`).toBe(want);
      // reverse-next from just after the return goes back to the call
      await run(s, "reverse-next");
      expect(s.tl.icount, `reverse-next from ${want}`).toBe(p);
    }
    // finish and reverse-finish from inside functions and handlers
    const inside = [calls[0] + 3, calls[2] + 7, calls[Math.floor(calls.length / 2)] + 1, end - 5, ...[...Array(end).keys()].filter((i) => entered(i)).slice(0, 3).map((i) => i + 2)];
    for (const p of inside) {
      await run(s, `goto ${p}`);
      await run(s, "finish");
      let depth = 0;
      let fwant = -1;
      for (let i = p; i < end && fwant < 0; i++) {
        if (op(i) === OP.CALL || op(i) === OP.CALLR) depth++;
        else if ((op(i) === OP.RET || op(i) === OP.IRET) && --depth < 0) fwant = i + 1;
        if (fwant < 0 && entered(i + 1)) depth++;
      }
      if (fwant >= 0) expect(s.tl.icount, `finish from ${p}`).toBe(fwant);
      await run(s, `goto ${p}`);
      await run(s, "reverse-finish");
      let bdepth = 0;
      let bwant = -1;
      for (let i = p - 1; i >= 0 && bwant < 0; i--) {
        if (entered(i + 1)) {
          if (bdepth === 0) bwant = i;
          else bdepth--;
        }
        if (bwant >= 0) break;
        if (op(i) === OP.RET || op(i) === OP.IRET) bdepth++;
        else if (op(i) === OP.CALL || op(i) === OP.CALLR) {
          if (bdepth === 0) bwant = i;
          else bdepth--;
        }
      }
      expect(s.tl.icount, `reverse-finish from ${p}`).toBe(bwant);
    }
  });
});

describe("ftvm debug: snapshots", () => {
  it("keeps checkpoints within snapshotBytesMax by thinning them, and stays exact", async () => {
    const l = log("count");
    const budget = 96 * 1024;
    const s = session(l, 1_000, { snapshotBytesMax: budget });
    const st = s.tl.store;
    await run(s, "goto end");
    expect(st.peakBytes).toBeLessThanOrEqual(budget);
    expect(st.bytes).toBeLessThanOrEqual(budget);
    expect(st.removed).toBeGreaterThan(10);
    expect(st.checkpoints.length).toBeGreaterThan(2);
    // The accounting matches what is held: every page version counted once.
    const held = new Set<unknown>();
    for (const cp of st.checkpoints) for (const v of cp.pages.values()) held.add(v);
    const pageBytes = [...held].reduce((n: number, v) => n + ((v as { bytes: Uint8Array | null }).bytes?.length ?? 0), 0);
    expect(pageBytes).toBeLessThanOrEqual(st.bytes);
    for (const t of [l.endIcount - 1, 5, 77_777, 1_000, 119_999]) {
      await s.tl.goto(t);
      expect(here(s)).toBe(stateOf(freshReplay(l, t)));
    }
    const info = await run(s, "info snapshots");
    expect(info.bytesMax).toBe(budget);
    // Without a budget problem nothing is thinned, and checkpoints are every interval.
    const roomy = session(l, 1_000);
    await roomy.tl.goto(l.endIcount);
    expect(roomy.tl.store.removed).toBe(0);
    expect(roomy.tl.store.checkpoints.length).toBe(Math.floor(l.endIcount / 1000) + 1);
  });

  it("a zero budget keeps only the first checkpoint and still answers exactly", async () => {
    const l = log("diskmix");
    const s = session(l, 500, { snapshotBytesMax: 0 });
    for (const t of [70_000, 3, 40_000, 39_999]) {
      await s.tl.goto(t);
      expect(here(s)).toBe(stateOf(freshReplay(l, t)));
    }
    expect(s.tl.store.checkpoints.length).toBe(1);
  });
});

describe("ftvm debug: what may change a register or memory", () => {
  it("executing every opcode changes no register and no memory outside what effects.ts predicts", () => {
    const operand: Record<string, string> = { rA: "r3", rB: "r5", rC: "r6", imm: "12", mem: "[r5+8]", label: "0", port: "CON_STATUS", vec: "0" };
    const rng = fc.sample(fc.integer({ min: -50, max: 50 }), { numRuns: 64, seed: 9 });
    for (const spec of OPS) {
      for (const variant of spec.name === "LDW" || spec.name === "STW" || spec.name === "STB" || spec.name === "LDB" ? ["[r5+8]", "[0x40]"] : [operand.mem]) {
        const ops = spec.operands.map((k) => (k === "mem" ? variant : operand[k]));
        const src = `.code\nmain:\n ${spec.name} ${ops.join(", ")}\n HALT\n`;
        const image = assemble(src, "op.s");
        for (let trial = 0; trial < 8; trial++) {
          const m = new Machine(image, { memBytes: 16384, stackBytes: 4096 });
          const bus = new Bus(m, { input: () => 7, interruptsEnabled: () => undefined });
          void bus;
          for (let r = 0; r < 15; r++) m.regs[r] = rng[(trial * 16 + r) % rng.length];
          m.regs[5] = 64 + 4 * trial;
          m.regs[3] = trial % 2 ? 0 : m.regs[3]; // JR/CALLR r3 to code address 0
          if (spec.name === "IRET" || spec.name === "RET" || spec.name === "POP") {
            m.regs[SP] -= 4;
            m.mem32[m.regs[SP] >>> 2] = 0;
          }
          m.ie = spec.name === "WFI";
          const regs = m.regs.slice();
          const mem = m.mem.slice();
          m.dirty.fill(0);
          m.run(1);
          for (let r = 0; r < 16; r++)
            if (m.regs[r] !== regs[r]) expect(registerWriters(image, r).has(0), `${src.trim()} changed r${r}`).toBe(true);
          for (let a = 0; a < m.memBytes; a++)
            if (m.mem[a] !== mem[a]) {
              expect(memoryWriters(image, [{ from: a, to: a + 1 }], { from: m.stackBase, to: m.memBytes }).has(0), `${src.trim()} wrote ${a}`).toBe(true);
              break;
            }
        }
      }
    }
  });
});

describe("ftvm debug: an FT run's log", () => {
  it("info log names the epochs of a log stitched from live hosts (ftvm ft --record)", async () => {
    const l = log("count");
    const epochs = [
      { epoch: 1, fromLsn: 1, icount: 0, host: "h1", liveIcount: 0 },
      { epoch: 2, fromLsn: 1, icount: 5000, host: "h2", liveIcount: 4000 },
    ];
    const s = session({ ...l, header: { ...l.header, epochs } });
    const a = await s.execute("info log");
    expect(a.data.epochs).toEqual(epochs);
    expect(a.text.join("\n")).toMatch(/epoch 2: h2 went live at icount 4000; its events from lsn 1 \(icount 5000\)/);
    const plain = await run(session(l), "info log");
    expect(plain.epochs).toBeNull();
  });
});

describe("ftvm debug: errors and the command line", () => {
  it("bad commands, addresses and positions are answers with clear messages, never exceptions", async () => {
    const s = session(log("echo"));
    const cases: [string, RegExp][] = [
      ["frobnicate", /unknown command "frobnicate"/],
      ["mem 0xffffffff", /outside memory/],
      ["mem 0 100000000", /length must be/],
      ["goto -5", /non-negative integer|expected a value/],
      ["goto 99999999999", /past the end of the history/],
      ["watch r99", /unknown register/],
      ["watch ring 99999", /length must be/],
      ["last-change", /expected a register or an address/],
      ["print [0x7fffffff]", /outside memory/],
      ["print 1 +", /expected a value/],
      ["when 1 == 1", /reads nothing from the machine/],
      ["history r1 from 50 to 10", /from 50 is after to 10/],
      ["delete 77", /no breakpoint or watchpoint 77/],
      ["info nothing", /usage: info/],
      ["disasm nosuch", /no code label/],
      ["help nosuch", /unknown command/],
      ["x".repeat(5000), /longer than/],
    ];
    for (const [line, msg] of cases) {
      const a = await s.execute(line);
      expect(a.ok, line).toBe(false);
      expect(a.text[0], line).toMatch(/^error: /);
      expect(a.text[0], line).toMatch(msg);
      expect(a.data.error, line).toMatch(msg);
    }
    for (const line of ["where", "regs", "events 3", "disasm main 5", "mem ring 16", "output", "info log", "info breakpoints", "print icount", "help", "help step"]) expect((await s.execute(line)).ok, line).toBe(true);
    const out = await run(s, "goto end");
    expect(out.atEnd).toBe(true);
    expect((await run(s, "output")).text).toBe("ABC\nDEF\nGHI\n");
  });

  it("a log recorded with --unlogged-rand replays with the debugger's own RAND values, consistently both ways", async () => {
    const image = assemble(".code\nmain:\n LI r2, 0\nloop:\n RAND r1\n ADD r2, r2, r1\n STW r2, [0x100]\n ADDI r3, r3, 1\n SLTI r4, r3, 5000\n BNEZ r4, loop\n HALT\n", "r.s");
    const l = decodeDebugLog(recordBytes(image, { maxIcount: 1_000_000, unloggedRand: true }), "r");
    const s = session(l, 1_000);
    await run(s, "goto end");
    const endState = here(s);
    // The END mark's digests belong to other RAND values: replay stops there, saying why.
    expect(s.tl.divergence?.message).toMatch(/digest/);
    await run(s, "goto 7777");
    const mid = here(s);
    await run(s, "goto end");
    expect(here(s)).toBe(endState);
    await run(s, "goto 7777");
    expect(here(s)).toBe(mid);
  });

  it("--eval and --json print one JSON object per command; -x runs a file; a program is recorded first; trace diff points at the debugger", () => {
    const dir = mkdtempSync(join(tmpdir(), "ftvm-debug-test-"));
    const cli = join(process.cwd(), "src/cli/ftvm.mjs");
    const logPath = join(dir, "count.ftlog");
    writeFileSync(logPath, recordProgram("programs/count.s", { maxIcount: 30_000 }));
    const r = spawnSync(process.execPath, [cli, "debug", logPath, "--json", "--eval", "step 10; where; break print_loop; continue; reverse-step; nonsense; watch r7; when -r r7 == 1; reverse-continue; last-change r7; info snapshots"], { encoding: "utf8" });
    expect(r.status).toBe(1); // one command failed
    const lines = r.stdout.trim().split("\n");
    const objs = lines.map((x) => JSON.parse(x));
    expect(objs.map((o) => o.command)).toEqual(["step 10", "where", "break print_loop", "continue", "reverse-step", "nonsense", "watch r7", "when -r r7 == 1", "reverse-continue", "last-change r7", "info snapshots"]);
    expect(objs.map((o) => o.ok)).toEqual([true, true, true, true, true, false, true, true, true, true, true]);
    expect(objs[0].position.icount).toBe(10);
    expect(objs[3].stop).toBe("breakpoint");
    expect(objs[5].error).toMatch(/unknown command/);
    expect(objs[7].icount).toBe(34); // LI r7, 1 runs at icount 33
    expect(objs[8]).toMatchObject({ stop: "watchpoint", position: { icount: 33 } });
    expect(objs[9].changed).toBe(false);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    // -x FILE, text output, and a program recorded on the fly
    const script = join(dir, "cmds.txt");
    writeFileSync(script, "# a comment\nbreak print_uint\ncontinue\nregs\nreverse-finish\n");
    const t = spawnSync(process.execPath, [cli, "debug", "programs/pulse.s", "--max-icount", "20000", "-x", script], { encoding: "utf8" });
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/Breakpoint 1, print_uint/);
    expect(t.stdout).toMatch(/\(ftvm\) reverse-finish\nback at the call into print_uint/);
    expect(t.stderr).toMatch(/recorded programs\/pulse.s: 20000 instructions/);
    // a bad log is a clear error, exit 2
    writeFileSync(join(dir, "bad.ftlog"), "not a log at all, clearly");
    const b = spawnSync(process.execPath, [cli, "debug", join(dir, "bad.ftlog"), "--eval", "where"], { encoding: "utf8" });
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/not an ftvm log/);
    expect(b.stderr).not.toMatch(/\n\s+at /);
  });

  it("trace diff names the icount to open the debugger at", () => {
    const rec = (icount: number, r1: number, atPc = -1) => ({ icount, pc: 3, cause: atPc >= 0 ? EV.RAND : 0, atPc, regs: [0, r1], regsDigest: String(r1), memDigest: "m" });
    const h = { image: new Uint8Array([1]), intervalIcount: 100, program: "p", role: "record" };
    const a = [rec(100, 1), rec(150, 2, 2)];
    const b = [rec(100, 1), rec(150, 9, 2)];
    const d = diffTraces(h, h, a[Symbol.iterator](), b[Symbol.iterator]());
    expect(d.identical).toBe(false);
    expect(d.debugIcount).toBe(149);
    const p = diffTraces(h, h, [rec(100, 1), rec(200, 2)][Symbol.iterator](), [rec(100, 1), rec(200, 3)][Symbol.iterator]());
    expect(p.debugIcount).toBe(100);
  });
});
