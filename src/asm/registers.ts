// Register names: r0..r15 (any case) and sp, an alias for the stack pointer r15.
import { REGISTER_COUNT, SP } from "../../isa/table.js";

/** Anything shaped like a register name; such names are reserved, so `r16` is an error, never a label. */
const REGISTER_LIKE = /^(?:r\d+|sp)$/i;

/**
 * The register a name denotes: its number, "bad" for a register-shaped name outside
 * r0..r15 (so the caller can say "unknown register"), or undefined for an ordinary name.
 */
export function registerOf(name: string): number | "bad" | undefined {
  if (!REGISTER_LIKE.test(name)) return undefined;
  if (name.length === 2 && (name === "sp" || name.toLowerCase() === "sp")) return SP;
  const n = Number(name.slice(1));
  // "r01" is rejected so every register has exactly one spelling besides sp.
  return n < REGISTER_COUNT && String(n) === name.slice(1) ? n : "bad";
}

export const REGISTER_EXPECTED = `r0..r${REGISTER_COUNT - 1} or sp`;

/** The canonical spelling the disassembler prints: sp for the stack pointer, rN otherwise. */
export function registerName(n: number): string {
  return n === SP ? "sp" : `r${n}`;
}
