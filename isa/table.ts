// The ftvm instruction set: the ONE table every other part derives from.
//
// The assembler, the disassembler, the interpreter's dispatch, the compiled engine and the
// opcode table in isa/README.md are all generated from or checked against this file
// (test/isa.test.ts proves the README matches).
//
// Encoding: every instruction is two little-endian 32-bit words.
//   word 0: bits 0-7 opcode, bits 8-11 field A, bits 12-15 field B, bits 16-19 field C,
//           bit 20 "absolute" (a memory operand without a base register)
//   word 1: the 32-bit immediate (a constant, a data address, a code target or a port)
// Code addresses (pc, labels in .code, call targets) count instructions, not bytes.
// Data addresses count bytes in the separate data memory.

/** How an operand is written in assembly and where it lives in the encoding. */
export type OperandKind =
  | "rA" // a register in field A (usually the destination)
  | "rB" // a register in field B
  | "rC" // a register in field C
  | "imm" // a 32-bit constant expression in the immediate word
  | "mem" // [rB + imm], [rB - imm], [rB] or [imm] (absolute: bit 20 set)
  | "label" // a code address in the immediate word
  | "port" // a device port number in the immediate word
  | "vec"; // an interrupt vector number 0..15 in field A

export interface OpSpec {
  /** Upper-case mnemonic as written in assembly (case-insensitive there). */
  readonly name: string;
  /** The opcode byte. */
  readonly op: number;
  readonly operands: readonly OperandKind[];
  /** One-line semantics for the spec; A, B, C name the register fields, imm the immediate. */
  readonly sem: string;
  /** Ends a basic block (control may not fall through to the next instruction). */
  readonly ends?: boolean;
  /** May transfer control to the immediate (a branch or call target). */
  readonly target?: boolean;
  /**
   * A conditional branch: it ends a basic block, yet control falls through to the next
   * instruction when the condition fails (the compiled engine's control-flow graph needs this).
   */
  readonly conditional?: boolean;
  /** Reaches the environment or a device: the compiled engine leaves its fast path here. */
  readonly sys?: boolean;
}

const R3 = ["rA", "rB", "rC"] as const;
const RI = ["rA", "rB", "imm"] as const;
const BR = ["rA", "rB", "label"] as const;

export const OPS: readonly OpSpec[] = [
  { name: "NOP", op: 0x00, operands: [], sem: "do nothing" },
  { name: "HALT", op: 0x01, operands: [], sem: "stop the machine (exit status 0)", ends: true },
  { name: "MOV", op: 0x02, operands: ["rA", "rB"], sem: "A = B" },
  { name: "LI", op: 0x03, operands: ["rA", "imm"], sem: "A = imm" },

  { name: "ADD", op: 0x10, operands: R3, sem: "A = B + C (wraps at 32 bits)" },
  { name: "SUB", op: 0x11, operands: R3, sem: "A = B - C (wraps)" },
  { name: "MUL", op: 0x12, operands: R3, sem: "A = low 32 bits of B * C" },
  { name: "DIV", op: 0x13, operands: R3, sem: "A = B / C signed, rounded toward zero; C = 0 traps" },
  { name: "DIVU", op: 0x14, operands: R3, sem: "A = B / C unsigned; C = 0 traps" },
  { name: "REM", op: 0x15, operands: R3, sem: "A = B % C signed (sign of B); C = 0 traps" },
  { name: "REMU", op: 0x16, operands: R3, sem: "A = B % C unsigned; C = 0 traps" },
  { name: "AND", op: 0x17, operands: R3, sem: "A = B & C" },
  { name: "OR", op: 0x18, operands: R3, sem: "A = B | C" },
  { name: "XOR", op: 0x19, operands: R3, sem: "A = B ^ C" },
  { name: "SHL", op: 0x1a, operands: R3, sem: "A = B << (C & 31)" },
  { name: "SHR", op: 0x1b, operands: R3, sem: "A = B >>> (C & 31) (logical)" },
  { name: "SAR", op: 0x1c, operands: R3, sem: "A = B >> (C & 31) (arithmetic)" },
  { name: "SLT", op: 0x1d, operands: R3, sem: "A = 1 if B < C signed, else 0" },
  { name: "SLTU", op: 0x1e, operands: R3, sem: "A = 1 if B < C unsigned, else 0" },

  { name: "ADDI", op: 0x20, operands: RI, sem: "A = B + imm (wraps)" },
  { name: "MULI", op: 0x21, operands: RI, sem: "A = low 32 bits of B * imm" },
  { name: "ANDI", op: 0x22, operands: RI, sem: "A = B & imm" },
  { name: "ORI", op: 0x23, operands: RI, sem: "A = B | imm" },
  { name: "XORI", op: 0x24, operands: RI, sem: "A = B ^ imm" },
  { name: "SHLI", op: 0x25, operands: RI, sem: "A = B << (imm & 31)" },
  { name: "SHRI", op: 0x26, operands: RI, sem: "A = B >>> (imm & 31) (logical)" },
  { name: "SARI", op: 0x27, operands: RI, sem: "A = B >> (imm & 31) (arithmetic)" },
  { name: "SLTI", op: 0x28, operands: RI, sem: "A = 1 if B < imm signed, else 0" },
  { name: "SLTIU", op: 0x29, operands: RI, sem: "A = 1 if B < imm unsigned, else 0" },

  { name: "LDW", op: 0x30, operands: ["rA", "mem"], sem: "A = 32-bit word at address; address must be a multiple of 4" },
  { name: "LDB", op: 0x31, operands: ["rA", "mem"], sem: "A = byte at address, zero-extended" },
  { name: "STW", op: 0x32, operands: ["rA", "mem"], sem: "32-bit word at address = A; address must be a multiple of 4" },
  { name: "STB", op: 0x33, operands: ["rA", "mem"], sem: "byte at address = low 8 bits of A" },

  { name: "JMP", op: 0x40, operands: ["label"], sem: "pc = imm", ends: true, target: true },
  { name: "JR", op: 0x41, operands: ["rA"], sem: "pc = A (a code address held in a register)", ends: true },
  { name: "BEQ", op: 0x42, operands: BR, sem: "if A == B then pc = imm", ends: true, target: true, conditional: true },
  { name: "BNE", op: 0x43, operands: BR, sem: "if A != B then pc = imm", ends: true, target: true, conditional: true },
  { name: "BLT", op: 0x44, operands: BR, sem: "if A < B signed then pc = imm", ends: true, target: true, conditional: true },
  { name: "BGE", op: 0x45, operands: BR, sem: "if A >= B signed then pc = imm", ends: true, target: true, conditional: true },
  { name: "BLTU", op: 0x46, operands: BR, sem: "if A < B unsigned then pc = imm", ends: true, target: true, conditional: true },
  { name: "BGEU", op: 0x47, operands: BR, sem: "if A >= B unsigned then pc = imm", ends: true, target: true, conditional: true },
  { name: "BEQZ", op: 0x48, operands: ["rA", "label"], sem: "if A == 0 then pc = imm", ends: true, target: true, conditional: true },
  { name: "BNEZ", op: 0x49, operands: ["rA", "label"], sem: "if A != 0 then pc = imm", ends: true, target: true, conditional: true },

  { name: "CALL", op: 0x50, operands: ["label"], sem: "push pc + 1; pc = imm", ends: true, target: true },
  { name: "CALLR", op: 0x51, operands: ["rA"], sem: "push pc + 1; pc = A", ends: true },
  { name: "RET", op: 0x52, operands: [], sem: "pc = pop", ends: true },
  { name: "PUSH", op: 0x53, operands: ["rA"], sem: "sp = sp - 4; word at sp = A (below the stack region traps)" },
  { name: "POP", op: 0x54, operands: ["rA"], sem: "A = word at sp; sp = sp + 4 (above the stack region traps)" },

  { name: "EI", op: 0x60, operands: [], sem: "enable interrupts", sys: true },
  { name: "DI", op: 0x61, operands: [], sem: "disable interrupts" },
  { name: "IRET", op: 0x62, operands: [], sem: "pc = pop; enable interrupts", ends: true, sys: true },
  { name: "WFI", op: 0x63, operands: [], sem: "wait for an interrupt (idles the host); traps if interrupts are disabled", ends: true, sys: true },
  { name: "SETVEC", op: 0x64, operands: ["vec", "label"], sem: "interrupt vector A = code address imm" },
  { name: "IN", op: 0x65, operands: ["rA", "port"], sem: "A = read device port imm", sys: true },
  { name: "OUT", op: 0x66, operands: ["port", "rA"], sem: "write A to device port imm", sys: true },
  { name: "TIME", op: 0x67, operands: ["rA"], sem: "A = virtual clock in microseconds since boot, low 32 bits (logged input)", sys: true },
  { name: "RAND", op: 0x68, operands: ["rA"], sem: "A = 32 random bits (logged input)", sys: true },
  { name: "HOSTID", op: 0x69, operands: ["rA"], sem: "A = identity of the host running the guest (logged input)", sys: true },
  { name: "ICOUNT", op: 0x6a, operands: ["rA"], sem: "A = instructions retired before this one, low 32 bits (deterministic)" },
];

/** The stack pointer register: PUSH, POP, CALL, RET and interrupts use it. */
export const SP = 15;
export const REGISTER_COUNT = 16;
export const VECTOR_COUNT = 16;
/** Bit 20 of word 0: the memory operand has no base register. */
export const ABSOLUTE_BIT = 1 << 20;
export const WORDS_PER_INSTRUCTION = 2;

/** Opcode byte → spec, undefined where no instruction is assigned (executing it traps). */
export const BY_OP: readonly (OpSpec | undefined)[] = (() => {
  const t: (OpSpec | undefined)[] = new Array(256).fill(undefined);
  for (const s of OPS) {
    if (t[s.op]) throw new Error(`isa: opcode 0x${s.op.toString(16)} assigned twice`);
    t[s.op] = s;
  }
  return t;
})();

export const BY_NAME: ReadonlyMap<string, OpSpec> = new Map(OPS.map((s) => [s.name, s]));

/** Numeric opcode constants by mnemonic, for the interpreter's switch: OP.ADD === 0x10. */
export const OP: Readonly<Record<string, number>> = Object.fromEntries(OPS.map((s) => [s.name, s.op]));

/** The opcode table as the spec shows it; isa/README.md holds exactly this text. */
export function opcodeTableMarkdown(): string {
  const lines = ["| opcode | mnemonic | operands | semantics |", "| --- | --- | --- | --- |"];
  for (const s of OPS) {
    const ops = s.operands.map(operandSyntax).join(", ");
    lines.push(`| 0x${s.op.toString(16).padStart(2, "0")} | ${s.name} | ${ops} | ${s.sem} |`);
  }
  return lines.join("\n");
}

function operandSyntax(k: OperandKind): string {
  switch (k) {
    case "rA": return "A";
    case "rB": return "B";
    case "rC": return "C";
    case "imm": return "imm";
    case "mem": return "[B+imm]";
    case "label": return "label";
    case "port": return "port";
    case "vec": return "vector";
  }
}
