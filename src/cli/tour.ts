// `ftvm tour` (what `npm start` runs until the FT demo lands): a one-minute walk through
// run, record, replay, trace diff and the unsafe divergence demo. Every step is a real
// `ftvm` command run as a child process, shown with its output, like a terminal session.
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PACKAGE_DIR, selfArgs } from "../host/self.js";
import { EXIT_FAIL, EXIT_OK, defineCommand } from "./args.js";

/** Bold and dim on a terminal that wants colour; plain text into pipes and under NO_COLOR (https://no-color.org). */
export function styles(): { bold: (s: string) => string; dim: (s: string) => string } {
  const on = process.stdout.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb";
  return on ? { bold: (s) => `\x1b[1m${s}\x1b[0m`, dim: (s) => `\x1b[2m${s}\x1b[0m` } : { bold: (s) => s, dim: (s) => s };
}

export const tourCommand = defineCommand({
  name: "tour",
  summary: "a one-minute tour: run, record, replay, trace diff, the divergence demo",
  options: {},
  run() {
    const dir = mkdtempSync(join(tmpdir(), "ftvm-tour-"));
    const log = join(dir, "run.ftlog");
    const bad = join(dir, "unsafe.ftlog");
    const a = join(dir, "a.trace");
    const b = join(dir, "b.trace");
    const c = join(dir, "c.trace");
    const d = join(dir, "d.trace");
    const { bold, dim } = styles();
    const say = (s: string) => process.stdout.write(`\n${bold(s)}\n`);
    const steps: [string, string[], number][] = [];
    const ftvm = (args: string[], want: number, expl: string) => steps.push([expl, args, want]);

    ftvm(["run", "programs/hello.s"], 0, "1. Run a guest program. It is assembled on the fly; its console output is our stdout.");
    ftvm(["run", "programs/timeread.s"], 0, "2. This one reads TIME (a virtual clock) and RAND: every run prints different numbers.");
    ftvm(
      ["record", "programs/timeread.s", "-o", log, "--trace", a],
      0,
      "3. Record a run: every nondeterministic input goes to a log, with the exact instruction count (icount) at which the guest saw it.",
    );
    ftvm(["replay", log, "--trace", b], 0, "4. Replay the log in a fresh process: the same numbers come back, instruction for instruction.");
    ftvm(["trace", "diff", a, b], 0, "5. The traces (state digests at every event and every 100000 instructions) agree.");
    ftvm(
      ["record", "programs/timeread.s", "-o", bad, "--trace", c, "--unlogged-rand"],
      0,
      "6. Now the unsafe option --unlogged-rand: RAND reads randomness without logging it, as a buggy hypervisor would.",
    );
    ftvm(["replay", bad, "--trace", d], 1, "7. Its replay diverges, and says where.");
    ftvm(["trace", "diff", c, d], 1, "8. trace diff points at the first instruction whose result differs: the first RAND.");

    process.stdout.write("ftvm tour: deterministic record and replay, in eight commands (each is a real process).\n");
    for (const [expl, args, want] of steps) {
      say(expl);
      process.stdout.write(`$ ftvm ${args.map((x) => x.replace(dir, "$TMP")).join(" ")}\n`);
      const r = spawnSync(process.execPath, [...selfArgs(), ...args], { cwd: PACKAGE_DIR, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      const text = (r.stdout + r.stderr).replaceAll(dir, "$TMP");
      process.stdout.write(text.endsWith("\n") || text === "" ? text : text + "\n");
      process.stdout.write(`${dim(`(exit ${r.status})`)}\n`);
      if (r.status !== want) {
        process.stderr.write(`ftvm tour: expected exit ${want}, got ${r.status}; something is broken\n`);
        return EXIT_FAIL;
      }
    }
    say("That is the foundation of fault tolerance: a backup fed the primary's log executes the very same instructions.");
    process.stdout.write(`Files are in ${dir}. Next: ftvm --help, and programs/*.s (each says what it shows).\n`);
    return EXIT_OK;
  },
});
