// The ftvm command: dispatches to subcommands and turns operating errors (bad
// arguments, bad input files) into clear messages with exit code 2. Programmer errors
// still crash with a stack trace: assertions stay on.
import { AsmError } from "../asm/errors.js";
import { DeviceStateError } from "../devices/device.js";
import { FormatError } from "../trace/framing.js";
import { ImageError } from "../vm/image.js";
import { MachineConfigError } from "../vm/machine.js";
import { StateError } from "../vm/snapshot.js";
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
import { DiskImageError } from "../host/disk.js";
import { HostError } from "../host/errors.js";

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
error; 130 stopped by Ctrl-C (a log being recorded is still complete and valid).
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
  try {
    if (!cmd) throw new UsageError(`unknown command "${name}"\n\n${HELP}`);
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError || e instanceof AsmError || e instanceof ImageError || e instanceof FormatError || e instanceof StateError || e instanceof DeviceStateError || e instanceof DiskImageError || e instanceof MachineConfigError) {
      process.stderr.write(`ftvm: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof HostError) {
      process.stderr.write(`ftvm: ${e.message}\n`);
      return e.exitCode;
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EACCES" || code === "EISDIR" || code === "EADDRINUSE" || code === "EADDRNOTAVAIL" || code === "ENOTFOUND") {
      process.stderr.write(`ftvm: ${(e as Error).message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

const code = await main(process.argv.slice(2));
// Let stdout drain before exiting (guest output may still be buffered in a pipe).
process.stdout.write("", () => process.exit(code));
