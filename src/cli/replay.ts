// `ftvm replay`.
import type { Command } from "./args.js";
import { EXIT_FAIL, EXIT_OK, UsageError, intOption, parse } from "./args.js";
import { runReplay } from "../host/replay.js";
import { DivergenceError } from "../replay/replay.js";

export const replayCommand: Command = {
  name: "replay",
  summary: "re-execute a recorded log and check it stays in step",
  usage: `usage: ftvm replay run.ftlog [options]

  --trace FILE          write an execution trace of the replay (compare with ftvm trace diff)
  --trace-interval N    instructions between periodic trace records (default 100000)
  --quiet               do not print the guest's console output
  --interpret           use the reference interpreter instead of the compiled engine`,
  run(argv) {
    const { values, positionals } = parse(
      argv,
      { trace: { type: "string" }, "trace-interval": { type: "string" }, quiet: { type: "boolean" }, interpret: { type: "boolean" } },
      this.usage,
    );
    if (values.help) {
      process.stdout.write(this.usage + "\n");
      return EXIT_OK;
    }
    if (positionals.length !== 1) throw new UsageError(`expected one log file, got ${positionals.length}\n\n${this.usage}`);
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
        traceIntervalIcount: intOption(values["trace-interval"] as string | undefined, "trace-interval", 1),
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
};

