// `ftvm run` and `ftvm record`.
import type { Command } from "./args.js";
import { EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, UsageError, bytesOption, intOption, parse } from "./args.js";
import { runLive } from "../host/live.js";
import { loadProgram } from "../host/program.js";
import { describeTrap } from "./describe.js";
import { early, releaseEarlySigint } from "./early.js";

const COMMON = {
  "max-icount": { type: "string" },
  mem: { type: "string" },
  stack: { type: "string" },
  trace: { type: "string" },
  "trace-interval": { type: "string" },
  "host-id": { type: "string" },
  "unlogged-rand": { type: "boolean" },
  "no-stdin": { type: "boolean" },
  interpret: { type: "boolean" },
  disk: { type: "string" },
  listen: { type: "string" },
} as const;

const COMMON_HELP = `  --max-icount N        stop after N instructions (1M, 5e6 and 1_000_000 work)
  --mem SIZE            data memory size (default 1MiB; a multiple of 4KiB)
  --stack SIZE          stack region at the top of memory (default 64KiB)
  --trace FILE          write an execution trace (state after every event and every interval)
  --trace-interval N    instructions between periodic trace records (default 100000)
  --host-id N           the value HOSTID returns (default: derived from the host name)
  --no-stdin            do not feed stdin to the console
  --interpret           use the reference interpreter instead of the compiled engine
  --disk IMAGE          attach a disk image (make one with ftvm disk create)
  --listen [HOST:]PORT  serve the guest's network card on a TCP port (default host
                        127.0.0.1; port 0 picks a free one, printed on stderr)
  --unlogged-rand       UNSAFE: RAND reads randomness without logging it, so replay
                        diverges (to demonstrate trace diff)`;

export const runCommand: Command = {
  name: "run",
  summary: "run a program live (stdin → console input, console output → stdout)",
  usage: `usage: ftvm run <prog.s|prog.ftb> [options]\n\n${COMMON_HELP}`,
  run: (argv) => live(argv, false),
};

export const recordCommand: Command = {
  name: "record",
  summary: "run a program live and record every nondeterministic event to a log",
  usage: `usage: ftvm record <prog.s|prog.ftb> -o run.ftlog [options]\n\n  -o, --out FILE        the log file to write (required)\n${COMMON_HELP}`,
  run: (argv) => live(argv, true),
};

async function live(argv: string[], record: boolean): Promise<number> {
  const usage = record ? recordCommand.usage : runCommand.usage;
  const { values, positionals } = parse(argv, { ...COMMON, out: { type: "string", short: "o" } }, usage);
  if (values.help) {
    process.stdout.write(usage + "\n");
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError(`expected one program, got ${positionals.length}\n\n${usage}`);
  if (record && !values.out) throw new UsageError(`record needs -o FILE (the log to write)\n\n${usage}`);
  if (!record && values.out) throw new UsageError(`run does not write a log; use ftvm record -o FILE`);
  const program = positionals[0];
  const image = loadProgram(program);
  const useStdin = !values["no-stdin"];
  const listen = listenOption(values.listen as string | undefined);
  const res = await runLive({
    program,
    image,
    memBytes: bytesOption(values.mem as string | undefined, "mem"),
    stackBytes: bytesOption(values.stack as string | undefined, "stack"),
    maxIcount: intOption(values["max-icount"] as string | undefined, "max-icount"),
    logPath: values.out as string | undefined,
    tracePath: values.trace as string | undefined,
    traceIntervalIcount: intOption(values["trace-interval"] as string | undefined, "trace-interval", 1),
    unloggedRand: !!values["unlogged-rand"],
    hostId: intOption(values["host-id"] as string | undefined, "host-id"),
    interpret: !!values.interpret,
    diskPath: values.disk as string | undefined,
    stdin: useStdin ? process.stdin : undefined,
    output: (b) => process.stdout.write(b),
    listen,
    interruptedBeforeStart: () => {
      releaseEarlySigint();
      return early.interrupted;
    },
    onListening: (a) => process.stderr.write(`ftvm: listening on ${a.host}:${a.port}\n`),
  });
  if (res.diskError) process.stderr.write(`ftvm: a disk request failed on the host (the guest saw DISK_E_IO): ${res.diskError}\n`);
  const what = record ? `recorded ${res.events} events (${res.logBytes} bytes) to ${values.out}` : `ran`;
  const traced = values.trace ? `; trace: ${res.traceRecords} records in ${values.trace}` : "";
  switch (res.reason) {
    case "halted":
      if (record || values.trace) process.stderr.write(`ftvm: ${what}; halted at icount ${res.icount} (run ${res.runMs.toFixed(1)} ms, cpu ${res.cpuMs.toFixed(1)} ms)${traced}\n`);
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

/** Parses --listen [HOST:]PORT. */
export function listenOption(value: string | undefined): { host?: string; port: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^(?:(.+):)?(\d+)$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen takes [HOST:]PORT with a port 0..65535, got "${value}"`);
  return { host: m[1]?.replace(/^\[(.*)\]$/, "$1"), port };
}
