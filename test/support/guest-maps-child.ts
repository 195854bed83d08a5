// Run by test/guest-maps.test.ts in a process of its own with --allow-natives-syntax. A
// function optimized with a typed array as a closure constant (as the compiled guest's
// regions hold the machine's arrays) depends on that array's map staying stable; a
// transition of a plain Uint8Array (as Node's crypto makes) then throws its code away
// when the array is a plain one. Prints, as JSON, whether each probe is still optimized.
import { assemble } from "../../src/asm/assembler.js";
import { Machine } from "../../src/vm/machine.js";

// Natives syntax is not TypeScript: V8 parses these function bodies itself.
const natives = new Function(
  "a",
  `const probe = new Function("a", "return function probe(i) { a[i & 3] = i; return a[(i + 1) & 3]; }")(a);
   %PrepareFunctionForOptimization(probe);
   for (let i = 0; i < 10; i++) probe(i);
   %OptimizeFunctionOnNextCall(probe);
   probe(1);
   return () => (%GetOptimizationStatus(probe) & 16) !== 0;`,
) as (a: Uint8Array | Int32Array) => () => boolean;

const m = new Machine(assemble("HALT\n", "t.s"));
const arrays = { plain: new Uint8Array(8), mem: m.mem, dirty: m.dirty, mem32: m.mem32, regs: m.regs };
const optimized = Object.fromEntries(Object.entries(arrays).map(([k, a]) => [k, natives(a)]));
const before = Object.fromEntries(Object.entries(optimized).map(([k, f]) => [k, f()]));
const t = new Uint8Array(1) as Uint8Array & { transition?: number };
t.transition = 1;
const t32 = new Int32Array(1) as Int32Array & { transition?: number };
t32.transition = 1;
const after = Object.fromEntries(Object.entries(optimized).map(([k, f]) => [k, f()]));
process.stdout.write(JSON.stringify({ before, after }) + "\n");
