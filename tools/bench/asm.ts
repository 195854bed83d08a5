// Assembler speed: `npx tsx tools/bench/asm.ts`. A 5,000-line generated file, best of 5,
// next to the time Node takes to parse the same text as JSON lines (a peer measured in the
// same run, so the ratio survives a busy machine). Moved here from a wall-clock test.
import { assemble } from "../../src/asm/assembler.js";
import { benchHelp } from "./help.js";

benchHelp(import.meta.url, { takesArgs: false });

const lines = [".data", "buf: .zero 64", ".code", "main:"];
let i = 0;
for (; lines.length < 5000; i++) lines.push(`l${i}: ADDI r1, r2, ${i} * 4 + buf ; comment`, `  LDW r3, [sp + ${i % 16}]`, `  BNE r1, r3, l${i + 1}`);
lines.push(`l${i}: HALT`);
const src = lines.join("\n");
const peerSrc = JSON.stringify(lines);

function best(f: () => void, reps = 5): number {
  let b = Infinity;
  for (let k = 0; k < reps; k++) {
    const t0 = performance.now();
    f();
    b = Math.min(b, performance.now() - t0);
  }
  return b;
}

assemble(src, "bench.s"); // warm up
const asmMs = best(() => assemble(src, "bench.s"));
const peerMs = best(() => JSON.parse(peerSrc));
process.stdout.write(`assembler: ${lines.length} lines in ${asmMs.toFixed(1)} ms (best of 5); JSON.parse of the same lines ${peerMs.toFixed(2)} ms; ratio ${(asmMs / peerMs).toFixed(0)}x\n`);
