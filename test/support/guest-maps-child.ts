// Run by test/guest-maps.test.ts in a process of its own with --allow-natives-syntax: prints
// V8's view (%DebugPrint) of a machine's arrays after a plain Uint8Array's map has been
// transitioned (as Node's crypto does), and of a plain Uint8Array for comparison.
import { assemble } from "../../src/asm/assembler.js";
import { Machine } from "../../src/vm/machine.js";

// Natives syntax is not TypeScript: V8 parses this function body itself.
const debugPrint = new Function("x", "%DebugPrint(x)") as (x: unknown) => void;
const m = new Machine(assemble("HALT\n", "t.s"));
const plain = new Uint8Array(1) as Uint8Array & { transition?: number };
plain.transition = 1;
for (const [name, a] of [["plain", new Uint8Array(1)], ["mem", m.mem], ["mem32", m.mem32], ["dirty", m.dirty], ["regs", m.regs]] as const) {
  // The marker goes through the same stream as %DebugPrint's output (C's stdout, not Node's).
  debugPrint(`ARRAY ${name}`);
  debugPrint(a);
}
