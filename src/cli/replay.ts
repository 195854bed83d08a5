// `ftvm replay`.
import { EXIT_FAIL, EXIT_OK, count, defineCommand } from "./args.js";
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
    const tty = process.stderr.isTTY;
    let progressShown = false;
    const clearProgress = () => {
      if (progressShown) process.stderr.write("\r\x1b[K");
      progressShown = false;
    };
    try {
      const res = runReplay({
        logPath,
        tracePath: values.trace as string | undefined,
        traceIntervalIcount: values.traceInterval as number | undefined,
        interpret: !!values.interpret,
        output: values.quiet ? () => undefined : (b) => process.stdout.write(b),
        progress: tty
          ? (line) => {
              process.stderr.write(`\r\x1b[K${line}`);
              progressShown = true;
            }
          : undefined,
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

