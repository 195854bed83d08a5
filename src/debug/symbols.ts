// The program's debug information as the debugger uses it: symbol values by name, the
// label (plus offset) of a code address, source lines, and locations a user can name
// (a label, file:line, or a code address).
import { disassembleInstruction } from "../asm/disasm.js";
import type { Image } from "../vm/image.js";
import { instructionCount } from "../vm/image.js";

export class Symbols {
  readonly codeCount: number;
  private readonly byName = new Map<string, number>();
  /** Code labels sorted by address, for pc → label+offset. */
  private readonly codeLabels: { name: string; value: number }[];

  constructor(readonly image: Image) {
    this.codeCount = instructionCount(image);
    for (const s of image.symbols) if (!this.byName.has(s.name)) this.byName.set(s.name, s.value);
    this.codeLabels = image.symbols
      .filter((s) => s.section === "code")
      .map((s) => ({ name: s.name, value: s.value }))
      .sort((a, b) => a.value - b.value);
  }

  /** A symbol's value (a label's address or a constant), undefined when the program has none by that name. */
  lookup(name: string): number | undefined {
    return this.byName.get(name);
  }

  /** The address of a code label, undefined when there is no code label by that name. */
  codeLabel(name: string): number | undefined {
    const s = this.image.symbols.find((x) => x.name === name && x.section === "code");
    return s?.value;
  }

  /** Every symbol name, for completion. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** "label" or "label+3" for a code address; undefined before the first label. */
  labelOf(pc: number): string | undefined {
    const ls = this.codeLabels;
    let lo = 0;
    let hi = ls.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ls[mid].value <= pc) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) return undefined;
    // Several labels may share an address: take the first one defined there.
    let k = lo - 1;
    while (k > 0 && ls[k - 1].value === ls[k].value) k--;
    const l = ls[k];
    return pc === l.value ? l.name : `${l.name}+${pc - l.value}`;
  }

  /** "file:line" of the instruction at pc, when the image knows it. */
  lineOf(pc: number): string | undefined {
    return this.image.lines[pc] || undefined;
  }

  /** The instruction at pc as assembly text. */
  instruction(pc: number): string {
    if (pc < 0 || pc >= this.codeCount) return `(pc ${pc} is outside the code)`;
    return disassembleInstruction(this.image.code[pc * 2], this.image.code[pc * 2 + 1], this.image.symbols);
  }

  /**
   * The code addresses `file:line` names: the first instruction of each run of
   * instructions from that line. `file` matches the end of the recorded path at a
   * directory boundary ("count.s" matches "programs/count.s").
   */
  pcsOfLine(file: string, line: number): number[] {
    const out: number[] = [];
    const lines = this.image.lines;
    for (let pc = 0; pc < this.codeCount; pc++) {
      const ref = lines[pc];
      if (!ref || (pc > 0 && lines[pc - 1] === ref)) continue;
      const colon = ref.lastIndexOf(":");
      if (Number(ref.slice(colon + 1)) !== line) continue;
      const f = ref.slice(0, colon);
      if (f === file || f.endsWith("/" + file) || file.endsWith("/" + f)) out.push(pc);
    }
    return out;
  }

  /** Source files the image mentions, for messages. */
  files(): string[] {
    const s = new Set<string>();
    for (const ref of this.image.lines) if (ref) s.add(ref.slice(0, ref.lastIndexOf(":")));
    return [...s];
  }
}
