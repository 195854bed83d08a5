// `npm run fuzz`: the engine differential test (test/vm-engines-fuzz.test.ts) for as long as
// you like. Generates programs and run schedules (tools/fuzz/engine-programs.ts) and checks
// each on the reference interpreter and the compiled engine (tools/fuzz/engine-check.ts).
// On the first mismatch fast-check shrinks the case; the command prints the seed and path
// that reproduce it, the mismatch, and the shrunk program's source, and exits 1.
//
//   npm run fuzz -- [--cases N] [--seed S] [--max-icount N] [--path P]
//
// --cases       how many cases (default 20000)
// --seed        fast-check seed (default: a fresh one, printed first)
// --max-icount  instructions per run (default 20000, FUZZ_LONG_ICOUNT_MAX; the test suite
//               uses 3000: longer runs reach deeper states but cost more per case)
// --path        with --seed, replays exactly the case a failure report named
import { FUZZ_LONG_ICOUNT_MAX } from "./engine-check.js";
import { fuzzEngines } from "./engine-fuzz.js";

/** Seconds between progress lines on stderr. */
const PROGRESS_INTERVAL_MS = 10_000;

interface Args {
  cases: number;
  seed: number;
  maxIcount: number;
  path?: string;
}

function usage(problem: string): never {
  process.stderr.write(`fuzz: ${problem}\nusage: npm run fuzz -- [--cases N] [--seed S] [--max-icount N] [--path P]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { cases: 20_000, seed: (Date.now() ^ (process.pid << 16)) | 0, maxIcount: FUZZ_LONG_ICOUNT_MAX };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) usage(`${flag} needs a value`);
    const int = (min: number) => {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < min) usage(`${flag} takes an integer >= ${min}, got "${value}"`);
      return n;
    };
    switch (flag) {
      case "--cases": a.cases = int(1); break;
      case "--seed": a.seed = int(-(2 ** 31)) | 0; break;
      case "--max-icount": a.maxIcount = int(1); break;
      case "--path": a.path = value; break;
      default: usage(`unknown option ${flag}`);
    }
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
process.stdout.write(`fuzz: ${args.cases} cases, seed ${args.seed}, at most ${args.maxIcount} instructions per run\n`);
const started = performance.now();
let lastReport = started;
const r = fuzzEngines({
  ...args,
  onCase(passed) {
    const now = performance.now();
    if (now - lastReport < PROGRESS_INTERVAL_MS) return;
    lastReport = now;
    process.stderr.write(`fuzz: ${passed} cases passed (${((now - started) / 1000).toFixed(0)} s)\n`);
  },
});
const secs = ((performance.now() - started) / 1000).toFixed(1);
if (r.failed) {
  process.stdout.write(`fuzz: FAILED (${secs} s): ${r.report}\n`);
  process.exitCode = 1;
} else process.stdout.write(`fuzz: ${r.cases} cases passed in ${secs} s (seed ${args.seed})\n`);
