// `ftvm sim`: the seeded deterministic simulator of the FT protocol (src/sim). Runs many
// seeds (or one, with its event trace), prints how many ran and failed, and for each
// failing seed its first failure and the one-line command that replays it exactly.
import { performance } from "node:perf_hooks";
import type { Command } from "./args.js";
import { EXIT_FAIL, EXIT_OK, UsageError, intOption, parse } from "./args.js";
import type { Mutation, SimResult } from "../sim/sim.js";
import { MUTATIONS, simulate } from "../sim/sim.js";
import type { DiskModeChoice } from "../sim/plan.js";
import { DISK_MODES } from "../sim/plan.js";
import { NET_USAGE, netMutation, runNetSeed, runNetSeeds } from "./sim-net.js";

export const simCommand: Command = {
  name: "sim",
  summary: "the seeded FT simulator: ftvm sim --seeds N | --seed S",
  usage: `usage: ftvm sim --seeds N [--start S] [--verbose] [--disk | --no-disk | --disk-mode M | --net]
       ftvm sim --seed S [--verbose] [--disk | --no-disk | --disk-mode M | --net]

Runs the FT protocol (primary, backup, arbiter, console sink: the unchanged src/ft state
machines) inside one process on a simulated clock and network, with faults drawn from
the seed: message delay, loss, duplication, reordering, partitions of each link,
sink connection resets, arbiter outages and restarts (with its state, or without it: the
arbiter loses its memory and founds a new cluster, and a stranger may start against it),
and crashes of either host at any step. Each
run checks: at most one host releases output per epoch; output leaves only once the
backup holds the log; the sink's stream is one execution's output (no gap, duplicate or
reordering); the backup's trace equals the primary's; acknowledged output is never lost;
the guest finishes when a member of the current epoch survives; output of another
cluster never gets past the sink, and no epoch of a cluster is granted twice.

About 30% of seeds run a disk guest on a shared disk (a simulated disk server with
epoch fencing, completions in any order, primaries crashing with requests in flight);
they also check that the disk's image equals a failure-free run's, that no stale or
out-of-order write reached it, and that the guest saw every request complete once.
Half of the disk runs use non-shared disks instead (each host its own in-memory image,
half of them with --backup-reads): new backups get the image by clone, backups see
transient and persistent errors of their own disk; they check the finishing host's image
and the image of every backup that went live against the failure-free run.

  --seeds N      run seeds S .. S+N-1 (S from --start, default 1)
  --start S      the first seed (default 1)
  --seed S       run one seed and print its plan, statistics and failures
  --verbose      with --seed: print the run's event trace; with --seeds: one line per seed
  --disk         every seed runs the disk guest (--no-disk: none does)
  --disk-mode M  every seed runs the disk guest with disks of this mode:
                 ${DISK_MODES.join(", ")} (non-shared with --backup-reads)
  --mutation M   run a deliberately broken variant, to see the checks fire:
                 ${MUTATIONS.join(", ")}
${NET_USAGE}

Prints "sim: N seeds ran, F failed"; exit status 1 if any failed, else 0. A failing
seed replays exactly: ftvm sim --seed S.`,
  run(argv) {
    const p = parse(
      argv,
      { seeds: { type: "string" }, start: { type: "string" }, seed: { type: "string" }, verbose: { type: "boolean", short: "v" }, mutation: { type: "string" }, disk: { type: "boolean" }, "no-disk": { type: "boolean" }, "disk-mode": { type: "string" }, net: { type: "boolean" } },
      this.usage,
    );
    if (p.values.help) {
      process.stdout.write(this.usage + "\n");
      return EXIT_OK;
    }
    if (p.positionals.length > 0) throw new UsageError(`unexpected argument "${p.positionals[0]}"\n\n${this.usage}`);
    const mutation = p.values.mutation as string | undefined;
    if (p.values.net) {
      if (p.values.disk || p.values["no-disk"] || p.values["disk-mode"] !== undefined) throw new UsageError("--net runs the network guest: give it without --disk, --no-disk or --disk-mode");
      const netOne = intOption(p.values.seed as string | undefined, "seed");
      const netCount = intOption(p.values.seeds as string | undefined, "seeds");
      if ((netOne === undefined) === (netCount === undefined)) throw new UsageError(`give either --seeds N or --seed S\n\n${this.usage}`);
      if (netOne !== undefined) return runNetSeed(netOne, netMutation(mutation), p.values.verbose === true);
      return runNetSeeds(intOption(p.values.start as string | undefined, "start") ?? 1, netCount!, netMutation(mutation), p.values.verbose === true);
    }
    if (mutation !== undefined && !(MUTATIONS as readonly string[]).includes(mutation))
      throw new UsageError(`--mutation takes one of ${MUTATIONS.join(", ")}, got "${mutation}"`);
    const verbose = p.values.verbose === true;
    const one = intOption(p.values.seed as string | undefined, "seed");
    const count = intOption(p.values.seeds as string | undefined, "seeds");
    if ((one === undefined) === (count === undefined)) throw new UsageError(`give either --seeds N or --seed S\n\n${this.usage}`);
    if (one !== undefined && p.values.start !== undefined) throw new UsageError("--start goes with --seeds, not --seed");
    if (p.values.disk && p.values["no-disk"]) throw new UsageError("give --disk or --no-disk, not both");
    const disk = p.values.disk ? true : p.values["no-disk"] ? false : undefined;
    const diskMode = p.values["disk-mode"] as string | undefined;
    if (diskMode !== undefined && !(DISK_MODES as readonly string[]).includes(diskMode)) throw new UsageError(`--disk-mode takes one of ${DISK_MODES.join(", ")}, got "${diskMode}"`);
    if (diskMode !== undefined && disk !== undefined) throw new UsageError("give --disk-mode without --disk or --no-disk");
    const plan = { ...(disk !== undefined ? { disk } : {}), ...(diskMode !== undefined ? { diskMode: diskMode as DiskModeChoice } : {}) };
    const opts = { verbose: one !== undefined && verbose, mutation: mutation as Mutation | undefined, ...(Object.keys(plan).length ? { plan } : {}) };

    if (one !== undefined) {
      const r = simulate(one, opts);
      if (verbose) process.stdout.write(r.trace.join("\n") + "\n\n");
      process.stdout.write(`seed ${r.seed}: ${r.plan}\n`);
      process.stdout.write(`stats: ${JSON.stringify(r.stats)}\n`);
      process.stdout.write(`fingerprint: ${r.fingerprint}\n`);
      for (const f of r.failures) process.stdout.write(`FAIL ${f}\n`);
      process.stdout.write(`sim: 1 seeds ran, ${r.ok ? 0 : 1} failed\n`);
      if (!r.ok) process.stdout.write(`replay: ${r.replay}\n`);
      return r.ok ? EXIT_OK : EXIT_FAIL;
    }

    const start = intOption(p.values.start as string | undefined, "start") ?? 1;
    const t0 = performance.now();
    const failed: SimResult[] = [];
    const total = { failovers: 0, aloneWins: 0, crashes: 0, elections: 0, tracePoints: 0, finished: 0, respawns: 0, clonesStarted: 0, clonesCompleted: 0, clonesFailed: 0, diskRuns: 0, diskFinished: 0, crashesMidIo: 0, diskRefused: 0, diskReissued: 0, nonShared: 0, nonSharedFinished: 0, liveImages: 0, localErrors: 0, localHalts: 0, cloneDiskChunks: 0, restartSeeds: 0, amnesiaSeeds: 0, amnesiaFinished: 0, strangers: 0, foreignRefused: 0, wrongClusterHalts: 0 };
    for (let s = start; s < start + count!; s++) {
      const r = simulate(s, opts);
      total.failovers += r.stats.failovers;
      total.aloneWins += r.stats.aloneWins;
      total.crashes += r.stats.crashes;
      total.elections += r.stats.elections;
      total.tracePoints += r.stats.tracePoints;
      total.finished += r.stats.finished ? 1 : 0;
      total.respawns += r.stats.respawns;
      total.clonesStarted += r.stats.clonesStarted;
      total.clonesCompleted += r.stats.clonesCompleted;
      total.clonesFailed += r.stats.clonesFailed;
      if (r.stats.arbiterRestarts > 0) total.restartSeeds++;
      if (r.stats.amnesias > 0) {
        total.amnesiaSeeds++;
        if (r.stats.finished) total.amnesiaFinished++;
      }
      total.strangers += r.stats.strangers;
      total.foreignRefused += r.stats.foreignRefused;
      total.wrongClusterHalts += r.stats.wrongClusterHalts;
      if (r.stats.disk) {
        total.diskRuns++;
        if (r.stats.finished) total.diskFinished++;
        total.crashesMidIo += r.stats.crashesMidIo;
        total.diskRefused += r.stats.diskRefused;
        total.diskReissued += r.stats.diskReissued;
        if (r.stats.diskMode === "non-shared" || r.stats.diskMode === "backup-reads") {
          total.nonShared++;
          if (r.stats.finished) total.nonSharedFinished++;
          total.liveImages += r.stats.liveImageChecks;
          total.localErrors += r.stats.localErrors;
          total.localHalts += r.stats.localHalts;
          total.cloneDiskChunks += r.stats.cloneDiskChunks;
        }
      }
      if (verbose) process.stdout.write(`seed ${s}: ${r.ok ? "ok" : "FAIL"} ${JSON.stringify(r.stats)}\n`);
      if (!r.ok) {
        failed.push(r);
        process.stdout.write(`seed ${s}: ${r.failures[0]}${r.failures.length > 1 ? ` (and ${r.failures.length - 1} more)` : ""}\n  replay: ${r.replay}\n`);
      }
    }
    const secs = (performance.now() - t0) / 1000;
    process.stderr.write(
      `sim: ${secs.toFixed(1)} s; ${total.finished} runs finished the guest, ${total.failovers} backups went live, ${total.aloneWins} primaries went on alone, ` +
        `${total.crashes} host crashes, ${total.elections} arbiter requests, ${total.tracePoints} backup states compared with the primary's; ` +
        `${total.respawns} backups respawned, ${total.clonesStarted} clones sent (${total.clonesCompleted} completed, ${total.clonesFailed} failed); ` +
        `${total.diskRuns} disk runs (${total.diskFinished} finished, their image checked): ${total.crashesMidIo} crashes with disk requests in flight, ${total.diskReissued} requests re-issued by a new primary, ${total.diskRefused} stale writes refused; ` +
        `of them ${total.nonShared} with non-shared disks (${total.nonSharedFinished} finished): ${total.liveImages} images checked as a backup went live, ${total.cloneDiskChunks} image chunks cloned, ${total.localErrors} backup disk errors injected, ${total.localHalts} backups halted on a persistent one; ` +
        `${total.restartSeeds} seeds restarted the arbiter with its state; ${total.amnesiaSeeds} seeds hit "the arbiter loses its memory" (${total.amnesiaFinished} still finished the guest): ${total.strangers} strangers started against it, ${total.foreignRefused} of their outputs refused by the sink for their cluster, ${total.wrongClusterHalts} hosts halted on meeting the forgetful arbiter\n`,
    );
    process.stdout.write(`sim: ${count} seeds ran, ${failed.length} failed\n`);
    return failed.length ? EXIT_FAIL : EXIT_OK;
  },
};
