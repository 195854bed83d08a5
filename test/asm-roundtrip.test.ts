// Property: the disassembler's text re-assembles to exactly the words it came from.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ABSOLUTE_BIT, type OperandKind, OPS, type OpSpec } from "../isa/table.js";
import { assemble, disassemble, disassembleInstruction } from "../src/asm/index.js";
import type { Image } from "../src/vm/image.js";

const reg = fc.integer({ min: 0, max: 15 });
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });

/** Random operand values for one OpSpec, encoded the way isa/table.ts describes (independently of src/asm). */
function instruction(spec: OpSpec): fc.Arbitrary<[number, number]> {
  const parts = spec.operands.map((k: OperandKind): fc.Arbitrary<{ w0: number; imm: number }> => {
    switch (k) {
      case "rA":
        return reg.map((r) => ({ w0: r << 8, imm: 0 }));
      case "rB":
        return reg.map((r) => ({ w0: r << 12, imm: 0 }));
      case "rC":
        return reg.map((r) => ({ w0: r << 16, imm: 0 }));
      case "vec":
        return fc.integer({ min: 0, max: 15 }).map((v) => ({ w0: v << 8, imm: 0 }));
      case "imm":
      case "label":
      case "port":
        return int32.map((imm) => ({ w0: 0, imm }));
      case "mem":
        return fc.oneof(
          fc.tuple(reg, int32).map(([b, imm]) => ({ w0: b << 12, imm })),
          int32.map((imm) => ({ w0: ABSOLUTE_BIT, imm })),
        );
    }
  });
  return fc.tuple(...parts).map((ps) => [ps.reduce((w, p) => w | p.w0, spec.op), ps.reduce((i, p) => i | p.imm, 0)]);
}

function reassemble(text: string): number[] {
  return Array.from(assemble(text, "roundtrip.s").code);
}

describe("disassemble -> assemble round trip", () => {
  for (const spec of OPS) {
    it(`${spec.name} (${spec.operands.join(", ") || "no operands"})`, () => {
      fc.assert(
        fc.property(instruction(spec), ([w0, w1]) => {
          const text = disassembleInstruction(w0, w1);
          expect(text.startsWith(spec.name)).toBe(true);
          expect(reassemble(text)).toEqual([w0, w1]);
        }),
        { numRuns: 200 },
      );
    });
  }

  it("any pair of words, including unknown opcodes and stray bits (via .invalid)", () => {
    fc.assert(
      fc.property(int32, int32, (w0, w1) => {
        expect(reassemble(disassembleInstruction(w0, w1))).toEqual([w0, w1]);
      }),
      { numRuns: 2000 },
    );
  });

  it("symbol comments do not change what the text assembles to", () => {
    const symbols = [
      { name: "target", value: 5, section: "code" as const },
      { name: "cell", value: 8, section: "data" as const },
    ];
    const specs = fc.constantFrom(...OPS);
    fc.assert(
      fc.property(
        specs.chain((s) => instruction(s)),
        ([w0, w1]) => {
          expect(reassemble(disassembleInstruction(w0, w1, symbols))).toEqual([w0, w1]);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("a whole image's listing re-assembles to the same code, data and entry", () => {
    const program = fc.array(
      fc.constantFrom(...OPS).chain((s) => instruction(s)),
      { minLength: 1, maxLength: 40 },
    );
    const data = fc.uint8Array({ maxLength: 70 });
    fc.assert(
      fc.property(program, data, fc.nat(), (words, bytes, e) => {
        const img: Image = {
          code: Int32Array.from(words.flat()),
          data: bytes,
          entry: e % words.length,
          symbols: [{ name: "start", value: e % words.length, section: "code" }],
          lines: [],
        };
        // The listing prefixes rows with "index:" / "address:"; without them it is a program.
        const text = disassemble(img).replace(/^\s+(?:0x)?[0-9a-f]+: /gm, "");
        const again = assemble(text + "\n.entry start", "listing.s");
        expect(Array.from(again.code)).toEqual(Array.from(img.code));
        expect(Array.from(again.data)).toEqual(Array.from(img.data));
        expect(again.entry).toBe(img.entry);
      }),
      { numRuns: 100 },
    );
  });
});
