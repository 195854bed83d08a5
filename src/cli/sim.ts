// `ftvm sim`: the seeded deterministic simulator of the FT protocol (src/sim). Runs many
// seeds (or one, with its event trace), prints how many ran and failed, and for each
// failing seed its first failure and the one-line command that replays it exactly.
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { RUN_EVENTS_SCHEMA_VERSION, eventLine } from "../host/run-events.js";
import { simulateWithEvents } from "./sim-events.js";
import { EXIT_FAIL, EXIT_OK, UsageError, count, defineCommand } from "./args.js";
import { progress } from "../host/progress.js";
import type { Mutation, SimResult } from "../sim/sim.js";
import { MUTATIONS, simulate } from "../sim/sim.js";
import type { DiskModeChoice } from "../sim/plan.js";
import { DISK_MODES } from "../sim/plan.js";
import { netMutation, runNetSeed, runNetSeeds } from "./sim-net.js";
import { NET_MUTATIONS } from "../sim/netsim.js";

/**
 * Console seeds per network seed in a sweep. A network seed takes about 13 times as long
 * as a console one (0.12 s against 9 ms), so one in ten keeps a sweep's time within about
 * twice the console seeds' alone.
 */
export const NET_SEEDS_SHARE = 10;

export const simCommand = defineCommand({
  name: "sim",
  summary: "the seeded FT simulator: ftvm sim --seeds N | --seed S",
  options: {
    seeds: { flags: "--seeds <n>", help: "run seeds S .. S+N-1 (S from --start)", parse: count(1) },
    start: { flags: "--start <s>", help: "the first seed", parse: count(), defaultText: "1" },
    seed: { flags: "--seed <s>", help: "run one seed and print its plan, statistics and failures", parse: count() },
    verbose: { flags: "-v, --verbose", help: "with --seed: print the run's event trace; with --seeds: one line per seed" },
    disk: { flags: "--disk", help: "every seed runs the disk guest (--no-disk: none does)" },
    noDisk: { flags: "--no-disk", help: "no seed runs the disk guest" },
    diskMode: { flags: "--disk-mode <m>", help: "every seed runs the disk guest with disks of this mode (non-shared with --backup-reads)", choices: DISK_MODES },
    mutation: { flags: "--mutation <m>", help: "run a deliberately broken variant, to see the checks fire (with --net: the network's)", choices: [...MUTATIONS, ...NET_MUTATIONS] },
    net: { flags: "--net", help: "run network seeds only: programs/redis.s behind the virtual switch with simulated clients (docs/sim-net.md)" },
    consoleOnly: { flags: "--console-only", help: "with --seeds: run no network seeds after the console ones" },
    json: { flags: "--json", help: 'with --seed: print the run\'s events (docs/events.md), one JSON object per line, instead of the text; with --seeds: one JSON object per seed ({"type":"seed", seed, ok, failures, stats}) and a last {"type":"sims", ...}' },
    report: { flags: "--report <file>", help: "with --seed: write the run's dashboard page (timeline, plots, console) as one self-contained HTML file (docs/dashboard.md)" },
  },
  more: `Runs the FT protocol (primary, backup, arbiter, console sink: the unchanged src/ft state
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


Prints "sim: N seeds ran, F failed"; then (unless --console-only, --mutation, a disk
choice or --json) runs one network seed per ${NET_SEEDS_SHARE} console seeds, the same as
--net --seeds N/${NET_SEEDS_SHARE} --start S, and prints "sim: M network seeds ran, F failed".
Exit status 1 if any failed, else 0. A failing
seed replays exactly: ftvm sim --seed S.`,
  async run(values) {
    const p = { values };
    const mutation = p.values.mutation as string | undefined;
    if (p.values.net === true) {
      if (p.values.disk !== undefined || p.values.diskMode !== undefined) throw new UsageError("--net runs the network guest: give it without --disk, --no-disk or --disk-mode");
      const netOne = p.values.seed as number | undefined;
      const netCount = p.values.seeds as number | undefined;
      if ((netOne === undefined) === (netCount === undefined)) throw new UsageError("give either --seeds N or --seed S; see ftvm sim --help");
      if (netOne !== undefined) return runNetSeed(netOne, netMutation(mutation), p.values.verbose === true);
      return runNetSeeds((p.values.start as number | undefined) ?? 1, netCount!, netMutation(mutation), p.values.verbose === true);
    }
    if (mutation !== undefined && !(MUTATIONS as readonly string[]).includes(mutation)) throw new UsageError(`--mutation takes one of ${MUTATIONS.join(", ")} (or with --net: ${NET_MUTATIONS.join(", ")}), got "${mutation}"`);
    const verbose = p.values.verbose === true;
    const one = p.values.seed as number | undefined;
    const seeds = p.values.seeds as number | undefined;
    if ((one === undefined) === (seeds === undefined)) throw new UsageError("give either --seeds N or --seed S; see ftvm sim --help");
    if (one !== undefined && p.values.start !== undefined) throw new UsageError("--start goes with --seeds, not --seed");
    // --disk and --no-disk set one value (commander: the last one given wins); absent, seeds choose.
    const disk = p.values.disk as boolean | undefined;
    const diskMode = p.values.diskMode as string | undefined;
    if (diskMode !== undefined && disk !== undefined) throw new UsageError("give --disk-mode without --disk or --no-disk");
    const plan = { ...(disk !== undefined ? { disk } : {}), ...(diskMode !== undefined ? { diskMode: diskMode as DiskModeChoice } : {}) };
    const opts = { verbose: one !== undefined && verbose, mutation: mutation as Mutation | undefined, ...(Object.keys(plan).length ? { plan } : {}) };

    const json = p.values.json === true;
    // A sweep also runs network seeds (one per NET_SEEDS_SHARE console seeds), so one
    // command covers both paths; not for a broken variant, a chosen disk plan or --json,
    // which select or report console plans only.
    const consoleOnly = p.values.consoleOnly === true || mutation !== undefined || Object.keys(plan).length > 0 || json;
    if (p.values.consoleOnly === true && seeds === undefined) throw new UsageError("--console-only goes with --seeds");
    const report = p.values.report as string | undefined;
    if (report !== undefined && one === undefined) throw new UsageError("--report goes with --seed S (one run)");
    if (report === "") throw new UsageError("--report takes a file name");
    if (report !== undefined) {
      // Found out before the run, not after it: the report's file must be writable.
      try {
        writeFileSync(report, "");
      } catch (e) {
        throw new UsageError(`--report ${report}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    if (one !== undefined) {
      const lines = (r: SimResult) => [
        `seed ${r.seed}: ${r.plan}`,
        `stats: ${JSON.stringify(r.stats)}`,
        `fingerprint: ${r.fingerprint}`,
        ...r.failures.map((f) => `FAIL ${f}`),
        `sim: 1 seeds ran, ${r.ok ? 0 : 1} failed`,
        ...(r.ok ? [] : [`replay: ${r.replay}`]),
      ];
      if (json || report !== undefined) {
        const { result, events } = simulateWithEvents(one, opts, lines, json ? (e) => process.stdout.write(eventLine(e)) : undefined);
        if (!json) process.stdout.write(lines(result).join("\n") + "\n");
        if (report !== undefined) {
          // Loaded only for a report: plain runs of the simulator start as fast as before.
          const { writeReport } = await import("../host/dashboard-report.js");
          writeReport(report, events);
          process.stderr.write(`sim: report written to ${report}\n`);
        }
        return result.ok ? EXIT_OK : EXIT_FAIL;
      }
      const r = simulate(one, opts);
      if (verbose) process.stdout.write(r.trace.join("\n") + "\n\n");
      process.stdout.write(lines(r).join("\n") + "\n");
      return r.ok ? EXIT_OK : EXIT_FAIL;
    }

    const start = (p.values.start as number | undefined) ?? 1;
    const t0 = performance.now();
    const failed: SimResult[] = [];
    const total = { failovers: 0, aloneWins: 0, crashes: 0, elections: 0, tracePoints: 0, finished: 0, respawns: 0, clonesStarted: 0, clonesCompleted: 0, clonesFailed: 0, diskRuns: 0, diskFinished: 0, crashesMidIo: 0, diskRefused: 0, diskReissued: 0, nonShared: 0, nonSharedFinished: 0, liveImages: 0, localErrors: 0, localHalts: 0, cloneDiskChunks: 0, restartSeeds: 0, amnesiaSeeds: 0, amnesiaFinished: 0, strangers: 0, foreignRefused: 0, wrongClusterHalts: 0 };
    // On a terminal: seeds done, seeds per second and the time left (thousands of seeds take minutes).
    const bar = progress("sim", seeds!, "seeds");
    for (let s = start; s < start + seeds!; s++) {
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
      if (verbose || !r.ok || json) bar.clear();
      if (json) process.stdout.write(JSON.stringify({ v: RUN_EVENTS_SCHEMA_VERSION, type: "seed", seed: s, ok: r.ok, failures: r.failures, stats: r.stats, ...(r.ok ? {} : { replay: r.replay }) }) + "\n");
      else if (verbose) process.stdout.write(`seed ${s}: ${r.ok ? "ok" : "FAIL"} ${JSON.stringify(r.stats)}\n`);
      if (!r.ok) failed.push(r);
      if (!r.ok && !json) {
        process.stdout.write(`seed ${s}: ${r.failures[0]}${r.failures.length > 1 ? ` (and ${r.failures.length - 1} more)` : ""}\n  replay: ${r.replay}\n`);
      }
      bar.update(s - start + 1);
    }
    bar.clear();
    const secs = (performance.now() - t0) / 1000;
    process.stderr.write(
      `sim: ${secs.toFixed(1)} s; ${total.finished} runs finished the guest, ${total.failovers} backups went live, ${total.aloneWins} primaries went on alone, ` +
        `${total.crashes} host crashes, ${total.elections} arbiter requests, ${total.tracePoints} backup states compared with the primary's; ` +
        `${total.respawns} backups respawned, ${total.clonesStarted} clones sent (${total.clonesCompleted} completed, ${total.clonesFailed} failed); ` +
        `${total.diskRuns} disk runs (${total.diskFinished} finished, their image checked): ${total.crashesMidIo} crashes with disk requests in flight, ${total.diskReissued} requests re-issued by a new primary, ${total.diskRefused} stale writes refused; ` +
        `of them ${total.nonShared} with non-shared disks (${total.nonSharedFinished} finished): ${total.liveImages} images checked as a backup went live, ${total.cloneDiskChunks} image chunks cloned, ${total.localErrors} backup disk errors injected, ${total.localHalts} backups halted on a persistent one; ` +
        `${total.restartSeeds} seeds restarted the arbiter with its state; ${total.amnesiaSeeds} seeds hit "the arbiter loses its memory" (${total.amnesiaFinished} still finished the guest): ${total.strangers} strangers started against it, ${total.foreignRefused} of their outputs refused by the sink for their cluster, ${total.wrongClusterHalts} hosts halted on meeting the forgetful arbiter\n`,
    );
    if (json) process.stdout.write(JSON.stringify({ v: RUN_EVENTS_SCHEMA_VERSION, type: "sims", ran: seeds, failed: failed.length, failedSeeds: failed.map((r) => r.seed), totals: total, seconds: Math.round(secs * 10) / 10 }) + "\n");
    else process.stdout.write(`sim: ${seeds} seeds ran, ${failed.length} failed\n`);
    if (consoleOnly) return failed.length ? EXIT_FAIL : EXIT_OK;
    const netCode = runNetSeeds(start, Math.ceil(seeds! / NET_SEEDS_SHARE), undefined, false);
    return failed.length || netCode !== EXIT_OK ? EXIT_FAIL : EXIT_OK;
  },
});
