// Messages per second of a compute-bound FT pair, counted by kind, in-memory: the pure FT
// nodes (src/ft/node.ts) of a primary and its backup run a guest that only computes
// (no input, no output) for one simulated second, a slice every 0.5 ms, messages
// delivered at once. On a compute-bound primary nearly all the protocol's CPU is per
// message (docs/compute.md), so the count says what the log's cadence costs, with no
// noise from a busy machine.
//
//   npx tsx tools/bench/log-messages.ts
import { assemble } from "../../src/asm/assembler.js";
import type { Action, Msg } from "../../src/ft/node.js";
import { FtNode } from "../../src/ft/node.js";
import { fakeWorld } from "../../src/replay/world.js";
import { benchHelp } from "./help.js";

benchHelp(import.meta.url, { takesArgs: false });

/** Simulated run time (ms) and slice spacing (ms). */
const RUN_MS = 1000;
const STEP_MS = 0.5;
const SPIN = "\n.code\nmain:\n    LI r1, 0\nspin:\n    ADDI r1, r1, 1\n    JMP spin\n";

const p = new FtNode({ id: "P", heartbeatMs: 25, timeoutMs: 10_000, world: fakeWorld(3, 3, 20), sliceIcount: 2000 });
const b = new FtNode({ id: "B", heartbeatMs: 25, timeoutMs: 10_000, world: fakeWorld(4, 4, 20), sliceIcount: 2000 });
const count = new Map<string, number>();
const toB: Msg[] = [];
const toP: Msg[] = [];
const send = (acts: Action[], to: Msg[], dir: string): void => {
  for (const a of acts) {
    if (a.kind !== "send") continue;
    to.push(a.msg);
    const k = `${dir} ${a.msg.t}`;
    count.set(k, (count.get(k) ?? 0) + 1);
  }
};
send(p.startPrimary({ program: "spin", image: assemble(SPIN, "spin.s"), epoch: 1, withBackup: true }, 0), toB, "primary->backup");
b.startBackup(toB.shift()!, 0);
count.delete("primary->backup start");
for (let now = 0; now < RUN_MS; now += STEP_MS) {
  send(p.run(now).actions, toB, "primary->backup");
  send(p.tick(now), toB, "primary->backup");
  while (toB.length) send(b.onPeerMessage(toB.shift()!, now), toP, "backup->primary");
  send(b.run(now).actions, toP, "backup->primary");
  send(b.tick(now), toP, "backup->primary");
  while (toP.length) send(p.onPeerMessage(toP.shift()!, now), toB, "primary->backup");
}
let total = 0;
for (const [k, n] of [...count].sort()) {
  process.stdout.write(`${k.padEnd(24)} ${String(n).padStart(5)} per second\n`);
  total += n;
}
process.stdout.write(`${"all messages".padEnd(24)} ${String(total).padStart(5)} per second (${RUN_MS} ms simulated, compute-bound guest)\n`);
