// Failover over etcd vs the embedded arbiter, and FT when etcd is slow or without a
// quorum: `npx tsx tools/bench/etcd.ts` (FTVM_BENCH_REPS runs per case, default 5;
// FTVM_BENCH_QUORUM_LOST_MS for the outage case, default 2000; FTVM_BENCH_CASES=a,b for
// some cases only). Needs `etcd` on PATH. A run that is not exact says why.
//
// Every run is `ftvm ft programs/ticker.s` (a line every 20 ms) through the launcher; once
// the pair serves, the primary gets SIGKILL (from here, by pid: the launcher would ask
// the arbiter first, and a degraded etcd may not answer it). Figures are the launcher's:
// ms from the primary's death (its exit as the launcher sees it) to the backup being live
// and to the first output of the new primary at the sink, plus the backup's own
// test-and-set time. Cases:
//   embedded       the embedded arbiter process (the default)
//   etcd           a local 3-member etcd cluster, all members well
//   etcd-leader-paused    etcd's leader SIGSTOPped just before the kill (hung, not dead:
//                  its sockets stay open), resumed after the run
//   etcd-follower-paused  one follower SIGSTOPped just before the kill
//   etcd-quorum-lost      two members SIGKILLed just before the kill, restarted after
//                  FTVM_BENCH_QUORUM_LOST_MS
import { type LocalEtcd, startLocalEtcd } from "../../src/host/etcd-local.js";
import { runClusterDetailed } from "../../src/host/launcher.js";
import type { HostStatus } from "../../src/host/sink.js";
import { type Progress, progress } from "../../src/host/progress.js";
import { setLogger } from "../../src/transport/channel.js";
import { benchHelp } from "./help.js";

benchHelp(import.meta.url, { takesArgs: false });

const REPS = Number(process.env.FTVM_BENCH_REPS ?? 5);
const QUORUM_LOST_MS = Number(process.env.FTVM_BENCH_QUORUM_LOST_MS ?? 2000);
/** Lines of output before the kill (the pair is serving). */
const LINES_BEFORE_KILL = 25;
setLogger(() => undefined);

type Case = "embedded" | "etcd" | "etcd-leader-paused" | "etcd-follower-paused" | "etcd-quorum-lost";

async function once(c: Case, etcd: LocalEtcd | undefined, run: number): Promise<{ liveMs?: number; firstOutputMs?: number; electMs: number; ok: boolean }> {
  let out = "";
  let fired: Promise<void> | undefined;
  const latest = new Map<number, HostStatus>();
  const undo: (() => Promise<void> | void)[] = [];
  const r = await runClusterDetailed({
    program: "programs/ticker.s",
    respawn: false,
    heartbeatMs: 100,
    timeoutMs: 5000,
    quiet: true,
    info: () => undefined,
    ...(c === "embedded" ? {} : { arbiter: etcd!.url(`bench/${c}/${run}`) }),
    write: (b) => (out += Buffer.from(b).toString()),
    onStatus: (s) => {
      latest.set(s.pid, s);
      if (fired || out.split("\n").length <= LINES_BEFORE_KILL) return;
      const p = [...latest.values()].find((x) => x.role === "primary");
      if (!p || ![...latest.values()].some((x) => x.role === "backup")) return;
      fired = (async () => {
        const e = etcd!;
        if (c === "etcd-leader-paused" || c === "etcd-follower-paused") {
          const leader = (await e.leader()) ?? 0;
          const victim = c === "etcd-leader-paused" ? leader : (leader + 1) % e.members.length;
          e.pause(victim);
          undo.push(() => e.resume(victim));
        }
        if (c === "etcd-quorum-lost") {
          const leader = (await e.leader()) ?? 0;
          const victims = [0, 1, 2].filter((i) => i !== leader);
          await Promise.all(victims.map((i) => e.kill(i)));
          setTimeout(() => void Promise.all(victims.map((i) => e.restart(i, false))), QUORUM_LOST_MS);
        }
        process.kill(p.pid, "SIGKILL");
      })();
    },
  });
  await fired;
  for (const u of undo) await u();
  const f = r.failovers[0];
  const lines = out.split("\n").filter(Boolean);
  // Every tick once, in order, none missing. (ticker.s may print a 151st tick: after a long
  // failover its timer is overdue, and a tick can land between its last IRET and the DI
  // that ends its idle loop. A race in the guest, replayed alike on both hosts.)
  const exact = lines.length >= 150 && lines.every((l, i) => l.startsWith(`tick ${i + 1} of 150`));
  const ok = r.code === 0 && exact && r.failovers.length === 1;
  if (!ok) {
    bar?.clear();
    const bad = lines.findIndex((l, i) => !l.startsWith(`tick ${i + 1} of 150`));
    process.stdout.write(`  ${c} run ${run}: exit ${r.code}, ${r.failovers.length} failovers, ${lines.length} lines${bad >= 0 ? `, line ${bad + 1} is ${JSON.stringify(lines[bad])}` : ""}\n${r.summary.replace(/^/gm, "    ")}`);
  }
  return { liveMs: f?.liveMs, firstOutputMs: f?.firstOutputMs, electMs: f?.electMs ?? NaN, ok };
}

/** The running case's progress line (cleared before anything else is printed). */
let bar: Progress | undefined;

function stats(xs: number[]): string {
  if (xs.length === 0) return "-";
  const s = [...xs].sort((a, b) => a - b);
  const med = s[Math.floor(s.length / 2)];
  return `median ${med.toFixed(0)} (min ${s[0].toFixed(0)}, max ${s[s.length - 1].toFixed(0)})`;
}

const etcd = await startLocalEtcd({ members: 3 });
try {
  const all: Case[] = ["embedded", "etcd", "etcd-follower-paused", "etcd-leader-paused", "etcd-quorum-lost"];
  // FTVM_BENCH_CASES=etcd,embedded runs only those.
  const cases = process.env.FTVM_BENCH_CASES ? all.filter((c) => process.env.FTVM_BENCH_CASES!.split(",").includes(c)) : all;
  process.stdout.write(`failover of programs/ticker.s, ${REPS} runs per case (ms from the primary's SIGKILL; etcd: 3 local members on loopback)\n`);
  for (const c of cases) {
    const res = [];
    // On a terminal: run k of n and the time left.
    bar = progress(c, REPS, "runs");
    bar.update(0);
    for (let i = 0; i < REPS; i++) {
      // Every member running and well before each run.
      for (let m = 0; m < etcd.members.length; m++) {
        etcd.resume(m);
        await etcd.restart(m);
      }
      res.push(await once(c, etcd, i));
      bar.update(i + 1);
    }
    bar.clear();
    const num = (xs: (number | undefined)[]) => xs.filter((x): x is number => typeof x === "number" && Number.isFinite(x));
    const bad = res.filter((x) => !x.ok).length;
    process.stdout.write(
      `${c.padEnd(21)} live ${stats(num(res.map((x) => x.liveMs)))}; first new output ${stats(num(res.map((x) => x.firstOutputMs)))}; test-and-set ${stats(num(res.map((x) => x.electMs)))}` +
        (bad ? `; ${bad} runs NOT exact or without one failover` : "; output exact in every run") +
        "\n",
    );
  }
} finally {
  await etcd.stop();
}
