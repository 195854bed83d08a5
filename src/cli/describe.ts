// Human-readable descriptions of guest state for messages: the instruction at a pc with
// its source line, and traps.
import { disassembleInstruction } from "../asm/disasm.js";
import type { Image } from "../vm/image.js";
import { instructionCount } from "../vm/image.js";
import type { Trap } from "../vm/trap.js";
import { formatTrap } from "../vm/trap.js";

export function instructionAt(image: Image, pc: number): string {
  if (pc < 0 || pc >= instructionCount(image)) return `(pc ${pc} is outside the code)`;
  const text = disassembleInstruction(image.code[pc * 2], image.code[pc * 2 + 1], image.symbols);
  const where = image.lines[pc];
  return where ? `${text}  [${where}]` : text;
}

export function describeTrap(image: Image, t: Trap): string {
  return formatTrap(t, instructionAt(image, t.pc));
}
