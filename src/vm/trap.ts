// Guest traps: deterministic faults that stop the guest. A trapping instruction does not
// retire: icount is not advanced and pc still points at it, so primary and backup stop in
// exactly the same state.

export type TrapKind =
  | "invalid-opcode"
  | "memory-out-of-bounds"
  | "misaligned-access"
  | "division-by-zero"
  | "stack-overflow"
  | "stack-underflow"
  | "pc-out-of-code"
  | "bad-port"
  | "unhandled-interrupt"
  | "wfi-with-interrupts-disabled";

export const TRAP_KINDS: readonly TrapKind[] = [
  "invalid-opcode",
  "memory-out-of-bounds",
  "misaligned-access",
  "division-by-zero",
  "stack-overflow",
  "stack-underflow",
  "pc-out-of-code",
  "bad-port",
  "unhandled-interrupt",
  "wfi-with-interrupts-disabled",
];

export interface Trap {
  kind: TrapKind;
  /** Code address of the instruction that trapped. */
  pc: number;
  /** Instructions retired before the trap. */
  icount: number;
  /** What exactly went wrong, e.g. "address 0x100000 + 4 > memory size 0x100000". */
  detail: string;
}

export function formatTrap(t: Trap, disassembled?: string): string {
  const at = disassembled ? `: ${disassembled}` : "";
  return `trap ${t.kind} at pc ${t.pc} (icount ${t.icount})${at}: ${t.detail}`;
}
