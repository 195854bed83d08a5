// What the backup's per-event state check costs (issue 13 point 4; src/ft/state-check.ts):
// `npx tsx tools/bench/state-digest.ts [program.s]`. Runs a guest live in this process,
// as the primary does, three ways, interleaved over several rounds: no digest; the digest
// FT takes at every event (registers, pc, icount, flags, vectors); and that digest with
// all memory (incremental page hashes) at every event, the design that was measured and
// rejected. The default guest reads TIME every 107 instructions and stores to memory
// between reads, the worst case for a per-event cost. Prints µs per event (the event's
// own cost included: its 107 instructions and the logging).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { assemble } from "../../src/asm/assembler.js";
import { Bus } from "../../src/devices/bus.js";
import { LiveEnv } from "../../src/replay/live.js";
import { fakeWorld } from "../../src/replay/world.js";
import { compiledEngine } from "../../src/vm/compile.js";
import { stateWord } from "../../src/vm/digest.js";
import { Machine } from "../../src/vm/machine.js";
import { benchHelp } from "./help.js";

benchHelp(import.meta.url, { takesArgs: true });

const ROUNDS = Number(process.env.FTVM_BENCH_REPS ?? 7);
// programs/timesum.s, reading TIME 100,000 times instead of 400.
const GUEST = readFileSync(fileURLToPath(new URL("../../programs/timesum.s", import.meta.url)), "utf8").replace(/^\.const LOOPS 400$/m, ".const LOOPS 100000");
if (!GUEST.includes(".const LOOPS 100000")) throw new Error("programs/timesum.s no longer says .const LOOPS 400: update the benchmark");

type Mode = "none" | "registers" | "memory";

function run(src: string, name: string, mode: Mode): { events: number; usPerEvent: number } {
  const m = new Machine(assemble(src, name), {});
  m.engine = compiledEngine();
  const bus = new Bus(m, undefined as never);
  let events = 0;
  let sink = 0;
  bus.env = new LiveEnv(bus, fakeWorld(1, 1, 3), () => {
    events++;
    if (mode !== "none") sink ^= stateWord(m, mode === "memory");
  });
  const t = performance.now();
  while (m.run(m.icount + 200_000) === "continue");
  const ms = performance.now() - t;
  if (sink === 0.5) console.log("unreachable"); // keeps the digests from being optimized away
  return { events, usPerEvent: (ms * 1000) / Math.max(1, events) };
}

function main(): void {
  const path = process.argv[2];
  const src = path ? readFileSync(path, "utf8") : GUEST;
  const name = path ?? fileURLToPath(import.meta.url) + " (built-in guest)";
  const modes: Mode[] = ["none", "registers", "memory"];
  const per: Record<Mode, number[]> = { none: [], registers: [], memory: [] };
  let events = 0;
  for (let i = 0; i < ROUNDS; i++)
    for (const mode of modes) {
      const r = run(src, name, mode);
      per[mode].push(r.usPerEvent);
      events = r.events;
    }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`state digest per event: ${name}, ${events} events, median of ${ROUNDS} interleaved rounds (µs per event, the event's own work included)`);
  console.log(`  no digest                                   ${med(per.none).toFixed(3)}`);
  console.log(`  registers at every event (what FT does)     ${med(per.registers).toFixed(3)}`);
  console.log(`  registers and all memory at every event     ${med(per.memory).toFixed(3)}   (rejected)`);
}

main();
