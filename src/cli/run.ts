// `ftvm run` and `ftvm record`.
import type { OptionDefs } from "./args.js";
import { EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, count, defineCommand, hostPort, need, size } from "./args.js";
import { runLive } from "../host/live.js";
import { loadProgram, resolveProgram } from "../host/program.js";
import { describeTrap } from "./describe.js";
import { early, releaseEarlySigint } from "./early.js";

/** Options of run and record (and, for recording, of debug). */
export const LIVE_OPTIONS = {
  maxIcount: { flags: "--max-icount <n>", help: "stop after N instructions", parse: count() },
  mem: { flags: "--mem <size>", help: "data memory size (a multiple of 4KiB)", parse: size, defaultText: "1MiB" },
  stack: { flags: "--stack <size>", help: "stack region at the top of memory", parse: size, defaultText: "64KiB" },
  trace: { flags: "--trace <file>", help: "write an execution trace (state after every event and every interval)" },
  traceInterval: { flags: "--trace-interval <n>", help: "instructions between periodic trace records", parse: count(1), defaultText: "100000" },
  hostId: { flags: "--host-id <n>", help: "the value HOSTID returns", parse: count(), defaultText: "derived from the host name" },
  stdin: { flags: "--no-stdin", help: "do not feed stdin to the console" },
  interpret: { flags: "--interpret", help: "use the reference interpreter instead of the compiled engine" },
  disk: { flags: "--disk <image>", help: "attach a disk image (make one with ftvm disk create)" },
  listen: { flags: "--listen <[host:]port>", help: "serve the guest's network card on a TCP port (port 0 picks a free one, printed on stderr)", parse: hostPort },
  unloggedRand: { flags: "--unlogged-rand", help: "UNSAFE: RAND reads randomness without logging it, so replay diverges (to demonstrate trace diff)" },
} satisfies OptionDefs;

const PROGRAM: [string, string][] = [["<prog>", "a program: assembly (.s), an image (.ftb), or the name of a bundled one (hello, ticker, ...)"]];

export const runCommand = defineCommand({
  name: "run",
  summary: "run a program live (stdin → console input, console output → stdout)",
  args: PROGRAM,
  options: LIVE_OPTIONS,
  run: (v, args) => live(v, args[0], undefined),
});

export const recordCommand = defineCommand({
  name: "record",
  summary: "run a program live and record every nondeterministic event to a log",
  args: PROGRAM,
  options: { out: { flags: "-o, --out <file>", help: "the log file to write (required)" }, ...LIVE_OPTIONS },
  run: (v, args) => live(v, args[0], need<string>(v, "out", "--out")),
});

async function live(v: Record<string, unknown>, programName: string, out: string | undefined): Promise<number> {
  const record = out !== undefined;
  const program = resolveProgram(programName);
  const image = loadProgram(program);
  const tracePath = v.trace as string | undefined;
  const listen = v.listen as { host: string; port: number } | undefined;
  const res = await runLive({
    program,
    image,
    memBytes: v.mem as number | undefined,
    stackBytes: v.stack as number | undefined,
    maxIcount: v.maxIcount as number | undefined,
    logPath: out,
    tracePath,
    traceIntervalIcount: v.traceInterval as number | undefined,
    unloggedRand: v.unloggedRand === true,
    hostId: v.hostId as number | undefined,
    interpret: v.interpret === true,
    diskPath: v.disk as string | undefined,
    stdin: v.stdin === false ? undefined : process.stdin,
    output: (b) => process.stdout.write(b),
    listen,
    interruptedBeforeStart: () => {
      releaseEarlySigint();
      return early.interrupted;
    },
    onListening: (a) => process.stderr.write(`ftvm: listening on ${a.host}:${a.port}\n`),
  });
  if (res.diskError) process.stderr.write(`ftvm: a disk request failed on the host (the guest saw DISK_E_IO): ${res.diskError}\n`);
  const what = record ? `recorded ${res.events} events (${res.logBytes} bytes) to ${out}` : `ran`;
  const traced = tracePath ? `; trace: ${res.traceRecords} records in ${tracePath}` : "";
  switch (res.reason) {
    case "halted":
      if (record || tracePath) process.stderr.write(`ftvm: ${what}; halted at icount ${res.icount} (run ${res.runMs.toFixed(1)} ms, cpu ${res.cpuMs.toFixed(1)} ms)${traced}\n`);
      return EXIT_OK;
    case "max-icount":
      process.stderr.write(`ftvm: ${what}; stopped at --max-icount ${res.icount}${traced}\n`);
      return EXIT_OK;
    case "interrupted":
      process.stderr.write(`\nftvm: interrupted at icount ${res.icount}; ${record ? what + " (a complete log)" : "stopped"}${traced}\n`);
      return EXIT_INTERRUPTED;
    case "deadlock":
      process.stderr.write(`ftvm: ${what}; the guest waits for an interrupt that cannot come (timer off, input ended) at icount ${res.icount}${traced}\n`);
      return EXIT_FAIL;
    case "trapped":
      process.stderr.write(`ftvm: ${describeTrap(image, res.trap!)}\n`);
      if (record) process.stderr.write(`ftvm: ${what}${traced}\n`);
      return EXIT_FAIL;
  }
}
