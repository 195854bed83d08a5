// `ftvm replay`.
import { EXIT_FAIL, EXIT_OK, count, defineCommand } from "./args.js";
import { formatIcount, progress, progressWanted } from "../host/progress.js";
import { logEndIcount } from "../host/log-end.js";
import { runReplay } from "../host/replay.js";
import { DivergenceError } from "../replay/replay.js";

export const replayCommand = defineCommand({
  name: "replay",
  summary: "re-execute a recorded log and check it stays in step",
  args: [["<log>", "a log written by ftvm record"]],
  options: {
    trace: { flags: "--trace <file>", help: "write an execution trace of the replay (compare with ftvm trace diff)" },
    traceInterval: { flags: "--trace-interval <n>", help: "instructions between periodic trace records", parse: count(1), defaultText: "100000" },
    quiet: { flags: "--quiet", help: "do not print the guest's console output" },
    interpret: { flags: "--interpret", help: "use the reference interpreter instead of the compiled engine" },
  },
  run(values, positionals) {
    const logPath = positionals[0];
    // On a terminal: how far the replay is, the rate and the time left (a big log takes
    // minutes). In instructions when the log's end can be read first (its last icount);
    // otherwise in bytes of the log read.
    let bar: ReturnType<typeof progress> | undefined;
    const started = Date.now();
    const endIcount = progressWanted() ? logEndIcount(logPath) : undefined;
    const clearProgress = () => bar?.clear();
    let atLineStart = true;
    try {
      const res = runReplay({
        logPath,
        tracePath: values.trace as string | undefined,
        traceIntervalIcount: values.traceInterval as number | undefined,
        interpret: !!values.interpret,
        output: values.quiet
          ? () => undefined
          : (b) => {
              // The guest's output and the progress line may share the terminal: the line
              // goes first, and comes back only once the guest has ended its own line.
              bar?.clear();
              process.stdout.write(b);
              if (b.length > 0) atLineStart = b[b.length - 1] === 0x0a;
            },
        progress: (p) => {
          if (!atLineStart && process.stdout.isTTY) return;
          if (endIcount !== undefined && endIcount > 0) {
            bar ??= progress("replay", endIcount, "instructions", { amounts: "icount" });
            bar.update(p.icount);
          } else {
            bar ??= progress("replay", p.logBytes, "bytes", { amounts: "bytes" });
            const mips = p.icount / 1000 / Math.max(1, Date.now() - started);
            bar.update(p.logOffset, `icount ${formatIcount(p.icount)}, ${mips.toFixed(0)} MIPS`);
          }
        },
      });
      clearProgress();
      const traced = values.trace ? `; trace in ${values.trace}` : "";
      if (res.outcome === "cut-off") {
        process.stderr.write(
          `ftvm: ${logPath}: the log ends at offset ${res.offset} without an END mark (the recording was cut off); replayed ${res.events} events to icount ${res.icount}${traced}\n`,
        );
        return 2;
      }
      if (res.trap) {
        process.stderr.write(`ftvm: replayed ${res.events} events; the guest trapped as recorded: ${res.trap.kind} at pc ${res.trap.pc} (icount ${res.icount})${traced}\n`);
        return EXIT_FAIL;
      }
      const net = res.netBytes > 0 || res.netCloses > 0 ? `; the guest transmitted ${res.netBytes} network bytes and closed ${res.netCloses} connections` : "";
      process.stderr.write(`ftvm: replay matched the recording: ${res.events} events, ${res.icount} instructions, ended by ${res.reason}${net}${traced}\n`);
      return EXIT_OK;
    } catch (e) {
      clearProgress();
      if (e instanceof DivergenceError) {
        process.stderr.write(`ftvm: replay diverged: ${e.message}\n`);
        return EXIT_FAIL;
      }
      throw e;
    }
  },
});

