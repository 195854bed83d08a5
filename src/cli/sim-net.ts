// `ftvm sim --net`: the network seeds (src/sim/netsim.ts): redis.s on an FT pair behind
// the virtual switch, simulated clients doing SET/GET/INCR through crashes, an isolated
// primary, splits, partitions and resets. Printing only; src/cli/sim.ts parses the flags.
import { performance } from "node:perf_hooks";
import { EXIT_FAIL, EXIT_OK, UsageError } from "./args.js";
import type { NetMutation, NetSimResult } from "../sim/netsim.js";
import { NET_MUTATIONS, simulateNet } from "../sim/netsim.js";

export function netMutation(m: string | undefined): NetMutation | undefined {
  if (m !== undefined && !(NET_MUTATIONS as readonly string[]).includes(m)) throw new UsageError(`--mutation with --net takes one of ${NET_MUTATIONS.join(", ")}, got "${m}"`);
  return m as NetMutation | undefined;
}

/** One network seed, with its trace when verbose. */
export function runNetSeed(seed: number, mutation: NetMutation | undefined, verbose: boolean): number {
  const r = simulateNet(seed, { mutation, verbose });
  if (verbose) process.stdout.write(r.trace.join("\n") + "\n\n");
  process.stdout.write(`seed ${r.seed} (network): ${r.plan}\n`);
  process.stdout.write(`stats: ${JSON.stringify(r.stats)}\n`);
  process.stdout.write(`fingerprint: ${r.fingerprint}\n`);
  for (const f of r.failures) process.stdout.write(`FAIL ${f}\n`);
  process.stdout.write(`sim: 1 network seeds ran, ${r.ok ? 0 : 1} failed\n`);
  if (!r.ok) process.stdout.write(`replay: ${r.replay}\n`);
  return r.ok ? EXIT_OK : EXIT_FAIL;
}

/** Network seeds start .. start+count-1: a line per failing seed with its replay command, then the totals. */
export function runNetSeeds(start: number, count: number, mutation: NetMutation | undefined, verbose: boolean): number {
  const t0 = performance.now();
  const failed: NetSimResult[] = [];
  const total = { ops: 0, replies: 0, clones: 0, clonesPaired: 0, failovers: 0, aloneWins: 0, crashes: 0, halts: 0, switchResets: 0, clientResets: 0, redeliveredBytes: 0, duplicateBytes: 0, staleOutputs: 0, staleRefused: 0 };
  for (let s = start; s < start + count; s++) {
    const r = simulateNet(s, { mutation });
    for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += r.stats[k];
    if (verbose) process.stdout.write(`seed ${s}: ${r.ok ? "ok" : "FAIL"} ${JSON.stringify(r.stats)}\n`);
    if (!r.ok) {
      failed.push(r);
      process.stdout.write(`seed ${s}: ${r.failures[0]}${r.failures.length > 1 ? ` (and ${r.failures.length - 1} more)` : ""}\n  replay: ${r.replay}\n`);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  process.stderr.write(
    `sim --net: ${secs.toFixed(1)} s; ${total.ops} client operations, ${total.replies} answered; ${total.clones} backups joined a host running alone (${total.clonesPaired} of them paired: their primary won the pair's epoch); ${total.failovers} backups went live, ${total.aloneWins} primaries went on alone, ` +
      `${total.crashes} host crashes, ${total.halts} hosts halted; ${total.switchResets} switch-channel resets, ${total.clientResets} client connection resets; ` +
      `the switch re-delivered ${total.redeliveredBytes} input bytes, dropped ${total.duplicateBytes} duplicate output bytes, and refused ${total.staleRefused} stale messages (${total.staleOutputs} outputs of an older epoch reached it)\n`,
  );
  process.stdout.write(`sim: ${count} network seeds ran, ${failed.length} failed\n`);
  return failed.length ? EXIT_FAIL : EXIT_OK;
}
