// The disassembler. Its text is canonical assembly: assembling the text of any instruction
// gives back exactly the same two words (test/asm-roundtrip.test.ts checks this for every
// OpSpec). Words no mnemonic can express (an unknown opcode, or stray bits in fields the
// instruction does not use) come out as `.invalid word0, word1`, which assembles verbatim.
import { PORTS, VECTORS } from "../../isa/ports.js";
import { ABSOLUTE_BIT, BY_OP, type OpSpec, WORDS_PER_INSTRUCTION } from "../../isa/table.js";
import { type Image, type ImageSymbol, instructionCount } from "../vm/image.js";
import { registerName } from "./registers.js";

/** Symbol names by value, per section, so operands can be annotated with the label they hit. */
export interface SymbolNames {
  readonly code: ReadonlyMap<number, string>;
  readonly data: ReadonlyMap<number, string>;
}

/** Callers that pass Image.symbols once per instruction get the index built once per array (which must not change afterwards). */
const indexCache = new WeakMap<readonly ImageSymbol[], SymbolNames>();

/** Indexes image symbols by value; when several labels share an address the first defined wins. */
export function symbolNames(symbols: readonly ImageSymbol[]): SymbolNames {
  const cached = indexCache.get(symbols);
  if (cached) return cached;
  const code = new Map<number, string>();
  const data = new Map<number, string>();
  for (const s of symbols) {
    const m = s.section === "code" ? code : s.section === "data" ? data : undefined;
    if (m && !m.has(s.value)) m.set(s.value, s.name);
  }
  const names = { code, data };
  indexCache.set(symbols, names);
  return names;
}

const PORT_NAMES = new Map<number, string>(PORTS.map((p) => [p.port, p.name]));
const VECTOR_NAMES = new Map<number, string>(VECTORS.map((v) => [v.vector, v.name]));

function hex32(v: number): string {
  return "0x" + (v >>> 0).toString(16).padStart(8, "0");
}

/** Small values read best in decimal, large ones (masks, addresses) in hex. */
function number(v: number): string {
  return v >= -0xffff && v <= 0xffff ? String(v) : "0x" + (v >>> 0).toString(16);
}

/** The words the assembler would produce for spec with the fields decoded from word0 (unused fields zero). */
function canonicalWord0(spec: OpSpec, w0: number): number {
  let w = spec.op;
  for (const k of spec.operands) {
    if (k === "rA" || k === "vec") w |= w0 & 0xf00;
    else if (k === "rB") w |= w0 & 0xf000;
    else if (k === "rC") w |= w0 & 0xf0000;
    else if (k === "mem") w |= w0 & ABSOLUTE_BIT ? ABSOLUTE_BIT : w0 & 0xf000;
  }
  return w;
}

function usesImmediate(spec: OpSpec): boolean {
  return spec.operands.some((k) => k === "imm" || k === "label" || k === "port" || k === "mem");
}

/**
 * One instruction as canonical assembly text. With symbols, a code target or absolute data
 * address that a label names gets that name as a trailing comment (`JMP 17 ; loop`).
 */
export function disassembleInstruction(word0: number, word1: number, symbols?: SymbolNames | readonly ImageSymbol[]): string {
  const names = symbols === undefined ? undefined : Array.isArray(symbols) ? symbolNames(symbols) : (symbols as SymbolNames);
  const w0 = word0 | 0;
  const imm = word1 | 0;
  const spec = BY_OP[w0 & 0xff];
  const raw = `.invalid ${hex32(w0)}, ${hex32(imm)}`;
  if (!spec) return `${raw} ; unknown opcode 0x${(w0 & 0xff).toString(16).padStart(2, "0")}`;
  const a = (w0 >>> 8) & 15;
  const b = (w0 >>> 12) & 15;
  const c = (w0 >>> 16) & 15;
  const comments: string[] = [];
  const operands = spec.operands.map((k): string => {
    switch (k) {
      case "rA":
        return registerName(a);
      case "rB":
        return registerName(b);
      case "rC":
        return registerName(c);
      case "imm":
        return number(imm);
      case "label": {
        const name = names?.code.get(imm >>> 0);
        if (name) comments.push(name);
        return String(imm >>> 0);
      }
      case "port":
        return PORT_NAMES.get(imm >>> 0) ?? number(imm >>> 0);
      case "vec":
        return VECTOR_NAMES.get(a) ?? String(a);
      case "mem": {
        if (w0 & ABSOLUTE_BIT) {
          const name = names?.data.get(imm >>> 0);
          if (name) comments.push(name);
          return `[0x${(imm >>> 0).toString(16)}]`;
        }
        if (imm === 0) return `[${registerName(b)}]`;
        const mag = imm < 0 ? -imm : imm; // -2^31 stays representable: the text is "-2147483648" either way.
        return `[${registerName(b)}${imm < 0 ? "-" : "+"}${mag > 0xffff ? "0x" + mag.toString(16) : String(mag)}]`;
      }
    }
  });
  const text = operands.length ? `${spec.name} ${operands.join(", ")}` : spec.name;
  // Bits the assembler would never set mean this pair is not what `text` assembles to.
  if (canonicalWord0(spec, w0) !== w0 || (!usesImmediate(spec) && imm !== 0)) return `${raw} ; non-canonical ${text}`;
  return comments.length ? `${text} ; ${comments.join(", ")}` : text;
}

/**
 * A listing of a whole image: each instruction as `  index: text`, labels on their own
 * lines, then the data section as `.byte` rows (broken at data labels) with their addresses.
 * For listings of any size use disassemblyLines, which never holds the whole text.
 */
export function disassemble(img: Image): string {
  let out = "";
  for (const line of disassemblyLines(img)) out += line + "\n";
  return out;
}

/**
 * The listing one line at a time. The largest valid image (IMAGE_BYTES_MAX: 256 MiB of
 * data is 16 Mi rows) gives gigabytes of text, more than one string can hold, so callers
 * that print it consume the lines as they come.
 */
export function* disassemblyLines(img: Image): Generator<string, void, undefined> {
  const names = symbolNames(img.symbols);
  const count = instructionCount(img);
  const width = String(Math.max(0, count - 1)).length;
  const byCode = labelsAt(img.symbols, "code");
  const entryName = names.code.get(img.entry);
  yield `; ${count} instructions, ${img.data.length} data bytes, entry ${img.entry}${entryName ? ` (${entryName})` : ""}`;
  yield ".code";
  for (let i = 0; i < count; i++) {
    for (const l of byCode.get(i) ?? []) yield `${l}:`;
    const text = disassembleInstruction(img.code[i * WORDS_PER_INSTRUCTION], img.code[i * WORDS_PER_INSTRUCTION + 1], names);
    yield `  ${String(i).padStart(width)}: ${text}`;
  }
  for (const l of byCode.get(count) ?? []) yield `${l}:`;
  if (img.data.length > 0 || labelsAt(img.symbols, "data").size > 0) yield* dataListing(img);
}

function labelsAt(symbols: readonly ImageSymbol[], section: "code" | "data"): Map<number, string[]> {
  const m = new Map<number, string[]>();
  for (const s of symbols) {
    if (s.section !== section) continue;
    const list = m.get(s.value);
    if (list) list.push(s.name);
    else m.set(s.value, [s.name]);
  }
  return m;
}

const DATA_ROW_BYTES = 16;
const HEX_BYTE = Array.from({ length: 256 }, (_, x) => "0x" + x.toString(16).padStart(2, "0"));
const ASCII_BYTE = Array.from({ length: 256 }, (_, x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : "."));

function* dataListing(img: Image): Generator<string, void, undefined> {
  yield ".data";
  const byData = labelsAt(img.symbols, "data");
  const width = Math.max(4, img.data.length.toString(16).length);
  let i = 0;
  while (i < img.data.length) {
    for (const l of byData.get(i) ?? []) yield `${l}:`;
    // A row ends after DATA_ROW_BYTES bytes or just before the next label.
    let end = Math.min(i + DATA_ROW_BYTES, img.data.length);
    for (let j = i + 1; j < end; j++) {
      if (byData.has(j)) {
        end = j;
        break;
      }
    }
    let bytes = HEX_BYTE[img.data[i]];
    let ascii = ASCII_BYTE[img.data[i]];
    for (let j = i + 1; j < end; j++) {
      bytes += ", " + HEX_BYTE[img.data[j]];
      ascii += ASCII_BYTE[img.data[j]];
    }
    yield `  0x${i.toString(16).padStart(width, "0")}: .byte ${bytes} ; ${ascii}`;
    i = end;
  }
  for (const l of byData.get(img.data.length) ?? []) yield `${l}:`;
}
