// The output rule's latency alone: `npm run bench:latency` (or `npx tsx
// tools/bench/latency.ts --reps N [--load]`). Runs `ftvm ft` on
//   ticker.s           one line every 20 ms, hosts otherwise idle (the steady state), run
//                      for TICKER_TICKS lines (6 s) rather than its own 150 (3 s): the first
//                      round trips after the pair forms pay cold code on both hosts (7-19
//                      ms), and among 150 samples two of them were the p99; and
//   count.s to 1e6     6.9 MB of output in about a second (a busy guest, both hosts busy),
// N times each, interleaved, and prints per run and as medians: the added latency of
// console output (how long each output was held until the log holding it was
// acknowledged) and the log channel's round trip (a log batch handed to the socket until
// its acknowledgement is read), p50 and p99. Between the runs it measures two peers under
// the same load: the round trip of one small message, 20 ms apart, between two idle Node
// processes over a bare WebSocket and over bare TCP. bench:ft measures the same rows among
// others; this one is quick enough to run before and after a change to the hosts' I/O.
//   --reps N   runs of each program (default 5)
//   --load     run the standard load (tools/load: 3 busy processes) beside it
import { fileURLToPath } from "node:url";
import { runClusterDetailed } from "../../src/host/launcher.js";
import { childrenFromCompileCache } from "../../src/host/self.js";
import { setLogger } from "../../src/transport/channel.js";
import { LOAD_PROCS_DEFAULT, startLoad } from "../load/load.js";
import { benchHelp } from "./help.js";
import { countTo, tickerFor } from "./guests.js";
import { tcpPeerRttMs, wsPeerRttMs } from "./ws-peer.js";

benchHelp(import.meta.url, { takesArgs: true });

/** The most runs of each program one invocation makes (each takes a few seconds). */
const REPS_MAX = 100;
/** Lines the idle guest prints (one every 20 ms), and so about as many log round trips. */
const TICKER_TICKS = 300;
/** Messages each peer measurement exchanges (as many as the idle guest's round trips), and the pause between them (an idle guest's log batches come every 20 ms). */
const PEER_MESSAGES = TICKER_TICKS;
const PEER_GAP_MS = 20;
/** The load stops by itself after this long even if this process dies. */
const LOAD_SECONDS = 1800;

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const argv = process.argv.slice(2);
let reps = 5;
let load = false;
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--reps" && /^\d+$/.test(argv[i + 1] ?? "") && Number(argv[i + 1]) >= 1 && Number(argv[i + 1]) <= REPS_MAX) reps = Number(argv[++i]);
  else if (argv[i] === "--load") load = true;
  else {
    process.stderr.write(`tools/bench/latency.ts: unknown or bad argument "${argv[i]}" (--reps 1..${REPS_MAX}, --load; --help)\n`);
    process.exit(2);
  }
}
setLogger(() => undefined);
await childrenFromCompileCache();

type Stat = { n: number; p50: number; p99: number } | undefined;
const programs = [
  { label: "ticker.s", path: tickerFor(TICKER_TICKS) },
  { label: "count.s to 1e6", path: countTo(1_000_000) },
];
const results = new Map<string, { lat: Stat; rtt: Stat }[]>(programs.map((p) => [p.label, []]));
// The peers, measured between the runs (so under the same load): the round trip of one
// small message between two idle Node processes on this machine, over a bare WebSocket
// (what the log channel is) and over bare TCP (the floor under any Node protocol).
const peers: { ws: { p50: number; p99: number }; tcp: { p50: number; p99: number } }[] = [];
const loadRun = load ? startLoad(LOAD_PROCS_DEFAULT, LOAD_SECONDS) : undefined;
const f = (x: number | undefined) => (x === undefined ? "-" : x.toFixed(2));
try {
  for (let i = 0; i < reps; i++) {
    for (const p of programs) {
      const r = await runClusterDetailed({ program: p.path, write: () => undefined, info: () => undefined, quiet: true });
      if (r.code !== 0 || !r.done) throw new Error(`ft run of ${p.label} failed:\n${r.summary}`);
      const lat = r.done.outputLatencyMs as Stat;
      const rtt = r.done.logRttMs as Stat;
      results.get(p.label)!.push({ lat, rtt });
      console.log(`run ${i + 1} ${p.label.padEnd(15)} held p50 ${f(lat?.p50)} p99 ${f(lat?.p99)} ms; round trip p50 ${f(rtt?.p50)} p99 ${f(rtt?.p99)} ms`);
    }
    const peer = { ws: await wsPeerRttMs(PEER_MESSAGES, PEER_GAP_MS, ROOT), tcp: await tcpPeerRttMs(PEER_MESSAGES, PEER_GAP_MS, ROOT) };
    peers.push(peer);
    console.log(`run ${i + 1} peers           bare WebSocket round trip p50 ${f(peer.ws.p50)} p99 ${f(peer.ws.p99)} ms; bare TCP p50 ${f(peer.tcp.p50)} p99 ${f(peer.tcp.p99)} ms`);
  }
} finally {
  await loadRun?.stop();
}
const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`\nmedians of ${reps} runs${load ? `, with ${LOAD_PROCS_DEFAULT} busy processes beside` : ""}:`);
for (const p of programs) {
  const rs = results.get(p.label)!;
  const pick = (k: "lat" | "rtt", q: "p50" | "p99") => med(rs.map((r) => r[k]?.[q]).filter((x): x is number => x !== undefined));
  console.log(`  ${p.label.padEnd(15)} held p50 ${f(pick("lat", "p50"))} ms, p99 ${f(pick("lat", "p99"))} ms; round trip p50 ${f(pick("rtt", "p50"))} ms, p99 ${f(pick("rtt", "p99"))} ms`);
}
const peerMed = (k: "ws" | "tcp", q: "p50" | "p99") => med(peers.map((x) => x[k][q]));
console.log(`  peers           bare WebSocket round trip p50 ${f(peerMed("ws", "p50"))} ms, p99 ${f(peerMed("ws", "p99"))} ms; bare TCP p50 ${f(peerMed("tcp", "p50"))} ms, p99 ${f(peerMed("tcp", "p99"))} ms`);
const idleRtt = med(results.get(programs[0].label)!.map((r) => r.rtt?.p50).filter((x): x is number => x !== undefined));
console.log(`  ${programs[0].label}'s log round trip p50 / bare WebSocket: ${(idleRtt / peerMed("ws", "p50")).toFixed(2)}x, / bare TCP: ${(idleRtt / peerMed("tcp", "p50")).toFixed(2)}x`);
