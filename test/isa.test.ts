import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generatedSections, readSection } from "../isa/spec.js";
import { BY_OP, OPS, WORDS_PER_INSTRUCTION } from "../isa/table.js";
import type { Image } from "../src/vm/image.js";
import { Machine } from "../src/vm/machine.js";
import { interpret } from "../src/vm/interp.js";
import { Bus } from "../src/devices/bus.js";
import { LiveEnv } from "../src/replay/live.js";
import { fakeWorld } from "../src/replay/world.js";

describe("the ISA table is the one truth", () => {
  it("isa/README.md shows exactly the generated opcode, port and vector tables", () => {
    const doc = readFileSync(new URL("../isa/README.md", import.meta.url), "utf8");
    for (const [name, body] of generatedSections()) expect(readSection(doc, name), `section ${name} (run npx tsx tools/gen-isa-readme.ts)`).toBe(body);
  });

  it("opcodes and mnemonics are unique", () => {
    expect(new Set(OPS.map((s) => s.op)).size).toBe(OPS.length);
    expect(new Set(OPS.map((s) => s.name)).size).toBe(OPS.length);
  });

  it("the interpreter's cases are exactly the table's opcodes, each labelled with its mnemonic", () => {
    const src = readFileSync(new URL("../src/vm/interp.ts", import.meta.url), "utf8");
    const cases = [...src.matchAll(/case (0x[0-9a-f]{2}):[^\n]*?\/\/ ([A-Z]+)/g)].map((m) => [Number(m[1]), m[2]] as const);
    const want = OPS.map((s) => [s.op, s.name] as const);
    expect(new Map(cases)).toEqual(new Map(want));
  });

  it("every assigned opcode executes without an invalid-opcode trap, every other opcode traps", () => {
    for (let op = 0; op < 256; op++) {
      // One instruction with fields A=1, B=2, C=3 and imm=4 (a valid port for none, so
      // IN/OUT get a real port), then HALT. Registers are set so nothing else traps.
      const spec = BY_OP[op];
      const imm = spec?.name === "IN" || spec?.name === "OUT" ? 0 : spec?.target ? 1 : 4;
      const code = new Int32Array([op | (1 << 8) | (2 << 12) | (3 << 16), imm, 0x01, 0]);
      const image: Image = { code, data: new Uint8Array(0), entry: 0, symbols: [], lines: [] };
      const m = new Machine(image);
      const bus = new Bus(m, undefined as never);
      bus.env = new LiveEnv(bus, fakeWorld(), () => undefined);
      m.regs.set([0, 1, 1, 2], 0);
      m.regs[1] = 1; // a valid code address for JR/CALLR
      m.ie = true;
      m.vectors[1] = 1;
      if (spec?.name === "RET" || spec?.name === "IRET" || spec?.name === "POP") {
        m.regs[15] -= 4;
        m.mem32[m.regs[15] >>> 2] = 1;
      }
      interpret(m, 1);
      if (spec) expect(m.trap?.kind, `${spec.name} (0x${op.toString(16)})`).not.toBe("invalid-opcode");
      else expect(m.trap?.kind, `unassigned 0x${op.toString(16)}`).toBe("invalid-opcode");
    }
    expect(WORDS_PER_INSTRUCTION).toBe(2);
  });
});
