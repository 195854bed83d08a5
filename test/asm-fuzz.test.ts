// Property tests for the assembler (issue 18): whatever the source — token soup, real
// programs with random damage, macros that invoke each other (and themselves), includes
// that form cycles — assembling either gives an image that the disassembler lists and the
// machine runs, or throws an AsmError each of whose problems is located
// (file:line:col: error: ...). Never another exception, never a hang (the limits of
// test/asm-limits.test.ts bound the work). Fixed seeds, so a failure reproduces.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OPS } from "../isa/table.js";
import { AsmError, type AssembleOptions, assemble, disassemble } from "../src/asm/index.js";
import { decodeImage, encodeImage } from "../src/vm/image.js";
import { Machine } from "../src/vm/machine.js";

const ROOT = new URL("..", import.meta.url).pathname;
/** Every located problem: file:line:col: error: reason (files may be include names). */
const LOCATED = /^[^\n]+:[1-9]\d*:[1-9]\d*: error: \S/;

/** Assembles; checks that the outcome is an image that works or an AsmError with located problems. */
function check(src: string, opts: AssembleOptions = {}, file = "fuzz.s"): void {
  let img;
  try {
    img = assemble(src, file, opts);
  } catch (e) {
    if (!(e instanceof AsmError)) throw new Error(`assembling threw ${String(e)} instead of an AsmError\n--- source ---\n${src.slice(0, 2000)}`);
    expect(e.errors.length).toBeGreaterThan(0);
    for (const x of e.errors) {
      expect(x.message, src.slice(0, 2000)).toMatch(LOCATED);
      expect(x.line).toBeGreaterThan(0);
      expect(x.col).toBeGreaterThan(0);
    }
    return;
  }
  const back = decodeImage(encodeImage(img));
  expect(disassemble(back).length).toBeGreaterThan(0);
  // Whatever it assembled to, running it ends in a result, a trap or the limit: never a host error.
  const m = new Machine(back);
  expect(["continue", "halted", "trapped", "waiting"]).toContain(m.run(2000));
}

// ---- token soup ---------------------------------------------------------------------------

const word = fc.oneof(
  fc.constantFrom(...OPS.map((s) => s.name), ...OPS.map((s) => s.name.toLowerCase())),
  fc.constantFrom(".code", ".data", ".const", ".byte", ".word", ".string", ".asciz", ".zero", ".align", ".entry", ".include", ".macro", ".endm", ".invalid", ".bogus", ".ZERO"),
  fc.constantFrom("r0", "r1", "r15", "r16", "r99", "sp", "SP", "main", "loop", "X", "Y", "buf", "__data_end", "CON_OUT", "VEC_TIMER", "M", "\\x", "\\@", "\\"),
  fc.constantFrom("0", "1", "-1", "4", "0x10", "0xFFFFFFFF", "0x100000000", "0b101", "99999999999999999999", "12ab", "0x", "'a'", "'\\n'", "'ab'", "''", "'"),
  fc.constantFrom('"hi\\n"', '"', '"\\x4"', '"\\q"', '"ok"', '"a,b"', '"printnum.s"', '"nope.s"'),
  fc.constantFrom(",", "[", "]", "(", ")", "+", "-", "*", "/", "%", "&", "|", "^", "~", ":", "=", "<<", ">>", ";", "#", "$", "@", "\t", "é", "\u0000", "\uFFFF"),
  fc.string({ maxLength: 6 }),
);
const soupLine = fc.array(word, { maxLength: 8 }).chain((ws) => fc.constantFrom(" ", ", ", "", "  ").map((sep) => ws.join(sep)));
const soup = fc.tuple(fc.array(soupLine, { maxLength: 30 }), fc.constantFrom("\n", "\r\n")).map(([ls, nl]) => ls.join(nl));

// ---- real programs, damaged ---------------------------------------------------------------

const programs = readdirSync(join(ROOT, "programs"))
  .filter((f) => f.endsWith(".s"))
  .map((f) => ({ name: join(ROOT, "programs", f), text: readFileSync(join(ROOT, "programs", f), "utf8") }));

type Edit = { at: number; kind: "delete" | "insert" | "duplicate" | "swap"; len: number; text: string };
const edit: fc.Arbitrary<Edit> = fc.record({
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  kind: fc.constantFrom("delete" as const, "insert" as const, "duplicate" as const, "swap" as const),
  len: fc.integer({ min: 1, max: 40 }),
  text: fc.oneof(word, fc.string({ maxLength: 10 })),
});

function damage(text: string, edits: readonly Edit[]): string {
  let t = text;
  for (const e of edits) {
    const i = Math.floor(e.at * t.length);
    if (e.kind === "delete") t = t.slice(0, i) + t.slice(i + e.len);
    else if (e.kind === "insert") t = t.slice(0, i) + e.text + t.slice(i);
    else if (e.kind === "duplicate") t = t.slice(0, i) + t.slice(i, i + e.len * 10) + t.slice(i);
    else {
      const lines = t.split("\n");
      const a = Math.floor(e.at * lines.length);
      const b = (a + e.len) % Math.max(1, lines.length);
      [lines[a], lines[b]] = [lines[b], lines[a]];
      t = lines.join("\n");
    }
  }
  return t;
}

// ---- macros and includes ------------------------------------------------------------------

/** A program made of macros that may invoke any macro (themselves too) and virtual files that include each other. */
const macroProgram = fc.record({
  macros: fc.array(
    fc.record({
      params: fc.integer({ min: 0, max: 2 }),
      body: fc.array(
        fc.oneof(
          { arbitrary: fc.record({ call: fc.nat(), args: fc.array(fc.constantFrom("r1", "7", "\\p0", "\\p1", "lab\\@", "(1+", '"s"', ""), { maxLength: 3 }) }), weight: 6 },
          { arbitrary: fc.constantFrom("NOP", "ADDI \\p0, \\p0, 1", "lab\\@: NOP", "JMP lab\\@", "LI r2, \\p1", ".data", ".code", ".byte 1"), weight: 6 },
          { arbitrary: fc.constantFrom(".macro INNER", ".endm", '.include "b.s"'), weight: 1 },
        ),
        { maxLength: 5 },
      ),
    }),
    { maxLength: 5 },
  ),
  main: fc.array(fc.record({ call: fc.nat(), args: fc.array(fc.constantFrom("r1", "r2", "3", "x"), { maxLength: 3 }) }), { maxLength: 4 }),
  files: fc.array(fc.array(fc.constantFrom('.include "a.s"', '.include "b.s"', '.include "c.s"', "NOP", "HALT", "lbl: NOP", ".macro FM", ".endm", "FM"), { maxLength: 6 }), {
    minLength: 3,
    maxLength: 3,
  }),
});

function renderMacros(p: typeof macroProgram extends fc.Arbitrary<infer T> ? T : never): { src: string; opts: AssembleOptions } {
  const out: string[] = [];
  const n = p.macros.length;
  // Invocations pass as many arguments as the macro takes (arity errors are tested elsewhere), so they nest.
  const call = (c: { call: number; args: string[] }) => {
    if (!n) return "NOP";
    const k = c.call % n;
    return `M${k} ${Array.from({ length: p.macros[k].params }, (_, i) => c.args[i] ?? "r1").join(", ")}`;
  };
  p.macros.forEach((m, i) => {
    out.push(`.macro M${i}${Array.from({ length: m.params }, (_, k) => `${k ? "," : ""} p${k}`).join("")}`);
    for (const b of m.body) out.push(typeof b === "string" ? b : call(b));
    out.push(".endm");
  });
  out.push(".include \"a.s\"", "main:", ...p.main.map(call), "HALT");
  const files: Record<string, string> = { "a.s": p.files[0].join("\n"), "b.s": p.files[1].join("\n"), "c.s": p.files[2].join("\n") };
  return {
    src: out.join("\n"),
    opts: {
      includeDirs: [],
      readFile: (path) => {
        const name = path.split("/").pop()!;
        if (Object.hasOwn(files, name)) return files[name];
        throw new Error(`ENOENT: ${path}`);
      },
    },
  };
}

// ---- expression bombs ---------------------------------------------------------------------

/** Deep nesting, long chains and constants defined by constants, in sizes around and far past the limits. */
const bomb = fc.record({
  depth: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 5000 })),
  opener: fc.constantFrom("(", "-", "~", "+", "(-", "-("),
  terms: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 50 }), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 20_000 }), weight: 1 }),
  op: fc.constantFrom("+", "-", "*", "|", "<<", "/", "%"),
  term: fc.constantFrom("1", "2", "0", "X1", "__data_end", "main", "undefined_name"),
  chain: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 5000 })),
  cyclic: fc.boolean(),
});

function renderBomb(b: typeof bomb extends fc.Arbitrary<infer T> ? T : never): string {
  const close = (o: string) => o.replace(/[^(]/g, "").replace(/\(/g, ")");
  const inner = Array(b.terms).fill(b.term).join(` ${b.op} `);
  const expr = b.opener.repeat(b.depth) + inner + close(b.opener).repeat(b.depth);
  const chain = Array.from({ length: b.chain }, (_, i) => `X${i + 1} = X${i + 2} ${b.op} 1`);
  chain.push(`X${b.chain + 1} = ${b.cyclic ? "X1" : "3"}`);
  return `${chain.join("\n")}\nmain: LI r1, ${expr}\n  HALT`;
}

describe("the assembler on random and garbled source", () => {
  it("expression bombs: deep, long and chained expressions evaluate or are refused, located", () => {
    fc.assert(fc.property(bomb, (b) => check(renderBomb(b))), { numRuns: 150, seed: 18007 });
  });

  it("token soup: an image or located AsmErrors, nothing else", () => {
    fc.assert(fc.property(soup, (src) => check(src)), { numRuns: 1500, seed: 18004 });
  });

  it("real programs with random damage: an image or located AsmErrors", () => {
    fc.assert(
      fc.property(fc.constantFrom(...programs), fc.array(edit, { minLength: 1, maxLength: 6 }), (p, edits) => check(damage(p.text, edits), {}, p.name)),
      { numRuns: 300, seed: 18005 },
    );
  });

  it("macros invoking macros (and themselves), includes including includes: bounded, located", () => {
    fc.assert(
      fc.property(macroProgram, (p) => {
        const { src, opts } = renderMacros(p);
        check(src, opts);
      }),
      { numRuns: 500, seed: 18006 },
    );
  });
});
