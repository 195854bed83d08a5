// The ftvm command (entered through main.ts): dispatches to subcommands and turns operating errors (bad
// arguments, bad input files, refused connections: every OperatingError) into one
// `ftvm: ...` line with its exit code (src/cli/report.ts). Programmer errors still fail
// loudly; FTVM_DEBUG=1 prints their stack trace.
import type { Command } from "./args.js";
import { EXIT_OK, EXIT_USAGE, UsageError } from "./args.js";
import { asmCommand, disasmCommand } from "./asm.js";
import { replayCommand } from "./replay.js";
import { recordCommand, runCommand } from "./run.js";
import { traceCommand } from "./trace.js";
import { tourCommand } from "./tour.js";
import { ftCommand } from "./ft.js";
import { arbiterCommand, backupCommand, primaryCommand } from "./hosts.js";
import { switchCommand } from "./switch.js";
import { crashCommand } from "./crash.js";
import { demoCommand } from "./demo.js";
import { simCommand } from "./sim.js";
import { diskCommand } from "./disk.js";
import { debugCommand } from "./debug.js";
import { installLastResort, reportError } from "./report.js";
import { EXIT_INTERRUPTED } from "./args.js";
import { early, releaseEarlySigint } from "./early.js";

const COMMANDS: Command[] = [
  runCommand,
  recordCommand,
  replayCommand,
  debugCommand,
  traceCommand,
  asmCommand,
  disasmCommand,
  ftCommand,
  crashCommand,
  arbiterCommand,
  primaryCommand,
  backupCommand,
  switchCommand,
  simCommand,
  diskCommand,
  demoCommand,
  tourCommand,
];

const HELP = `ftvm — a fault-tolerant virtual machine emulator

usage: ftvm <command> [options]      (ftvm <command> --help for each)

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(8)} ${c.summary}`).join("\n")}

exit codes: 0 ok; 1 guest trap, replay divergence or traces differ; 2 usage or input
error; 3 a host was refused, or its arbiter or primary is not there; 70 a bug in ftvm
(FTVM_DEBUG=1 prints its stack trace); 130 stopped by Ctrl-C (a log being recorded is
still complete and valid). Every error is one line starting "ftvm: ".
`;

// A reader that goes away (`ftvm run prog.s | head`) is not an error of ours: stop quietly.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(HELP);
    return name ? EXIT_OK : EXIT_USAGE;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  // Ctrl-C while loading: stop now, except a recording, which still leaves a complete
  // (empty) log and hands SIGINT over itself once its own handler is in place (run.ts).
  if (name !== "record") releaseEarlySigint();
  if (early.interrupted && name !== "record") return EXIT_INTERRUPTED;
  try {
    if (!cmd) throw new UsageError(`unknown command "${name}"\n\n${HELP}`);
    return await cmd.run(rest);
  } catch (e) {
    return reportError(e);
  }
}

installLastResort();
const code = await main(process.argv.slice(2));
// Let stdout drain before exiting (guest output may still be buffered in a pipe).
process.stdout.write("", () => process.exit(code));
