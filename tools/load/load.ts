// The standard load: N busy processes for T seconds, so that benchmarks and tests can be
// measured on a machine that is doing other work, as a user's laptop or a CI box is.
// Each worker spins on the CPU and checks the clock between short bursts, so it stops by
// itself at the deadline even if this parent is killed (no orphan outlives its time).
//
//   tsx tools/load/load.ts [--procs N] [--seconds T]      (defaults: 3 processes, 60 s)
//
// Programs import startLoad() to run it beside what they measure.
import { type ChildProcess, spawn } from "node:child_process";

/** At most this many busy processes: more only measures the scheduler. */
export const LOAD_PROCS_MAX = 64;
/** At most this long: a load is a test fixture, never a daemon. */
export const LOAD_SECONDS_MAX = 3600;
/** The standard load of the FT issue's acceptance criteria: 3 busy processes beside the cluster. */
export const LOAD_PROCS_DEFAULT = 3;

// The worker's code: a busy loop in bursts of about 1 ms of arithmetic, checking the
// deadline between bursts. Passed with -e so it needs no file and no TypeScript loader.
const WORKER = `
const end = Date.now() + Number(process.argv[1]);
let x = 0;
while (Date.now() < end) { for (let i = 0; i < 100000; i++) x = (x * 1103515245 + 12345) | 0; }
process.exit(x === 0.5 ? 1 : 0);
`;

export interface Load {
  readonly procs: number;
  /** Stops every worker now (they stop by themselves at the deadline anyway). */
  stop(): Promise<void>;
}

export function startLoad(procs = LOAD_PROCS_DEFAULT, seconds = 60): Load {
  if (!Number.isSafeInteger(procs) || procs < 0 || procs > LOAD_PROCS_MAX) throw new RangeError(`load: --procs must be 0..${LOAD_PROCS_MAX}, got ${procs}`);
  if (!(seconds > 0) || seconds > LOAD_SECONDS_MAX) throw new RangeError(`load: --seconds must be in (0, ${LOAD_SECONDS_MAX}], got ${seconds}`);
  const children: ChildProcess[] = [];
  for (let i = 0; i < procs; i++) children.push(spawn(process.execPath, ["-e", WORKER, String(Math.round(seconds * 1000))], { stdio: "ignore" }));
  return {
    procs,
    async stop() {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once("exit", () => resolve());
              c.kill("SIGKILL");
            }),
        ),
      );
    },
  };
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const arg = (name: string, dflt: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    if (i < 0) return dflt;
    const v = Number(process.argv[i + 1]);
    if (!Number.isFinite(v)) {
      process.stderr.write(`load: --${name} needs a number, got "${process.argv[i + 1] ?? ""}"\n`);
      process.exit(2);
    }
    return v;
  };
  // Unknown flags (a --help among them) stop it before any worker starts: a load is not
  // something to start by mistake beside a measurement.
  const usage = "usage: tsx tools/load/load.ts [--procs N (0..64, default 3)] [--seconds T (default 60, at most 3600)]";
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i += 2) {
    if (args[i] === "--help" || args[i] === "-h") {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    }
    if (args[i] !== "--procs" && args[i] !== "--seconds") {
      process.stderr.write(`load: unknown argument "${args[i]}"\n${usage}\n`);
      process.exit(2);
    }
  }
  let load: Load;
  try {
    load = startLoad(arg("procs", LOAD_PROCS_DEFAULT), arg("seconds", 60));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(2);
  }
  process.stderr.write(`load: ${load.procs} busy processes; Ctrl-C stops them\n`);
  const stop = () => void load.stop().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
