// The Redis guest under FT with the primary killed again and again, real clients beside
// it, and the clients' whole history checked for linearizability: the figure of issue 11
// ("ftvm ft programs/redis.s --crash-primary-every-ms 300 for 60 s with 20 clients under
// the load: at least 30 kills carried out, never an outage, no client error, the
// clients' history linearizable").
//
//   tsx tools/load/redis-lin.ts [--seconds 60] [--clients 20] [--every-ms 300] [--procs 3] [--keys 256] [--events FILE]
//
// --events FILE runs the launcher with --json and writes its event stream (docs/events.md)
// there, one JSON object per line, so that the kill -> failover -> clone cycle can be split
// into its phases afterwards (tools/load/cycle-phases.ts).
//
// --procs 0 runs on a quiet machine. Prints the kills, the failovers, the replies, the
// longest time without any reply, the client errors and the verdict; exits 1 when the
// history is not linearizable or a client saw an error.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { fileURLToPath } from "node:url";
import { checkLinearizable } from "../../src/sim/linearizable.js";
import { runKvClients } from "./kv-clients.js";
import { LOAD_PROCS_DEFAULT, startLoad } from "./load.js";
import { toolArgs } from "./args.js";

// The executable, as a user runs it (it starts from the checkout's compile cache).
const FTVM = fileURLToPath(new URL("../../src/cli/ftvm.mjs", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The launcher must be ready (guest listening) within this long, or the run is a failure. */
const READY_TIMEOUT_MS = 120_000;


export interface RedisLinOptions {
  seconds: number;
  clients: number;
  everyMs: number;
  keys: number;
  seed: number;
  /** Write the launcher's --json event stream here (see the usage text). */
  eventsFile?: string;
}

export interface RedisLinReport {
  kills: number;
  failovers: number;
  replies: number;
  maxSilenceMs: number;
  errors: string[];
  verdict: ReturnType<typeof checkLinearizable>;
  checkMs: number;
  summary: string;
  code: number | null;
}

/** One run: `ftvm ft programs/redis.s` with kills every `everyMs`, clients for `seconds`, then Ctrl-C and the check. */
export async function redisLinRun(o: RedisLinOptions): Promise<RedisLinReport> {
  const json = o.eventsFile !== undefined;
  const child = spawn(process.execPath, [FTVM, "ft", "programs/redis.s", "--mem", "16MiB", "--listen", "127.0.0.1:0", "--crash-primary-every-ms", String(o.everyMs), ...(json ? ["--json"] : [])], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const events = json ? createWriteStream(o.eventsFile!) : undefined;
  if (events) child.stdout!.pipe(events);
  // With --json the guest's output arrives inside console events, as JSON-escaped text;
  // the ready line contains no character that JSON escapes, so the same search finds it.
  let out = "";
  let err = "";
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  // Once ready, stdout is no longer searched: it is not kept (with --json it is megabytes).
  let ready = false;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready within ${READY_TIMEOUT_MS} ms: ${err}`)), READY_TIMEOUT_MS);
    const look = () => {
      const m = /network clients connect to [^\s]+:(\d+)/.exec(err);
      if (m && out.includes("redis.s: ready")) {
        clearTimeout(timer);
        ready = true;
        out = "";
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on("data", (d) => {
      if (ready) return;
      out += d;
      look();
    });
    child.stderr!.on("data", (d) => {
      err += d;
      look();
    });
    void exited.then((code) => reject(new Error(`ftvm ft exited (${code}) before it was ready: ${err}`)));
  });
  let load;
  try {
    load = await runKvClients({ port, clients: o.clients, keys: o.keys, durationMs: o.seconds * 1000, seed: o.seed });
  } finally {
    child.kill("SIGINT");
  }
  const code = await exited;
  const t = Date.now();
  const verdict = checkLinearizable(load.history);
  const checkMs = Date.now() - t;
  const summary = err.slice(err.lastIndexOf("ftvm ft: programs/redis.s"));
  return {
    kills: Number(/host failures: (\d+) injected/.exec(err)?.[1] ?? NaN),
    failovers: Number(/failovers: (\d+)/.exec(err)?.[1] ?? NaN),
    replies: load.replies,
    maxSilenceMs: load.maxSilenceMs,
    errors: load.errors,
    verdict,
    checkMs,
    summary,
    code,
  };
}

async function main(): Promise<number> {
  const arg = toolArgs("redis-lin", "tsx tools/load/redis-lin.ts [--seconds 60] [--clients 20] [--every-ms 300] [--procs 3] [--keys 256] [--seed 1] [--events FILE]", ["seconds", "clients", "every-ms", "procs", "keys", "seed", "events"]);
  const procs = Number(arg("procs", String(LOAD_PROCS_DEFAULT)));
  const o: RedisLinOptions = { seconds: Number(arg("seconds", "60")), clients: Number(arg("clients", "20")), everyMs: Number(arg("every-ms", "300")), keys: Number(arg("keys", "256")), seed: Number(arg("seed", "1")), eventsFile: arg("events", "") || undefined };
  const load = procs > 0 ? startLoad(procs, o.seconds + 180) : undefined;
  process.stderr.write(`redis-lin: ${o.clients} clients for ${o.seconds} s, primary killed every ${o.everyMs} ms, ${procs} busy processes beside\n`);
  let r: RedisLinReport;
  try {
    r = await redisLinRun(o);
  } finally {
    await load?.stop();
  }
  process.stdout.write(r.summary + "\n");
  process.stdout.write(
    `redis-lin: ${r.kills} kills carried out, ${r.failovers} failovers; ${r.replies.toLocaleString("en-US")} replies; longest time without any reply ${r.maxSilenceMs.toFixed(0)} ms; ` +
      `${r.errors.length} client errors${r.errors.length ? ` (first: ${r.errors[0]})` : ""}; history ${r.verdict.linearizable === true ? "linearizable" : r.verdict.linearizable === false ? `NOT linearizable (key ${r.verdict.key}: ${r.verdict.why})` : `undecided (key ${r.verdict.key}: ${r.verdict.why})`} (checked in ${r.checkMs} ms)\n`,
  );
  return r.verdict.linearizable === true && r.errors.length === 0 ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exit(await main());
