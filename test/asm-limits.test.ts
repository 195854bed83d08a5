// The assembler, the loader and the disassembler under hostile input (issue 18): every
// case that used to hang, overflow the stack or throw a RangeError now gives a clear error
// naming file:line:col (or, for the loader, both sizes), or simply works.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  AsmError,
  assemble,
  assembleFile,
  disassemblyLines,
  EXPR_NESTING_MAX,
  MACRO_DEPTH_MAX,
  MACRO_EXPANSION_LINES_MAX,
  SOURCE_BYTES_MAX,
  SOURCE_FILE_BYTES_MAX,
} from "../src/asm/index.js";
import { encodeImage, IMAGE_BYTES_MAX, IMAGE_HEADER_BYTES, type Image, ImageError } from "../src/vm/image.js";
import { Machine, MachineConfigError } from "../src/vm/machine.js";
import { ftvmArgs } from "./support/ftvm-args.js";

const ROOT = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "ftvm-asm-limits-"));

function ftvm(args: string[]) {
  const r = spawnSync(process.execPath, [...ftvmArgs(), ...args], { cwd: ROOT, encoding: "utf8", input: "", timeout: 120_000, maxBuffer: 1 << 28 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The AsmError assembling `src` throws; every one of its problems is located. */
function asmError(src: string, opts: Parameters<typeof assemble>[2] = {}, file = "t.s"): AsmError {
  try {
    assemble(src, file, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(AsmError);
    return e as AsmError;
  }
  throw new Error("expected an AsmError");
}

/** The value the assembler gives constant X (through LI's immediate). */
function valueOfX(src: string): number {
  return assemble(`${src}\nmain: LI r1, X`, "t.s").code[1];
}

describe("macros: the total expansion is bounded", () => {
  it("a macro that invokes itself twice stops at the nesting limit, once, at its line", () => {
    const e = asmError(".macro TWICE\n  NOP\n  TWICE\n  TWICE\n.endm\nmain: TWICE\n  HALT\n");
    expect(e.errors).toHaveLength(1);
    expect(e.message).toMatch(new RegExp(`^t\\.s:3:3: error: macro TWICE nested more than ${MACRO_DEPTH_MAX} levels deep`));
  });

  it("macros that double their output at every level, without recursion, stop at MACRO_EXPANSION_LINES_MAX", () => {
    // M0 -> 2 x M1 -> 4 x M2 ...: 2^20 lines at 20 levels, well inside the nesting limit.
    const defs: string[] = [];
    for (let i = 0; i < 20; i++) defs.push(`.macro M${i}`, "  NOP", ...(i < 19 ? [`  M${i + 1}`, `  M${i + 1}`] : []), ".endm");
    const e = asmError(`${defs.join("\n")}\nmain: M0\n  HALT\n`);
    expect(e.errors).toHaveLength(1);
    expect(e.reason).toMatch(new RegExp(`^macro expansion stopped: expanding M\\d+ here would take the program past ${MACRO_EXPANSION_LINES_MAX} lines produced by macros`));
    expect(e.line).toBeGreaterThan(0);
    expect(e.message).toContain(`note: in expansion of macro M0 at t.s:${defs.length + 1}:7`);
  });
});

describe("expressions: deep nesting is refused, long ones work", () => {
  it(`parentheses nested 3,000 deep are refused at the ${EXPR_NESTING_MAX + 1}th; ${EXPR_NESTING_MAX} work`, () => {
    const e = asmError(`X = ${"(".repeat(3000)}1${")".repeat(3000)}\nmain: HALT`);
    expect(e.message).toMatch(new RegExp(`^t\\.s:1:${5 + EXPR_NESTING_MAX}: error: expression nested more than ${EXPR_NESTING_MAX} levels deep`));
    // The message shows a window of the 6,000-character line, not all of it.
    expect(e.message.length).toBeLessThan(600);
    expect(valueOfX(`X = ${"(".repeat(EXPR_NESTING_MAX)}7${")".repeat(EXPR_NESTING_MAX)}`)).toBe(7);
  });

  it("100,000 unary minus signs are refused with file:line:col", () => {
    const e = asmError(`main: LI r1, ${"-".repeat(100_000)}1`);
    expect(e.message).toMatch(new RegExp(`^t\\.s:1:${14 + EXPR_NESTING_MAX}: error: expression nested more than`));
  });

  it("a 100,000-term sum and a 10,000-constant chain of forward references evaluate", () => {
    expect(valueOfX(`X = ${Array(100_000).fill("1").join(" + ")}`)).toBe(100_000);
    expect(valueOfX(`X = ${Array(50_000).fill("3").join(" - ")}`)).toBe(3 - 3 * 49_999);
    const chain = Array.from({ length: 10_000 }, (_, i) => `X${i ? i : ""} = X${i + 1} + 1`);
    expect(valueOfX([...chain, "X10000 = 5"].join("\n"))).toBe(10_005);
  });

  it("a 10,000-constant cycle is a circular definition, reported once", () => {
    const chain = Array.from({ length: 10_000 }, (_, i) => `C${i} = C${(i + 1) % 10_000} + 1`);
    const e = asmError(`${chain.join("\n")}\nmain: LI r1, C0`);
    expect(e.errors.map((x) => x.reason)).toEqual(['circular definition: "C0" depends on itself']);
    expect(e.message).toMatch(/^t\.s:10000:9: error: circular definition/);
  });
});

describe("data: the image limit is checked while assembling", () => {
  const limitMessage = (line: number) => new RegExp(`^t\\.s:${line}:1: error: this \\.zero takes the image past its ${IMAGE_BYTES_MAX}-byte limit`);

  it("20 x .zero 0x10000000 is refused at the first .zero that crosses the limit", () => {
    const e = asmError(`.data\n${Array(20).fill(".zero 0x10000000").join("\n")}\n.code\nmain: HALT`);
    expect(e.errors).toHaveLength(1);
    expect(e.message).toMatch(limitMessage(2));
  });

  it("2 x 128 MiB is refused at the second; code counts too; the largest image that fits assembles", () => {
    expect(asmError(`.data\n.zero 0x8000000\n.zero 0x8000000\n.code\nmain: HALT`).message).toMatch(limitMessage(3));
    const fits = IMAGE_BYTES_MAX - IMAGE_HEADER_BYTES - 8;
    expect(asmError(`.data\n.zero ${fits}\n.code\nmain: HALT\nHALT`).message).toMatch(/^t\.s:5:1: error: this instruction takes the image past/);
    const img = assemble(`.data\n.zero ${fits}\n.code\nmain: HALT`, "t.s");
    expect(img.data.length).toBe(fits);
  });

  it("an image whose debug section would take it past the limit is not written", () => {
    // Code and data fill the image to the byte; the symbols and line table do not fit.
    const img: Image = { code: new Int32Array([1, 0]), data: new Uint8Array(IMAGE_BYTES_MAX - IMAGE_HEADER_BYTES - 8), entry: 0, symbols: [{ name: "main", value: 0, section: "code" }], lines: ["t.s:1"] };
    expect(() => encodeImage(img)).toThrow(ImageError);
    expect(() => encodeImage(img)).toThrow(new RegExp(`more than the ${IMAGE_BYTES_MAX}-byte limit`));
  });

  it("data larger than the machine's memory is refused at load with both sizes (MachineConfigError, exit 2)", () => {
    const image: Image = { code: new Int32Array([1, 0]), data: new Uint8Array(2_000_000), entry: 0, symbols: [], lines: [] };
    expect(() => new Machine(image)).toThrow(MachineConfigError);
    expect(() => new Machine(image)).toThrow(/data \(2000000 bytes\) does not fit in memory: 1048576 bytes of memory less the 65536-byte stack leave 983040 bytes/);
    const p = join(dir, "bigdata.s");
    writeFileSync(p, ".data\nbig: .zero 2000000\n.code\nmain: HALT\n");
    const r = ftvm(["run", p]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      "ftvm: the program's data (2000000 bytes) does not fit in memory: 1048576 bytes of memory less the 65536-byte stack leave 983040 bytes for it (give more with --mem)\n",
    );
    expect(ftvm(["run", "--mem", "4MiB", p]).code).toBe(0);
  }, 120_000);
});

describe("disasm works for images of any valid size", () => {
  it("an image with 2 MB of data disassembles (it overflowed the stack)", () => {
    const src = join(dir, "data2m.s");
    const img = join(dir, "data2m.ftb");
    writeFileSync(src, ".data\nbuf: .zero 2000000\nend: .byte 7\n.code\nmain: HALT\n");
    expect(ftvm(["asm", src, "-o", img]).code).toBe(0);
    const r = ftvm(["disasm", img]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    // Header, .code, main:, the HALT, .data, buf:, 125,000 rows of 16, end:, its row.
    expect(lines).toHaveLength(6 + 125_000 + 2);
    expect(lines.at(-1)).toBe("  0x1e8480: .byte 0x07 ; .");
  }, 120_000);

  it("the listing of the largest valid image is produced line by line, never as one string", () => {
    // 256 MiB of data make about 1.6 GB of listing, more than a string may hold: the lines
    // come from a generator, so the first ones are there before any later one is made.
    const data = new Uint8Array(IMAGE_BYTES_MAX - IMAGE_HEADER_BYTES - 8);
    data[data.length - 1] = 0x41;
    const lines = disassemblyLines({ code: new Int32Array([1, 0]), data, entry: 0, symbols: [{ name: "main", value: 0, section: "code" }], lines: [] });
    const head = Array.from({ length: 6 }, () => lines.next().value);
    expect(head).toEqual([
      `; 1 instructions, ${data.length} data bytes, entry 0 (main)`,
      ".code",
      "main:",
      "  0: HALT",
      ".data",
      `  0x0000000: .byte ${Array(16).fill("0x00").join(", ")} ; ................`,
    ]);
  });
});

describe(".include reads regular files only, of bounded size", () => {
  it("/dev/zero, a FIFO and a directory are refused or skipped with file:line:col", () => {
    expect(asmError('.include "/dev/zero"\nmain: HALT').message).toMatch(/^t\.s:1:10: error: cannot include \/dev\/zero: it is a character device, not a regular file/);
    const fifo = join(dir, "pipe.s");
    execFileSync("mkfifo", [fifo]);
    expect(asmError(`.include "${fifo}"\nmain: HALT`).message).toMatch(/^t\.s:1:10: error: cannot include .*pipe\.s: it is a FIFO, not a regular file/);
    // The main file too (ftvm run would otherwise block reading the FIFO).
    expect(() => assembleFile(fifo)).toThrow(/pipe\.s: error: cannot assemble it: it is a FIFO, not a regular file/);
    mkdirSync(join(dir, "sub.s"));
    expect(asmError(`.include "${join(dir, "sub.s")}"\nmain: HALT`).message).toMatch(/^t\.s:1:10: error: cannot find include file/);
  });

  it(`a file over ${SOURCE_FILE_BYTES_MAX} bytes is refused before it is read`, () => {
    const big = join(dir, "big.s");
    writeFileSync(big, "");
    truncateSync(big, SOURCE_FILE_BYTES_MAX + 1); // sparse: nothing is written
    expect(asmError(`.include "${big}"\nmain: HALT`).message).toMatch(
      new RegExp(`^t\\.s:1:10: error: cannot include .*big\\.s: it has ${SOURCE_FILE_BYTES_MAX + 1} bytes, more than the ${SOURCE_FILE_BYTES_MAX}-byte limit`),
    );
  });

  it(`a main source over ${SOURCE_FILE_BYTES_MAX} bytes is refused as a whole`, () => {
    const e = asmError(`;${"x".repeat(SOURCE_FILE_BYTES_MAX)}\nmain: HALT`);
    expect(e.message).toBe(`t.s: error: it has ${SOURCE_FILE_BYTES_MAX + 12} bytes, more than the ${SOURCE_FILE_BYTES_MAX}-byte limit for a source file`);
  });

  it(`all source files together are bounded by ${SOURCE_BYTES_MAX} bytes`, () => {
    const filler = `;${"x".repeat(SOURCE_FILE_BYTES_MAX - 2)}\n`;
    const files = ["a.s", "b.s", "c.s", "d.s", "e.s"];
    const src = files.map((f) => `.include "${f}"`).join("\n") + "\nmain: HALT";
    const e = asmError(src, { includeDirs: [], readFile: (p) => (files.some((f) => p.endsWith(f)) ? filler : "") });
    expect(e.message).toMatch(new RegExp(`^t\\.s:4:10: error: cannot include d\\.s: the program's source files would exceed ${SOURCE_BYTES_MAX} bytes together`));
  });
});
