// Repeated FT runs beside the standard load, as a user would run them: `npm start` (the
// demo) and `ftvm ft programs/count.s --crash-primary-at-icount N` with random N, each a
// fresh process tree; counts how many stayed exact. The acceptance figures of issue 11
// ("20 of 20 with 3 busy processes beside the cluster") come from here:
//
//   tsx tools/load/trials.ts [--runs 20] [--procs 3] [--only demo|count]
//
// Prints one line per run and a summary; exits 1 if any run was not exact.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { LOAD_PROCS_DEFAULT, LOAD_PROCS_MAX, startLoad } from "./load.js";
import { toolArgs } from "./args.js";

// The executable, as a user runs it (it starts from the checkout's compile cache).
const FTVM = fileURLToPath(new URL("../../src/cli/ftvm.mjs", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** count.s runs about 3.3 million instructions; crash points are drawn below that. */
const COUNT_ICOUNT = 3_300_000;
/** A run that takes longer than this is a failure (a hang), not a slow success. */
const RUN_TIMEOUT_MS = 180_000;
/** After the SIGINT of a hung run, how long its summary may take before SIGKILL. */
const STOP_GRACE_MS = 15_000;
/** At most this many runs of each: 1000 demos beside the load is already hours. */
const RUNS_MAX = 1000;


interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function ftvm(args: string[]): Promise<Outcome> {
  const start = Date.now();
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [FTVM, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    c.stdout.on("data", (d: Buffer) => out.push(d));
    c.stderr.on("data", (d: Buffer) => (err += d.toString()));
    // A hang is stopped like a user would (Ctrl-C: the launcher prints its summary, which
    // says where the run stood), and killed if that does not end it.
    const timer = setTimeout(() => {
      err += `\ntrials: no end after ${RUN_TIMEOUT_MS} ms: SIGINT\n`;
      c.kill("SIGINT");
      setTimeout(() => c.kill("SIGKILL"), STOP_GRACE_MS).unref();
    }, RUN_TIMEOUT_MS);
    c.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString("latin1"), stderr: err, ms: Date.now() - start });
    });
  });
}

const COUNT = Array.from({ length: 100000 }, (_, i) => `${i + 1}\n`).join("");

async function main(): Promise<number> {
  const arg = toolArgs("trials", `tsx tools/load/trials.ts [--runs N (1..${RUNS_MAX}, default 20)] [--procs N (0..${LOAD_PROCS_MAX}, default ${LOAD_PROCS_DEFAULT})] [--only demo|count]`, ["runs", "procs", "only"]);
  const runs = Number(arg("runs", "20"));
  const procs = Number(arg("procs", String(LOAD_PROCS_DEFAULT)));
  const only = arg("only", "");
  const bad = (why: string) => {
    process.stderr.write(`trials: ${why}\n`);
    process.exit(2);
  };
  if (!Number.isSafeInteger(runs) || runs < 1 || runs > RUNS_MAX) bad(`--runs must be 1..${RUNS_MAX}, got "${arg("runs", "")}"`);
  if (!Number.isSafeInteger(procs) || procs < 0 || procs > LOAD_PROCS_MAX) bad(`--procs must be 0..${LOAD_PROCS_MAX}, got "${arg("procs", "")}"`);
  if (!["", "demo", "count"].includes(only)) bad(`--only must be demo or count, got "${only}"`);
  const load = startLoad(procs, 3600);
  process.stderr.write(`trials: ${runs} runs of each, ${procs} busy processes beside them\n`);
  let failed = 0;
  try {
    if (only !== "count") {
      let ok = 0;
      let withFailover = 0;
      for (let i = 1; i <= runs; i++) {
        const r = await ftvm(["demo"]);
        const exact = r.code === 0 && /the output stayed exact/.test(r.stderr);
        if (exact) ok++;
        // The demo's kill waits for a formed pair; a guest that ends first is exact but shows no failover.
        if (exact && /failovers: 1;/.test(r.stderr)) withFailover++;
        const failures = /host failures: [^\n]*/.exec(r.stderr)?.[0] ?? "";
        process.stdout.write(`demo #${i}: ${exact ? "exact" : `NOT exact (exit ${r.code})`} in ${(r.ms / 1000).toFixed(1)} s; ${failures}\n`);
        if (!exact) process.stdout.write(r.stderr.split("\n").slice(-25).join("\n") + "\n");
      }
      failed += runs - ok;
      process.stdout.write(`demo: ${ok} of ${runs} exact, ${withFailover} of them with the failover\n`);
    }
    if (only !== "demo") {
      let ok = 0;
      for (let i = 1; i <= runs; i++) {
        const at = 1 + Math.floor(Math.random() * COUNT_ICOUNT);
        const r = await ftvm(["ft", "programs/count.s", "--crash-primary-at-icount", String(at)]);
        const exact = r.code === 0 && r.stdout === COUNT && /failovers: 1;/.test(r.stderr);
        if (exact) ok++;
        const failures = /host failures: [^\n]*/.exec(r.stderr)?.[0] ?? "";
        process.stdout.write(`count.s crash at icount ${at}: ${exact ? "exact" : `NOT exact (exit ${r.code}, ${r.stdout.length} bytes)`} in ${(r.ms / 1000).toFixed(1)} s; ${failures}\n`);
        if (!exact) process.stdout.write(r.stderr.split("\n").slice(-60).join("\n") + "\n");
      }
      failed += runs - ok;
      process.stdout.write(`count.s: ${ok} of ${runs} exact\n`);
    }
  } finally {
    await load.stop();
  }
  return failed === 0 ? 0 : 1;
}

process.exit(await main());
