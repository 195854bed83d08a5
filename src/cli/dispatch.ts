// The ftvm command (entered through main.ts): dispatches to subcommands and turns operating errors (bad
// arguments, bad input files, refused connections: every OperatingError) into one
// `ftvm: ...` line with its exit code (src/cli/report.ts). Programmer errors still fail
// loudly; FTVM_DEBUG=1 prints their stack trace.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_DIR } from "../host/self.js";
import { Command as Commander } from "commander";
import type { Command } from "./args.js";
import { EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, runCommander } from "./args.js";
import { early, releaseEarlySigint } from "./early.js";
import { installLastResort, reportError } from "./report.js";

/**
 * Every command, by name, loaded only when run: `ftvm run` does not load the launcher,
 * the simulator or the debugger (start-up time is paid per command, not for all).
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import("./run.js")).runCommand,
  record: async () => (await import("./run.js")).recordCommand,
  replay: async () => (await import("./replay.js")).replayCommand,
  debug: async () => (await import("./debug.js")).debugCommand,
  trace: async () => (await import("./trace.js")).traceCommand,
  asm: async () => (await import("./asm.js")).asmCommand,
  disasm: async () => (await import("./asm.js")).disasmCommand,
  ft: async () => (await import("./ft.js")).ftCommand,
  crash: async () => (await import("./crash.js")).crashCommand,
  ps: async () => (await import("./ps.js")).psCommand,
  arbiter: async () => (await import("./hosts.js")).arbiterCommand,
  primary: async () => (await import("./hosts.js")).primaryCommand,
  backup: async () => (await import("./hosts.js")).backupCommand,
  switch: async () => (await import("./switch.js")).switchCommand,
  sim: async () => (await import("./sim.js")).simCommand,
  disk: async () => (await import("./disk.js")).diskCommand,
  demo: async () => (await import("./demo.js")).demoCommand,
  tour: async () => (await import("./tour.js")).tourCommand,
};

/** The package's version, from its package.json. */
export function version(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_DIR, "package.json"), "utf8")) as { version: string }).version;
}

const EXIT_CODES = `Exit codes: 0 ok; 1 guest trap, replay divergence or traces differ; 2 usage or input
error; 3 a host was refused, or its arbiter or primary is not there; 70 a bug in ftvm
(FTVM_DEBUG=1 prints its stack trace); 130 stopped by Ctrl-C (a log being recorded is
still complete and valid). Every error is one line starting "ftvm: ".

Units: sizes take binary suffixes (64KiB, 16MiB); counts are integers (1000000,
1_000_000, 1e6) or take a decimal suffix (k, M, G); times are in ms (options *-ms).`;

/** The top-level program: the commands' names and summaries (for help and "did you mean"), --version, --help. */
function program(summaries: Map<string, string>): Commander {
  const p = new Commander("ftvm")
    .description("ftvm: a fault-tolerant virtual machine emulator")
    .usage("<command> [options]   (ftvm <command> --help for each)")
    .version(version(), "-V, --version", "print the version")
    .helpOption("-h, --help", "show this help")
    .helpCommand(false)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: () => undefined, writeOut: (s) => process.stdout.write(s) })
    .addHelpText("after", `\n${EXIT_CODES}`);
  for (const name of Object.keys(COMMANDS)) p.command(name).description(summaries.get(name) ?? "");
  return p;
}

/** The top-level help, with every command's summary (this loads every command). */
async function topHelp(): Promise<string> {
  const summaries = new Map<string, string>();
  for (const [name, load] of Object.entries(COMMANDS)) summaries.set(name, (await load()).summary);
  return program(summaries).helpInformation() + `\n${EXIT_CODES}\n`;
}

// A reader that goes away (`ftvm run prog.s | head`) is not an error of ours: stop quietly.
// The same for the diagnostics on stderr (`ftvm ft prog.s 2>&1 | head`, or a test runner
// that died and left its hosts behind): unhandled, the write's EPIPE ended the process as
// "internal error (a bug in ftvm)", exit 70, though nothing in ftvm was wrong. The hosts
// of `ftvm ft` follow a launcher that stops so (--exit-with-parent). A command that has
// taken its closed output in hand (the launcher once its parent is gone: outside-stop.ts
// ignoreClosedOutput, so it still stops its cluster) goes on.
for (const s of [process.stdout, process.stderr])
  s.on("error", (e: NodeJS.ErrnoException) => {
    if (s.listenerCount("error") > 1) return;
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const load = name === undefined ? undefined : COMMANDS[name];
  // Ctrl-C while loading: stop now, except a recording, which still leaves a complete
  // (empty) log and hands SIGINT over itself once its own handler is in place (run.ts).
  if (name !== "record") releaseEarlySigint();
  if (early.interrupted && name !== "record") return EXIT_INTERRUPTED;
  try {
    if (name === undefined || name === "help" || name === "--help" || name === "-h") {
      process.stdout.write(await topHelp());
      return name ? EXIT_OK : EXIT_USAGE;
    }
    // Anything else that is no command (--version, a typo) goes to commander: it prints the
    // version, or refuses with the nearest command's name.
    if (!load) return await runCommander(program(new Map()), argv, () => EXIT_USAGE, "ftvm --help");
    return await (await load()).run(rest);
  } catch (e) {
    return reportError(e);
  }
}

installLastResort();
const code = await main(process.argv.slice(2));
// Let stdout drain before exiting (guest output may still be buffered in a pipe).
process.stdout.write("", () => process.exit(code));
